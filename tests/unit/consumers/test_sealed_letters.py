"""Sealed dead letters without a broker: which key, where the headers go, what opens."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Collection

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consumers.runtime.deadletters import ORIGINAL_HEADERS, original_of
from consumers.sealed_letters import (
    DROPPED,
    KID,
    SEALED,
    kids_of,
    open_value,
    platform_key_id,
    seal_letters,
    volunteer_named,
)
from infra.bus import Outgoing
from infra.keys import DataKey

TOPIC = "tatawwu.deadletter"
DAY = dt.date(2026, 11, 30)


class FakeKeys:
    """Keys in memory; `erased` volunteers have none (as `infra.keys` after `destroy`)."""

    def __init__(self, erased: Collection[str] = ()) -> None:
        self.erased, self.made = set(erased), {}

    async def keys_for(self, volunteer_ids: Collection[str]) -> dict[str, DataKey]:
        for v in set(volunteer_ids) - self.erased - set(self.made):
            self.made[v] = DataKey(f"kid-{v}", v, AESGCM(os.urandom(32)))
        return {v: self.made[v] for v in volunteer_ids if v in self.made}


def letter(
    value: bytes, original: list[tuple[str, bytes]] = (), key: bytes | None = None
) -> Outgoing:
    headers = [("projector", b"router"), ("error", b"source"), ("original_topic", b"in"),
               ("original_partition", b"0"), ("original_offset", b"7")]  # fmt: skip
    if original:
        headers += [(ORIGINAL_HEADERS, str(len(original)).encode()), *original]
    return Outgoing(TOPIC, key, value, headers, content_type=None)


def registration(volunteer: str) -> bytes:
    return orjson.dumps({"type": "volunteer.registered", "subject": volunteer,
                         "data": {"volunteer_id": volunteer, "email": "a@b.qa"}})  # fmt: skip


def test_the_volunteer_a_record_names_is_read_leniently() -> None:
    """Structured or binary, valid or not; ids that no volunteer can have name nobody."""
    assert volunteer_named(registration("v-1"), []) == "v-1"
    signup = orjson.dumps({"type": "volunteer.signed_up", "subject": "v-2", "data": "junk"})
    assert volunteer_named(signup, []) == "v-2"
    binary = orjson.dumps({"volunteer_id": "v-3"})
    assert volunteer_named(binary, [("ce_type", b"volunteer.checked_in")]) == "v-3"
    assert volunteer_named(b"{not json", []) is None
    assert volunteer_named(orjson.dumps({"type": "campaign.launched", "subject": "c"}), []) is None
    assert volunteer_named(registration("~deadletters/2026-11-30"), []) is None


def test_a_broken_records_bytes_are_searched_for_the_volunteer() -> None:
    """Cut short or mangled, a record still names its volunteer by the same two names."""
    assert volunteer_named(registration("v-4")[:-3], []) == "v-4"  # the closing braces lost
    typed = b'{"type": "volunteer.profile_updated", "subject": "v-5", "data": {"phone": "+97'
    assert volunteer_named(typed, []) == "v-5"
    other = b'{"type": "campaign.launched", "subject": "c-1", "data": {'
    assert volunteer_named(other, []) is None  # a subject, but no volunteer's
    assert volunteer_named(b'garbage "volunteer_id": "~deadletters/x"', []) is None


async def test_a_letter_is_sealed_with_its_volunteers_key_and_opens_only_in_place() -> None:
    """The volunteer's key; the added headers before the original record's, which stay
    exact; the payload opens under its own origin only."""
    keys = FakeKeys()
    original = [("x-trace", b"t")]
    other = Outgoing("tatawwu.volunteers", b"v-1", b"{}")
    [sealed, untouched] = await seal_letters(keys, [letter(registration("v-1"), original), other])
    assert untouched is other
    assert b"a@b.qa" not in sealed.value
    own, kept = original_of(sealed.headers)
    assert kept == original
    assert (own[SEALED], own[KID]) == (b"volunteer", b"kid-v-1")
    found = {k.kid: k for k in keys.made.values()}
    assert open_value(own, sealed.value, found) == registration("v-1")
    moved = own | {"original_offset": b"8"}
    assert open_value(moved, sealed.value, found) is None
    assert open_value(own, sealed.value, {}) is None  # the key destroyed


async def test_a_record_naming_nobody_gets_the_days_platform_key() -> None:
    """A record that parses and names no volunteer, or a broken one without a key."""
    keys = FakeKeys()
    campaign = orjson.dumps({"type": "campaign.launched", "subject": "c-1"})
    for value, key in ((campaign, b"c-1"), (b"{oops", None), (b"{oops", b"not an id!")):
        [sealed] = await seal_letters(keys, [letter(value, key=key)], today=DAY)
        own, _ = original_of(sealed.headers)
        assert own[SEALED] == b"platform"
        assert own[KID] == keys.made[platform_key_id(DAY)].kid.encode()


async def test_a_broken_record_keyed_by_an_id_opens_only_while_both_keys_live() -> None:
    """Nothing readable names a volunteer, but the Kafka key may be one: sealed with that
    id's key and the day's, an erasure of that volunteer or the platform key's purge each
    end it, and neither key alone opens it."""
    keys = FakeKeys()
    broken = b'\x00\x01 "email": "a@b.qa", "pho'
    [sealed] = await seal_letters(keys, [letter(broken, key=b"v-7")], today=DAY)
    own, _ = original_of(sealed.headers)
    assert b"a@b.qa" not in sealed.value
    assert own[SEALED] == b"volunteer+platform"
    volunteer, platform = keys.made["v-7"], keys.made[platform_key_id(DAY)]
    assert own[KID] == f"{volunteer.kid} {platform.kid}".encode()
    both = {volunteer.kid: volunteer, platform.kid: platform}
    assert open_value(own, sealed.value, both) == broken
    assert open_value(own, sealed.value, {volunteer.kid: volunteer}) is None
    assert open_value(own, sealed.value, {platform.kid: platform}) is None
    assert kids_of([own]) == {volunteer.kid, platform.kid}
    erased = FakeKeys(erased={"v-7"})
    [dropped] = await seal_letters(erased, [letter(broken, key=b"v-7")], today=DAY)
    assert dropped.value == b""
    assert original_of(dropped.headers)[0][DROPPED] == b"volunteer_erased"


async def test_an_erased_volunteers_record_keeps_no_payload() -> None:
    keys = FakeKeys(erased={"v-9"})
    [dropped] = await seal_letters(keys, [letter(registration("v-9"))], today=DAY)
    own, _ = original_of(dropped.headers)
    assert dropped.value == b""
    assert own[DROPPED] == b"volunteer_erased"
    assert open_value(own, dropped.value, {}) is None


def test_a_letter_never_sealed_reads_as_it_is() -> None:
    """Projectors' letters (and letters from before sealing) have no key header."""
    assert open_value({"error": b"x"}, b"raw", {}) == b"raw"
