"""Local Kafka cluster ids never start with "-" (the format command would take it for an option)."""

from __future__ import annotations

import re
import uuid

import pytest

from infra.local import kafka


def test_cluster_ids_are_22_url_safe_characters_never_starting_with_a_dash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first random draw encodes to an id starting with "-" (0xf8 -> "-"): it is skipped.
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(int=42)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    assert kafka._random_cluster_id() == "AAAAAAAAAAAAAAAAAAAAKg"
    monkeypatch.undo()
    ids = [kafka._random_cluster_id() for _ in range(2000)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) and not i.startswith("-") for i in ids)
