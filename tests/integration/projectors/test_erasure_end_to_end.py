"""Erasure through the running platform, searched for byte by byte afterwards (issue 15).

A partner writes to its ingress topic; the router (a process) forwards and dead-letters;
the four projectors, the notifier and the SMTP and SMS sinks run as processes, as an
operator starts them, their output captured. A volunteer registers, signs up, attends, has
hours verified, is messaged, and a record naming them is refused into a dead letter; then
`tatawwu volunteers erase`. Afterwards no topic (read with a plain consumer, aborted
records too), table, dead letter, sink file or log line holds their name, phone or email;
the KPI is what `schemas/PERSONAL_DATA.md` says; a rebuild of every projector gives the
same tables as the live ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from consumers.notifications.projector import build_projector
from consumers.participation import lookup
from consumers.participation.coverage import end_of
from consumers.rebuild import rebuild
from consumers.router.counts import schema_for
from infra.db import connect
from infra.kafka import build_admin
from infra.settings import Settings
from tatawwu.manifest import PROJECTORS
from tests.integration.notifications.conftest import settled
from tests.support import events
from tests.support.personal import (
    clear_hits,
    file_hits,
    needles,
    opened_letters,
    personal_values,
    table_hits,
    table_rows,
)
from tests.support.ports import free_port
from tests.support.processes import Processes, processes
from tests.support.projectors import (
    create_prefixed_topics,
    delete_topics,
    end_offsets,
    wait_caught_up,
)
from tests.support.router import as_raw, create_ingress, produce, read_all, wait_routed

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]
QATAR = ZoneInfo("Asia/Qatar")
# What a rebuild sets afresh (when a row was written, trace ids, how many batches the
# records came in), not what it folds.
VOLATILE = ("_at", "trace", "lease", "batches")


def partner_documents(org: str, one: str, two: str, unique: str) -> list[dict[str, Any]]:
    """The organisation's campaign and opportunity (ended an hour ago), two volunteers
    registered, signed up and checked in; the first checked out with hours verified."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    at = iter(now - dt.timedelta(minutes=20) + dt.timedelta(seconds=n) for n in range(99))
    start, end = now - dt.timedelta(hours=3), now - dt.timedelta(hours=1)
    ids = {"campaign_id": f"cmp-{unique}", "opportunity_id": f"opp-{unique}"}

    def doc(kind: str, n: str, **fields: Any) -> dict[str, Any]:
        return events.event(kind, f"e-{unique}-{n}", next(at), source=f"partner/{org}",
                            **events.known_fields(kind, {**ids, **fields}))  # fmt: skip

    attended = {"municipality": "al_rayyan", "gender": "female", "birth_year": 1998,
                "nationality_group": "qatari", "language": "en",
                "consent": {"sms": True, "email": True}}  # fmt: skip
    return [
        doc("campaign.launched", "l", org_id=org, starts_on=(now - dt.timedelta(days=1)).date()
            .isoformat(), ends_on=(now + dt.timedelta(days=30)).date().isoformat()),
        doc("opportunity.published", "p", starts_at=events.iso(start), ends_at=events.iso(end),
            municipality="doha", min_age=14),
        doc("volunteer.registered", "r1", volunteer_id=one, **personal_values(unique), **attended),
        doc("volunteer.registered", "r2", volunteer_id=two, **other_values(unique),
            **{**attended, "municipality": "doha", "gender": "male"}),
        doc("volunteer.signed_up", "s1", volunteer_id=one),
        doc("volunteer.signed_up", "s2", volunteer_id=two),
        doc("volunteer.checked_in", "i1", volunteer_id=one, at=events.iso(start), method="qr"),
        doc("volunteer.checked_in", "i2", volunteer_id=two, at=events.iso(start), method="qr"),
        doc("volunteer.checked_out", "o1", volunteer_id=one, at=events.iso(end)),
        doc("volunteer.hours_verified", "h1", volunteer_id=one, hours=2.0, verified_by="staff-1"),
    ]  # fmt: skip


