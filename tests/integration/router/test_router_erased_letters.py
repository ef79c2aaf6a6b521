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


@pytest.mark.xfail(
    strict=True,
    reason="consumers/sealed_letters.py: volunteer_named reads the volunteer from the value "
    "only; a record that is not JSON names nobody and is sealed with the platform's key of "
    "the day, so it stays readable for TATAWWU_DEADLETTER_KEEP_DAYS after an erasure "
    "(fix: fall back to the record's Kafka key, the subject partners key by)",
)
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
