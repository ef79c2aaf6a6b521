"""Read models declared from parts: what the parts derive, and the registry's type names."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from consumers import parts
from consumers.notifications import build_projector
from consumers.participations import PARTICIPATION_TYPES, UpsertBuilder
from infra.settings import PROJECT_ROOT, Settings
from schemas.campaigns import CampaignLaunched
from schemas.registry import CURRENT, UnknownEventType, type_of, types_of
from schemas.volunteers import VolunteerRegistered, VolunteerRegisteredV1
from tatawwu.manifest import PROJECTORS

READ_MODELS = ("campaigns", "volunteers", "organizations", "participation", "notifications")
EVENT_TYPE = re.compile(r"^(volunteer|opportunity|campaign|organization|notification)\.[a-z_]+$")


def all_projectors() -> dict[str, Any]:
    return {**PROJECTORS, "notifications": build_projector(Settings())}


def test_type_of_names_the_type_of_a_payload_class() -> None:
    """A payload class, current or older version, names its event type."""
    assert type_of(CampaignLaunched) == "campaign.launched"
    assert type_of(VolunteerRegistered) == type_of(VolunteerRegisteredV1)
    assert types_of(CampaignLaunched, VolunteerRegistered) == {
        "campaign.launched",
        "volunteer.registered",
    }
    assert {type_of(spec.model) for spec in CURRENT.values()} == set(CURRENT)


def test_type_of_refuses_a_class_that_is_no_payload() -> None:
    """Anything else is a clear error, not a made-up type."""
    with pytest.raises(UnknownEventType, match="Settings"):
        type_of(Settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", READ_MODELS)
def test_every_read_model_has_the_same_shape(name: str) -> None:
    """rules.py, projector.py and sql/ in each package; the declaration keeps its name."""
    package = PROJECT_ROOT / "consumers" / name
    assert (package / "rules.py").is_file()
    assert (package / "projector.py").is_file()
    assert any((package / "sql").glob("*.sql"))
    assert all_projectors()[name].name == name


@pytest.mark.parametrize("name", READ_MODELS)
def test_migrations_keep_their_recorded_names_and_order(name: str) -> None:
    """Shared parts first, the read model's own last; components and files as recorded."""
    migrations = all_projectors()[name].migrations
    assert [m.component for m in migrations] == ["history", "participations", name]
    root = PROJECT_ROOT / "consumers"
    assert [m.directory for m in migrations] == [
        root / "sql_history",
        root / "sql_participations",
        root / name / "sql",
    ]


@pytest.mark.parametrize("name", READ_MODELS)
def test_topics_cover_every_handled_type(name: str) -> None:
    """The derived topics carry every type the read model handles."""
    projector = all_projectors()[name]
    assert {CURRENT[t].topic.name for t in projector.event_types} <= set(projector.topics)
    assert projector.event_types >= PARTICIPATION_TYPES


def test_only_the_notifier_folds_participations_in_its_transaction() -> None:
    """The read models precompute the participation upsert; the notifier never has."""
    projectors = all_projectors()
    assert projectors.pop("notifications").precompute is None
    assert {p.precompute for p in projectors.values()} == {UpsertBuilder}


async def test_parts_apply_in_order_and_only_the_precomputing_part_gets_the_result() -> None:
    """One apply runs every hook in declaration order; the precomputed value goes to its owner."""
    calls: list[tuple[str, Any]] = []

    def hook(name: str) -> parts.Hook:
        async def apply(conn: Any, events: Any, prepared: Any) -> None:
            calls.append((name, prepared))

        return apply

    first = parts.rules("first", {type_of(CampaignLaunched)}, hook("first"))
    second = parts.Part("second", PARTICIPATION_TYPES, hook("second"), precompute=UpsertBuilder)
    projector = parts.read_model("demo", first, second, sql=Path("/nowhere"))
    await projector.apply(None, [], "rows")
    assert calls == [("first", None), ("second", "rows")]
    assert projector.event_types == first.event_types | PARTICIPATION_TYPES
    assert [m.component for m in projector.migrations] == ["demo"]


def test_a_read_model_refuses_two_precomputing_parts() -> None:
    """The runtime holds one accumulator per batch."""
    with pytest.raises(ValueError, match="at most one"):
        parts.read_model("demo", parts.participations(), parts.participations(), sql=Path("/x"))


def test_two_entities_cannot_claim_one_type() -> None:
    """Each stored event belongs to exactly one entity."""

    def fold(history: Any) -> dict[str, Any]:
        return {}

    a = parts.Entity("a", types_of(CampaignLaunched), fold, "a", {})
    b = parts.Entity("b", types_of(CampaignLaunched), fold, "b", {})
    with pytest.raises(ValueError, match="same event type"):
        parts.refold(a, b)


def _literals(path: Path) -> list[str]:
    """Event-type string literals in a module, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and EVENT_TYPE.match(node.value)
    ]


def test_consumers_name_event_types_through_the_registry() -> None:
    """No event type is spelled as a string in the consumers' Python code."""
    found = {
        str(path.relative_to(PROJECT_ROOT)): literals
        for path in sorted((PROJECT_ROOT / "consumers").rglob("*.py"))
        if (literals := _literals(path))
    }
    assert found == {}