def other_values(unique: str) -> dict[str, Any]:
    """The other volunteer's (kept: the searches must still find them)."""
    return {"given_name": f"Noora{unique}", "family_name": f"Almarri{unique}",
            "phone": "+97466612345", "email": f"noora.{unique}@example.qa"}  # fmt: skip


def bad_record(org: str, one: str, unique: str) -> dict[str, Any]:
    """A profile update of the volunteer, naming them in full, that speaks as another
    organisation: refused by the router (rule `source`), so a dead letter."""
    return events.event("volunteer.profile_updated", f"e-{unique}-bad", dt.datetime.now(dt.UTC),
                        source="partner/someone-else", volunteer_id=one,
                        **personal_values(unique))  # fmt: skip


def folded(tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The tables without the columns a rebuild sets afresh, keyed by table name."""
    return {
        name.split(".", 1)[1]: sorted(
            ({k: v for k, v in row.items() if not any(w in k for w in VOLATILE)} for row in rows),
            key=repr,
        )
        for name, rows in tables.items()
    }


async def kpi(conn: asyncpg.Connection, schema: str, day: dt.date) -> dict[str, Any]:
    """The participation KPI document of `day`, from the projection in `schema`."""
    async with conn.transaction():
        await conn.execute(f'set local search_path to "{schema}"')
        return await lookup.participation_kpi(conn, day, hourly_rate=40.0)


async def used_schemas(conn: asyncpg.Connection, unique: str) -> list[str]:
    """The run's own schemas (projectors, notifier, router, claims, dead-letter keys) and
    the key store's, which every process shares."""
    rows = await conn.fetch(
        "select nspname from pg_namespace where strpos(nspname, $1) > 0", unique
    )
    return [r["nspname"] for r in rows] + ["keys"]


async def drop_schemas(conn: asyncpg.Connection, unique: str) -> None:
    """Drop the run's own schemas (not the shared key store)."""
    for schema in await used_schemas(conn, unique):
        if schema != "keys":
            await conn.execute(f'drop schema if exists "{schema}" cascade')


async def topic_names(stack: Settings) -> list[str]:
    """Every topic on the cluster."""
    admin = build_admin(stack)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def age_band(conn: asyncpg.Connection, schema: str, birth_year: int, day: dt.date) -> str:
    """The KPI's age band of a birth year on `day` (the projection's own SQL function)."""
    return await conn.fetchval(f'select "{schema}".age_band($1, $2)', birth_year, end_of(day))


async def caught_up(
    stack: Settings, conn: asyncpg.Connection, running: Processes, schemas: dict[str, str],
    prefix: str, topics: dict[str, tuple[str, ...]],
) -> None:  # fmt: skip
    """Every projector (the notifier's half included) applied all there is now."""
    for name, schema in schemas.items():
        ends = await end_offsets(stack, [prefix + t for t in topics[name]])
        await wait_caught_up(conn, schema, ends, wait_s=180, check=running.check)


async def providers_erased(conn: asyncpg.Connection, schema: str, running: Processes) -> None:
    """Until the notifier has asked the providers to delete every message of the erased
    volunteer (its `provider_erasures` rows are gone once a provider answered)."""
    for _ in range(300):
        running.check()
        if not await conn.fetchval(f'select count(*) from "{schema}".provider_erasures'):
            return
        await asyncio.sleep(0.2)
    msg = "the providers were not asked to erase within 60 s"
    raise AssertionError(msg)


async def test_after_erase_nothing_anywhere_holds_the_volunteer_and_a_rebuild_agrees(
    stack: Settings, unique: str, tmp_path: Path
) -> None:
    """Register, sign up, attend, be messaged, be dead-lettered; erase; then every topic,
    table, dead letter, sink file and log line is searched for the name, phone and email;
    the KPI keeps the activity with the attributes `unknown`; rebuilds equal live models."""
    prefix, org = f"ee{unique}.", f"org-{unique}"
    one, two = f"vol-{unique}-1", f"vol-{unique}-2"
    values, kept = personal_values(unique), other_values(unique)
    schemas = {name: f"ee_{name[:3]}_{unique}" for name in [*PROJECTORS, "notifications"]}
    topics = {name: p.topics for name, p in PROJECTORS.items()}
    topics["notifications"] = build_projector(stack).topics
    sinks = tmp_path / "sinks"
    smtp_port, sms_port = free_port(), free_port()
    await create_prefixed_topics(stack, prefix)
    conn = await connect(stack)
    try:
        [ingress] = await create_ingress(stack, prefix, [org])
        documents = [*partner_documents(org, one, two, unique), bad_record(org, one, unique)]
        # The router's own trim of routed ingress records waits an hour here: the erasure
        # is the one that must delete them (infra/ingress.py).
        async with processes(stack, tmp_path / "logs", TATAWWU_NOTIFY_QUIET_HOURS="",
                             TATAWWU_INGRESS_FORGET_INTERVAL_S="3600",
                             TATAWWU_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
                             TATAWWU_SMS_URL=f"http://127.0.0.1:{sms_port}/v1/messages",
                             TATAWWU_EMAIL_API_URL=f"http://127.0.0.1:{sms_port}/v1/emails",
                             ) as running:  # fmt: skip
            running.start("sinks", "--dir", str(sinks), "--smtp-port", str(smtp_port),
                          "--sms-port", str(sms_port), module="infra.local.sinks")  # fmt: skip
            running.start("router", "router", "run", "--topic-prefix", prefix,
                          "--instance-id", f"ee-{unique}")  # fmt: skip
            for name in PROJECTORS:
                running.start(name, "projections", "run", name, "--schema", schemas[name],
                              "--group-id", f"ee-{unique}-{name}", "--topic-prefix", prefix)  # fmt: skip
            running.start("notifier", "notifications", "run", "--schema",
                          schemas["notifications"], "--group-id", f"ee-{unique}-notifier",
                          "--topic-prefix", prefix)  # fmt: skip
            await produce(stack, ingress, [as_raw(d) for d in documents])
            await wait_routed(stack, prefix, [ingress], 120)
            await caught_up(stack, conn, running, schemas, prefix, topics)
            sent = await settled(conn, schemas["notifications"], 1, wait_s=120, held_ok=True)
            assert {r["template"] for r in sent if r["status"] == "sent"
                    and r["volunteer_id"] == one} >= {"welcome", "hours_thanks"}  # fmt: skip

            # Before: the searches find what they look for (they can fail).
            before = await table_rows(conn, await used_schemas(conn, unique))
            assert table_hits(before, values)  # the read models hold the volunteer
            assert file_hits(sinks, values)  # messaged: the sinks hold the email and phone
            dead = await read_all(stack, [prefix + "tatawwu.deadletter"])
            assert [r.key for r in dead] == [one.encode()]  # the refused record, once
            assert (
                await conn.fetchval(f'select count(*) from "{schema_for(prefix)}"._deadletters')
                == 1
            )
            [letter] = await opened_letters(stack, prefix + "tatawwu.deadletter")
            assert letter is not None
            assert all(n in letter for n in needles(values))  # the dead letter names them
            assert clear_hits(await read_all(stack, [ingress]), values)  # the partner's input
            day = dt.datetime.now(QATAR).date()
            kpi_before = await kpi(conn, schemas["participation"], day)

            running.start("erase", "volunteers", "erase", one, "--topic-prefix", prefix)
            code = await running.finish("erase")
            assert code == 0, (tmp_path / "logs" / "erase.log").read_text()
            await caught_up(stack, conn, running, schemas, prefix, topics)
            await settled(conn, schemas["notifications"], 1, wait_s=120, held_ok=True)
            await providers_erased(conn, schemas["notifications"], running)
            codes = await running.stop_all()
        assert codes == dict.fromkeys(codes, 0), codes  # every process stopped cleanly

        # Every topic of the run, read with a plain consumer, aborted transactions too;
        # every table of every schema the run used (the dead-letter tables among them);
        # the sinks' files; every process's log. Gathered, then asserted at the end, so
        # one run names every place still holding the volunteer.
        names = [t for t in await topic_names(stack) if t.startswith(prefix)]
        records = await read_all(stack, names, committed=False)
        after = await table_rows(conn, await used_schemas(conn, unique))
        leaks = {
            "topics": clear_hits(records, values),  # the ingress topic's routed records too
            "tables": table_hits(after, values),
            "logs": file_hits(
                tmp_path / "logs", {**values, **{f"o_{k}": v for k, v in kept.items()}}
            ),
        }
        # The logs were captured: each process wrote some, the erasure named its pseudonym.
        logs = {p.stem: p.read_bytes() for p in (tmp_path / "logs").glob("*.log")}
        assert all(logs.values()), [name for name, text in logs.items() if not text]
        assert b"volunteer_erased" in logs["erase"]
        assert one.encode() in logs["erase"]
        # The dead letter no longer opens (its key was the volunteer's).
        assert await opened_letters(stack, prefix + "tatawwu.deadletter") == [None]
        # The searches can fail: the other volunteer is still found (on the topics by
        # their id, in the read models by their name).
        assert clear_hits(records, {"id": two})
        assert table_hits(after, kept)
        # The sinks stand for the providers (an SMS gateway's and a mail relay's message
        # logs): the erasure asked them to delete what they kept of the volunteer's
        # messages (`provider_erasure.py`); the other volunteer's messages are still there.
        leaks["sinks"] = file_hits(sinks, values)
        assert file_hits(sinks, {"o_email": kept["email"], "o_phone": kept["phone"]})

        # The policy: the volunteers row stays (id, status), its personal columns null;
        # the activity still counted, the attributes gone to `unknown` in the KPI.
        row = await conn.fetchrow(
            f'select * from "{schemas["volunteers"]}".volunteer_directory where volunteer_id = $1',
            one,
        )
        assert row["status"] == "erased"
        assert (row["signups"], row["attended"], row["verified_hours"]) == (1, 1, 2)
        assert [row[c] for c in ("given_name", "family_name", "phone", "email", "birth_year",
                                 "gender", "nationality_group", "municipality")] == [None] * 8  # fmt: skip
        kpi_after = await kpi(conn, schemas["participation"], day)
        assert kpi_after["national"] == kpi_before["national"]
        assert kpi_after["national"]["active"] == 2
        assert kpi_after["hours"] == kpi_before["hours"]
        assert kpi_after["monthly"] == kpi_before["monthly"]
        was = {"municipality": "al_rayyan", "gender": "female", "nationality_group": "qatari",
               "age_band": await age_band(conn, schemas["participation"], 1998, day)}  # fmt: skip
        for dimension, value in was.items():
            then, now = kpi_before["breakdowns"][dimension], kpi_after["breakdowns"][dimension]
            assert now[value]["active"] == then[value]["active"] - 1, dimension
            assert now["unknown"]["active"] == then.get("unknown", {}).get("active", 0) + 1

        # A rebuild of every projector gives the tables the live projectors made.
        for name, projector in PROJECTORS.items():
            live = folded(await table_rows(conn, [schemas[name]]))
            await rebuild(stack, projector, schema=schemas[name], topic_prefix=prefix,
                          dashboard_views=False)  # fmt: skip
            rebuilt = folded(await table_rows(conn, [schemas[name]]))
            assert rebuilt == live, name
        assert await kpi(conn, schemas["participation"], day) == kpi_after
        leaks["rebuilt"] = table_hits(await table_rows(conn, list(schemas.values())), values)
        assert {where: found for where, found in leaks.items() if found} == {}
    finally:
        await drop_schemas(conn, unique)
        await conn.close()
        await delete_topics(stack, prefix)
