"""Imports point one way: schemas < infra < producers, consumers < tatawwu < tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A package may import its own layer and those below it, never one above.
LAYERS = {"schemas": 0, "infra": 1, "producers": 2, "consumers": 2, "tatawwu": 3, "tests": 4}
SIBLINGS = {"producers": "consumers", "consumers": "producers"}  # same layer, kept apart


def imported_packages(package: str, path: Path) -> set[str]:
    """The top-level packages a module imports (anywhere in it, lazy imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            # A relative import stays inside the module's own package.
            found.add(package if node.level else (node.module or "").split(".")[0])
    return found


def violations(package: str, path: Path) -> list[str]:
    """Each import of a module of package that runs up the layers, sideways or into the tests."""
    return [
        f"{package} imports {imported}"
        for imported in sorted(imported_packages(package, path) & LAYERS.keys())
        if LAYERS[imported] > LAYERS[package] or imported == SIBLINGS.get(package)
    ]


def application_modules() -> list[Path]:
    """Every module outside the tests, in the packages that have a layer."""
    return sorted(
        path
        for package in LAYERS.keys() - {"tests"}
        for path in (ROOT / package).rglob("*.py")
        if ".venv" not in path.parts
    )


def test_no_module_imports_a_layer_above_it_or_its_sibling() -> None:
    """Walking every module with ast: infra never imports producers, consumers or the app."""
    modules = application_modules()
    assert len(modules) > 50, "the walk found too few modules: is ROOT right?"
    wrong = [
        f"{path.relative_to(ROOT)}: {v}"
        for path in modules
        for v in violations(path.relative_to(ROOT).parts[0], path)
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("infra", "from consumers.runtime import Projector", ["imports consumers"]),
        ("infra", "def f():\n    import tatawwu.cli", ["imports tatawwu"]),
        ("schemas", "import infra.settings", ["imports infra"]),
        ("producers", "from consumers import history", ["imports consumers"]),
        ("consumers", "from tests.support import truth", ["imports tests"]),
        ("consumers", "from infra.db import connect\nfrom . import history", []),
        ("tatawwu", "import consumers, producers, infra, schemas", []),
    ],
)
def test_the_check_catches_an_import_that_runs_up(
    tmp_path: Path, package: str, source: str, expected: list[str]
) -> None:
    """A module with a bad import is reported; a good one is not."""
    module = tmp_path / "probe.py"
    module.write_text(source + "\n")
    assert [v.split(" ", 1)[1] for v in violations(package, module)] == expected
