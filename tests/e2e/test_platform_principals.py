"""The whole platform as `tatawwu platform run` starts it, each service as its own principal.

On the secured local stack the supervisor gives every child its own Kafka principal
(`infra.local.principals`): the gateway, the router, the projectors, the notifier and the
read API may each do only what their ACLs allow. A direct partner publishes its sample
world to its ingress topic as `partner-<org>` (what `make demo` shows); the router
forwards it and the projectors show it; a gateway partner's event lands too. Nothing in
any service's log says it was refused by the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from pydantic import SecretStr

from consumers.router import router_status
from infra.db import connect
from infra.ingress import ROUTER_GROUP
from infra.kafka import build_admin, build_producer
from infra.settings import Settings
from producers.gateway.partners import add_partner_key
from tatawwu.manifest import PLATFORM
from tatawwu.partner_sample import sample_world
from tatawwu.partners import grant_direct_access, revoke_direct_access
from tests.support.processes import end_group, stop_leftover_platforms
from tests.support.router import group_left

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
WAIT_S = 150.0
REFUSED = (b"AuthorizationFailed", b"not authorized", b"Authentication failed")


async def publish_as_partner(settings: Settings, topic: str, documents: list[dict]) -> None:
    """What a partner's own producer does: structured CloudEvents, keyed by subject."""
    producer = build_producer(settings)
    await producer.start()
    try:
        for document in documents:
            await producer.send_and_wait(
                topic, orjson.dumps(document), key=document["subject"].encode(),
                headers=[("content-type", b"application/cloudevents+json")],
            )  # fmt: skip
    finally:
        await producer.stop()


async def until(what: str, check: object, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await check():  # type: ignore[operator]
        assert proc.poll() is None, f"the platform exited ({proc.returncode}) waiting for {what}"
        assert time.monotonic() < deadline, f"not within {WAIT_S:.0f}s: {what}"
        await asyncio.sleep(0.5)


async def test_each_service_runs_as_its_own_principal_and_a_direct_partner_publishes(
    stack: Settings, unique: str
) -> None:
    org, gateway_org = f"direct-{unique}", f"gw-{unique}"
    access = await asyncio.to_thread(grant_direct_access, stack, org)
    partner = stack.model_copy(
        update={
            "kafka_sasl_username": access.principal,
            "kafka_sasl_password": SecretStr(access.password),
        }
    )
    documents = sample_world(org, volunteers=3)
    volunteers = [d["subject"] for d in documents if d["type"] == "volunteer.registered"]
    await publish_as_partner(partner, access.topic, documents)

    logs = stack.cache_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    marks = {p.log_stem: _size(logs / f"{p.log_stem}.log") for p in PLATFORM}
    await asyncio.to_thread(stop_leftover_platforms)  # one router-1, one notifier-1
    await group_left(stack, ROUTER_GROUP)  # the last platform's router-1 too
    proc = subprocess.Popen(  # noqa: ASYNC220 - the platform runs for the whole test
        [sys.executable, "-m", "tatawwu", "platform", "run", "--seconds", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ},
        start_new_session=True,
    )  # fmt: skip
    conn = await connect(stack)
    try:

        async def routed() -> bool:
            rows = {r["org"]: r for r in await router_status(stack)}
            row = rows.get(org, {})
            return row.get("accepted") == len(documents) and row.get("lag") == 0

        await until("the router forwarding the partner's world", routed, proc)

        async def projected() -> bool:
            with contextlib.suppress(Exception):  # the schema appears when the projector starts
                found = await conn.fetchval(
                    "select count(*) from volunteers.volunteers where volunteer_id = any($1)",
                    volunteers,
                )
                return found == len(volunteers)
            return False

        await until("the volunteers read model showing them", projected, proc)

        issued = await add_partner_key(conn, gateway_org)
        registered = {
            "specversion": "1.0", "id": f"gw-{unique}-1", "source": f"partner/{gateway_org}",
            "type": "organization.registered", "subject": gateway_org,
            "time": documents[0]["time"],
            "data": {"org_id": gateway_org, "name_ar": "جهة", "name_en": "Gateway org",
                     "sector": "nonprofit"},
        }  # fmt: skip
        url = f"http://127.0.0.1:{stack.gateway_port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:

            async def gateway_ready() -> bool:
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get("/ready")).status_code == 200
                return False

            await until("the gateway being ready", gateway_ready, proc)
            answer = await client.post(
                "/v1/events", content=orjson.dumps(registered),
                headers={"Authorization": f"Bearer {issued.key}",
                         "Content-Type": "application/cloudevents+json"},
            )  # fmt: skip
            assert answer.status_code == 202, answer.text

        async def organisation_shown() -> bool:
            with contextlib.suppress(Exception):
                return bool(
                    await conn.fetchval(
                        "select count(*) from organizations.organizations where org_id = $1",
                        gateway_org,
                    )
                )
            return False

        await until("the organisations read model showing the gateway's", organisation_shown, proc)
    finally:
        await conn.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        finally:
            if proc.poll() is None:
                proc.kill()
            end_group(proc)
            await asyncio.to_thread(revoke_direct_access, stack, org)
            await _delete_topic(stack, access.topic)
    assert proc.returncode == 0
    for stem, mark in marks.items():
        written = _since(logs / f"{stem}.log", mark)
        assert not [line for line in written.splitlines() if any(r in line for r in REFUSED)], stem


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _since(path: Path, mark: int) -> bytes:
    if not path.exists():
        return b""
    with path.open("rb") as handle:
        handle.seek(mark)
        return handle.read()


async def _delete_topic(settings: Settings, topic: str) -> None:
    admin = build_admin(settings)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
