"""Hostile records against a running projector process: it never stops, it goes on.

Hypothesis draws records from valid examples with fields replaced by hostile values
(instants out of range once in UTC, huge numbers, control and separator characters,
deep nesting, wrong types, unknown fields); each batch of them is followed, on the same
partition, by a fresh valid sign-up, which the process must apply.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from infra.db import connect
from infra.kafka import build_producer
from infra.settings import Settings
from schemas.examples import example
from schemas.registry import EVENT_TYPES
from tests.support.events import event, known_fields
from tests.support.projectors import create_prefixed_topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

ORG, CAMPAIGN, OPPORTUNITY, VOLUNTEER = "org-p", "cmp-p", "opp-p", "vol-p"
HOSTILE_VALUES = st.one_of(
    st.sampled_from([
        "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-02-30T00:00:00Z",
        "2026-05-01T10:00:00", "\u2028", "a\u0085b", "\u202etxt", "\x00", "", " ",
        10**40, -(10**40), 1e308, -0.0, True, None, [], {}, "x" * 70_000,
    ]),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.recursive(st.none(), lambda inner: st.lists(inner, max_size=2), max_leaves=40),
)  # fmt: skip


@st.composite
def hostile_record(draw: st.DrawFn) -> bytes:
    """A valid example with one to three of its fields (envelope or data) made hostile."""
    event_type = draw(st.sampled_from(EVENT_TYPES))
    document = example(event_type)
    document["id"] = f"h-{draw(st.integers(0, 10**9))}"
    for _ in range(draw(st.integers(1, 3))):
        data = document["data"]
        target = data if isinstance(data, dict) and draw(st.booleans()) else document
        key = draw(st.sampled_from([*sorted(target), "unknown_field"]))
        target[key] = draw(HOSTILE_VALUES)
    return json.dumps(document).encode()  # stdlib: big integers and -0.0 as written


def fact(event_type: str, event_id: str, **data: Any) -> dict[str, Any]:
    """A valid example event from `partner/<ORG>` at one fixed time, the ids given laid over it."""
    fields = known_fields(event_type, data)
    return event(event_type, event_id, "2026-05-01T10:00:00Z", source=f"partner/{ORG}", **fields)


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


class Running:
    """One `tatawwu projections run campaigns` process on the test's topics."""

    def __init__(self, settings: Settings, prefix: str, schema: str, log: Path) -> None:
        self.settings, self.prefix, self.schema, self.log = settings, prefix, schema, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.producer: Any = None
        self.sent = 0

    async def send(self, topic: str, value: bytes, key: bytes) -> None:
        await self.producer.send_and_wait(self.prefix + topic, value, key=key)


@pytest.fixture(scope="module")
async def running(
    stack: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    unique = os.urandom(5).hex()
    prefix, schema = f"hrp.{unique}.", f"hrp_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    log = tmp_path_factory.mktemp("hrp") / "campaigns.log"
    run = Running(stack, prefix, schema, log)
    run.producer = build_producer(stack)
    await run.producer.start()
    for document in (
        fact("campaign.launched", "p-1", campaign_id=CAMPAIGN, org_id=ORG),
        fact("opportunity.published", "p-2", campaign_id=CAMPAIGN, opportunity_id=OPPORTUNITY),
    ):
        await run.send("tatawwu.campaigns", orjson.dumps(document), CAMPAIGN.encode())
    env = {**os.environ, "TATAWWU_LOG_FORMAT": "json"}
    cmd = [sys.executable, "-m", "tatawwu", "projections", "run", "campaigns", "--topic-prefix",
           prefix, "--schema", schema, "--group-id", f"g-{schema}"]  # fmt: skip
    run.proc = await asyncio.to_thread(_start, cmd, env, log)
    for _ in range(600):  # started: migrations applied, group joined, positioned
        if '"partitions_positioned"' in log.read_text() or run.proc.poll() is not None:
            break
        await asyncio.sleep(0.1)
    try:
        yield run
    finally:
        run.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(run.proc.wait, 30)
        await run.producer.stop()
        assert code == 0, log.read_text()[-3000:]


@settings(
    max_examples=12,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a failure is printed, not shrunk
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(records=st.lists(hostile_record(), min_size=1, max_size=4))
async def test_a_running_projector_outlives_any_record_and_applies_the_next(
    running: Running, records: list[bytes]
) -> None:
    """Hostile records on a partition, then a valid sign-up on it: applied, process alive."""
    running.sent += 1
    volunteer = f"{VOLUNTEER}-{running.sent}"
    for value in records:
        await running.send("tatawwu.signups", value, volunteer.encode())
    marker = fact("volunteer.signed_up", f"m-{running.sent}", campaign_id=CAMPAIGN,
                  opportunity_id=OPPORTUNITY, volunteer_id=volunteer)  # fmt: skip
    await running.send("tatawwu.signups", orjson.dumps(marker), volunteer.encode())
    conn = await connect(running.settings)
    try:
        for _ in range(300):
            assert running.proc is not None
            assert running.proc.poll() is None, running.log.read_text()[-3000:]
            if await conn.fetchval("select to_regclass($1)", f'"{running.schema}".participations'):
                applied = await conn.fetchval(
                    f'select count(*) from "{running.schema}".participations'
                    " where volunteer_id = $1",
                    volunteer,
                )
                if applied:
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(
                f"the sign-up after the hostile records was not applied: {records}"
            )
        dead = await conn.fetchval(f'select count(*) from "{running.schema}"._deadletters')
        assert dead >= 1 or len(records) == 0
    finally:
        await conn.close()
