"""Partner keys: shape, hashing, constant-time verification, and the verifier's cache."""

from __future__ import annotations

from typing import Any

import pytest

from producers.gateway.keys import (
    MalformedKey,
    hash_secret,
    issue_key,
    parse_key,
    secret_matches,
)
from producers.gateway.partners import KeyVerifier


def test_an_issued_key_parses_back_to_its_id_and_a_secret_matching_the_stored_hash() -> None:
    """The full key carries the id and a secret whose SHA-256 is what gets stored."""
    issued = issue_key()
    key_id, secret = parse_key(issued.key)
    assert key_id == issued.key_id
    assert issued.secret_hash == hash_secret(secret)
    assert secret not in issued.secret_hash
    assert secret_matches(secret, issued.secret_hash)


def test_keys_are_random() -> None:
    """Two keys never share an id or a secret."""
    keys = [issue_key() for _ in range(50)]
    assert len({k.key_id for k in keys}) == 50
    assert len({k.secret_hash for k in keys}) == 50


def test_a_wrong_secret_does_not_match() -> None:
    """Changing one character of the secret fails verification."""
    issued = issue_key()
    _, secret = parse_key(issued.key)
    other = ("A" if secret[0] != "A" else "B") + secret[1:]
    assert not secret_matches(other, issued.secret_hash)


@pytest.mark.parametrize(
    "text",
    ["", "tw_", "Bearer tw_abc", "tw_0123456789ab", "tw_0123456789ab_short", "xx_" + "a" * 60],
)
def test_strings_not_shaped_like_keys_are_malformed(text: str) -> None:
    """Anything but tw_<12 hex>_<43 url-safe chars> is refused before any lookup."""
    with pytest.raises(MalformedKey):
        parse_key(text)


class FakeKeys:
    """Stands in for the pool: one table of keys, counts lookups."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.lookups = 0

    async def fetchrow(self, _sql: str, key_id: str, **_: Any) -> dict[str, Any] | None:
        self.lookups += 1
        row = self.rows.get(key_id)
        return None if row is None or row["revoked"] else row


async def test_the_verifier_caches_good_keys_for_its_ttl_only() -> None:
    """A verified key is not looked up again within the TTL, and is after it."""
    db, now = FakeKeys(), [0.0]
    issued = issue_key()
    db.rows[issued.key_id] = {"org_id": "org-a", "is_admin": False,
                              "secret_hash": issued.secret_hash, "revoked": False}  # fmt: skip
    verifier = KeyVerifier(db, ttl=2.0, clock=lambda: now[0])  # type: ignore[arg-type]
    principal = await verifier.verify(issued.key)
    assert principal is not None
    assert (principal.key_id, principal.org_id, principal.is_admin) == (
        issued.key_id,
        "org-a",
        False,
    )
    await verifier.verify(issued.key)
    assert db.lookups == 1
    db.rows[issued.key_id]["revoked"] = True
    now[0] = 2.5
    assert await verifier.verify(issued.key) is None
    assert db.lookups == 2


async def test_the_verifier_refuses_a_wrong_secret_even_when_cached() -> None:
    """A cached key id does not let a different secret through."""
    db = FakeKeys()
    issued = issue_key()
    db.rows[issued.key_id] = {"org_id": "org-a", "is_admin": True,
                              "secret_hash": issued.secret_hash, "revoked": False}  # fmt: skip
    verifier = KeyVerifier(db, ttl=60)  # type: ignore[arg-type]
    assert await verifier.verify(issued.key) is not None
    forged = issued.key[:-1] + ("A" if issued.key[-1] != "A" else "B")
    assert await verifier.verify(forged) is None
    assert await verifier.verify("tw_not-a-key") is None
