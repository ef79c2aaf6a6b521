"""A dead letter about a volunteer becomes unreadable when they are erased, even when the
partner's record is too broken to read the volunteer from (found by the end-to-end
erasure test's search: `tests/integration/projectors/test_erasure_end_to_end.py`)."""

from __future__ import annotations

import pytest

from infra import erasure
from infra.settings import Settings
from tests.support.personal import needles, opened_letters, personal_values
from tests.support.router import (
    as_raw,
    create_ingress,
    partner_event,
    produce,
    running_router,
    wait_routed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_a_truncated_registration_keyed_by_the_volunteer_is_unreadable_after_erasure(
    stack: Settings, prefix: str, unique: str
) -> None:
    """A registration cut short (not JSON) but keyed by its volunteer: dead-lettered, it
    opens to their name and phone; once they are erased it opens no more."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    values = personal_values(unique)
    key, value, _ = as_raw(partner_event(org, "volunteer.registered", 0, unique, **values))
    await produce(stack, topic, [(key, value[:-3], [])])  # the closing braces lost
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 60)
    [letter] = await opened_letters(stack, prefix + "tatawwu.deadletter")
    assert letter is not None
    assert all(n in letter for n in needles(values))
    await erasure.erase(stack, [key.decode()], topic_prefix=prefix)
    assert await opened_letters(stack, prefix + "tatawwu.deadletter") == [None]


async def test_a_mangled_record_keyed_by_the_volunteer_is_unreadable_after_erasure(
    stack: Settings, prefix: str, unique: str
) -> None:
    """Nothing in the bytes names anyone (the ids lost), but the partner keyed the record
    by its volunteer: sealed with their key and the day's, it opens to their phone until
    they are erased, then no more."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    values = personal_values(unique)
    key, value, _ = as_raw(partner_event(org, "volunteer.registered", 0, unique, **values))
    mangled = b"\x00" + value[value.index(b'"phone"') :]  # the head, with every id, lost
    assert key.decode().encode() not in mangled
    await produce(stack, topic, [(key, mangled, [])])
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 60)
    [letter] = await opened_letters(stack, prefix + "tatawwu.deadletter")
    assert letter is not None
    assert values["phone"].encode() in letter
    await erasure.erase(stack, [key.decode()], topic_prefix=prefix)
    assert await opened_letters(stack, prefix + "tatawwu.deadletter") == [None]
