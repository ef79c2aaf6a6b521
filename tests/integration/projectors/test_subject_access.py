"""Subject access end to end: a volunteer's export holds everything the read models hold
about them, opened, and nothing of any other volunteer."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from typing import Any

import orjson
import pytest

from consumers import history
from consumers.organizations import PROJECTOR as ORGANIZATIONS
from consumers.participation import PROJECTOR as PARTICIPATION
from consumers.volunteers import PROJECTOR as VOLUNTEERS
from infra import subject_access
from infra.db import connect, create_pool
from infra.keys import build_key_service
from infra.local.sinks import Sinks
from infra.migrations import apply
from infra.sealing import seal_events
from infra.settings import Settings, child_env
from schemas.envelope import Event
from tests.integration.notifications.conftest import notifier, settled
from tests.integration.projectors.test_personal_read_models import publish_prefixed
from tests.support import events
from tests.support.personal import personal_values
from tests.support.projectors import (
    create_prefixed_topics,
    delete_topics,
    end_offsets,
    run_until_caught_up,
    wait_caught_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def volunteer_values(unique: str, n: int) -> dict[str, Any]:
    """Volunteer `n`'s id and personal fields: distinctive, none inside another's."""
    if n == 1:
        return {"volunteer_id": f"v1-{unique}", **personal_values(unique)}
    return {"volunteer_id": f"w{n}x{unique}", "given_name": f"Nasser{n}{unique}",
            "family_name": f"Kuwari{n}{unique}", "phone": f"+9746{n}{str(int(unique, 16))[-6:]}",
            "email": f"nasser{n}.{unique}@example.org"}  # fmt: skip


def world(unique: str) -> list[Event[Any]]:
    """Two organisations, a campaign and an opportunity each; three volunteers (1 and 3
    registered by A, 2 by B), each signed up at both; volunteer 1's phone and consent
    changed, checked in and verified at A; volunteer 2 checked in at B."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    at = iter(now - dt.timedelta(minutes=30 - n) for n in range(30))
    starts = now + dt.timedelta(hours=20)
    out = []
    for org in ("a", "b"):
        source = f"partner/org{org}-{unique}"
        org_id, cmp, opp = f"org{org}-{unique}", f"cmp{org}-{unique}", f"opp{org}-{unique}"
        out += [
            events.decoded("organization.registered", f"o{org}-{unique}", next(at), source=source,
                           org_id=org_id, name_en=f"Org {org.upper()} {unique}"),
            events.decoded("campaign.launched", f"c{org}-{unique}", next(at), source=source,
                           campaign_id=cmp, org_id=org_id),
            events.decoded("opportunity.published", f"p{org}-{unique}", next(at), source=source,
                           opportunity_id=opp, campaign_id=cmp, starts_at=events.iso(starts),
                           ends_at=events.iso(starts + dt.timedelta(hours=2))),
        ]  # fmt: skip
    src = {"a": f"partner/orga-{unique}", "b": f"partner/orgb-{unique}"}
    for n, org in ((1, "a"), (2, "b"), (3, "a")):
        v = volunteer_values(unique, n)
        out.append(events.decoded(
            "volunteer.registered", f"r{n}-{unique}", next(at), source=src[org], **v,
            language="en", consent={"sms": True, "email": True},
        ))  # fmt: skip
        for o in ("a", "b"):
            out.append(events.decoded(
                "volunteer.signed_up", f"s{n}{o}-{unique}", next(at), source=src[o],
                volunteer_id=v["volunteer_id"], opportunity_id=f"opp{o}-{unique}",
                campaign_id=f"cmp{o}-{unique}",
            ))  # fmt: skip
    one, two = f"v1-{unique}", f"w2x{unique}"
    out += [
        events.decoded("volunteer.profile_updated", f"u1-{unique}", next(at), source=src["a"],
                       data={"volunteer_id": one, "phone": "+97433300011"}),
        events.decoded("volunteer.consent_changed", f"k1-{unique}", next(at), source=src["a"],
                       volunteer_id=one, consent={"sms": True, "email": True, "alerts": True}),
        events.decoded("volunteer.checked_in", f"i1-{unique}", next(at), source=src["a"],
                       volunteer_id=one, opportunity_id=f"oppa-{unique}",
                       campaign_id=f"cmpa-{unique}", at=events.iso(now - dt.timedelta(minutes=5))),
        events.decoded("volunteer.hours_verified", f"h1-{unique}", next(at), source=src["a"],
                       volunteer_id=one, opportunity_id=f"oppa-{unique}",
                       campaign_id=f"cmpa-{unique}", hours=2.5),
        events.decoded("volunteer.checked_in", f"i2-{unique}", next(at), source=src["b"],
                       volunteer_id=two, opportunity_id=f"oppb-{unique}",
                       campaign_id=f"cmpb-{unique}", at=events.iso(now - dt.timedelta(minutes=4))),
    ]  # fmt: skip
    return out


async def project_world(
    settings: Settings, unique: str, prefix: str, *, notify: bool = True
) -> tuple[list[Event[Any]], subject_access.ReadModels]:
    """The world sealed and published under `prefix`, projected into schemas of its own:
    volunteers and organizations caught up; participation and the notifier (when `notify`)
    too, the notifier settled."""
    facts = world(unique)
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        sealed = await seal_events(build_key_service(settings, pool), facts)
    finally:
        await pool.close()
    places = subject_access.ReadModels(
        f"sa_vol_{unique}", f"sa_not_{unique}", f"sa_org_{unique}", f"sa_par_{unique}"
    )
    await create_prefixed_topics(settings, prefix)
    await publish_prefixed(settings, prefix, sealed)
    projectors = {"volunteers": VOLUNTEERS, "organizations": ORGANIZATIONS}
    if notify:
        projectors["participation"] = PARTICIPATION
    await run_until_caught_up(
        settings, projectors, {name: getattr(places, name) for name in projectors}, prefix,
        group=f"sa-{unique}",
    )  # fmt: skip
    if notify:
        topics = [prefix + t for t in ("tatawwu.volunteers", "tatawwu.signups")]
        conn = await connect(settings)
        try:
            async with notifier(settings, prefix, places.notifications) as task:
                await wait_caught_up(conn, places.notifications, await end_offsets(settings, topics),
                                     wait_s=120)  # fmt: skip
                # 3 welcomes and 6 sign-up confirmations, each by SMS and email.
                await settled(conn, places.notifications, 18, task, wait_s=120, held_ok=True)
        finally:
            await conn.close()
    return facts, places


def payload(event: Event[Any]) -> dict[str, Any]:
    data = event.data.model_dump(mode="json", exclude_unset=True)
    return {k: v for k, v in data.items() if k != "volunteer_id"}


async def test_an_export_holds_everything_about_the_volunteer_and_nothing_of_others(
    stack: Settings, sinks: Sinks, unique: str
) -> None:
    """Profile, profile and consent history, participations (sign-ups, check-in, hours),
    the notifier's ledger and the supplying organisations come back as sent; no name,
    phone, email or id of the two other volunteers appears anywhere; the CLI prints the
    same document."""
    settings = stack.model_copy(update={
        "smtp_url": sinks.smtp_url, "sms_url": sinks.sms_url, "notify_quiet_hours": "",
    })  # fmt: skip
    prefix = f"sa.{unique}."
    one, org_a, org_b = f"v1-{unique}", f"orga-{unique}", f"orgb-{unique}"
    try:
        facts, places = await project_world(settings, unique, prefix)
        document = await subject_access.export(settings, one, places)
        by_id = {e.id: e for e in facts}

        assert (document["volunteer_id"], document["erased"], document["erasure"]) == (
            one, False, None,
        )  # fmt: skip
        profile = document["profile"]
        registration = payload(by_id[f"r1-{unique}"])
        consent = payload(by_id[f"k1-{unique}"])["consent"]
        expected = {**registration, "phone": "+97433300011", "consent": consent}
        assert {k: profile[k] for k in expected} == expected
        assert profile["status"] == "registered"
        assert profile["totals"]["verified_hours"] == 2.5
        assert profile["totals"]["signups"] == 2

        history = document["profile_history"]
        assert [(h["type"], h["event_id"], h["source"]) for h in history] == [
            ("volunteer.registered", f"r1-{unique}", f"partner/{org_a}"),
            ("volunteer.profile_updated", f"u1-{unique}", f"partner/{org_a}"),
            ("volunteer.consent_changed", f"k1-{unique}", f"partner/{org_a}"),
        ]
        assert [h["data"] for h in history] == [
            payload(by_id[f"{n}1-{unique}"]) for n in "ruk"
        ]  # the first phone, still held, comes back too
        assert [c["consent"] for c in document["consent_history"]] == [
            registration["consent"],
            consent,
        ]

        parts = {p["opportunity_id"]: p for p in document["participations"]}
        assert set(parts) == {f"oppa-{unique}", f"oppb-{unique}"}
        a, b = parts[f"oppa-{unique}"], parts[f"oppb-{unique}"]
        assert (a["org_id"], a["signup_status"], a["signup_source"], a["hours"],
                a["hours_source"]) == (org_a, "signed_up", f"partner/{org_a}", 2.5,
                                       f"partner/{org_a}")  # fmt: skip
        checked_in = by_id[f"i1-{unique}"].data.at
        assert dt.datetime.fromisoformat(a["checked_in_at"]) == checked_in
        assert (b["org_id"], b["signup_source"], b["checked_in_at"], b["hours"]) == (
            org_b, f"partner/{org_b}", None, None,
        )  # fmt: skip

        conn = await connect(settings)
        try:
            ledger = await conn.fetch(
                f'select notification_id, template, channel, status from "{places.notifications}"'
                " .outbox where volunteer_id = $1", one,
            )  # fmt: skip
        finally:
            await conn.close()
        notes = document["notifications"]
        assert sorted((n["notification_id"], n["template"], n["channel"], n["status"])
                      for n in notes) == sorted(tuple(r) for r in ledger)  # fmt: skip
        sent = {(n["template"], n["channel"]) for n in notes if n["status"] == "sent"}
        assert sent >= {(t, c) for t in ("welcome", "signup_confirmed") for c in ("sms", "email")}
        assert all(n["created_at"] for n in notes)
        assert document["notifier_contact"]["phone"] == "+97433300011"
        attributes = ("birth_year", "gender", "nationality_group", "municipality")
        assert document["kpi_demographics"] == {k: registration[k] for k in attributes}

        assert document["organisations"] == [
            {"org_id": org_a, "name_en": f"Org A {unique}", "name_ar": events.example(
                "organization.registered")["data"]["name_ar"],
             "supplied": ["hours", "participations", "profile", "signups"]},
            {"org_id": org_b, "name_en": f"Org B {unique}", "name_ar": events.example(
                "organization.registered")["data"]["name_ar"],
             "supplied": ["participations", "signups"]},
        ]  # fmt: skip

        text = orjson.dumps(document).decode()
        others = [volunteer_values(unique, n) for n in (2, 3)]
        assert [v for o in others for v in o.values() if str(v) in text] == []
        other_ids = {o["volunteer_id"] for o in others}
        assert [e.id for e in facts if e.subject in other_ids and e.id in text] == []

        command = [sys.executable, "-m", "tatawwu", "volunteers", "export", one,
                   "--volunteers-schema", places.volunteers,
                   "--notifications-schema", places.notifications,
                   "--organizations-schema", places.organizations,
                   "--participation-schema", places.participation]  # fmt: skip
        child = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=child_env(settings),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(child.communicate(), 120)
        assert child.returncode == 0, err.decode()[-2000:]
        printed = orjson.loads(out)
        assert {**printed, "exported_at": None} == {**document, "exported_at": None}
    finally:
        await delete_topics(settings, prefix)


async def test_the_cli_exits_1_for_a_volunteer_of_whom_nothing_is_held(
    stack: Settings, unique: str
) -> None:
    """An unknown id: exit code 1, a message naming it, nothing on stdout."""
    command = [sys.executable, "-m", "tatawwu", "volunteers", "export", f"nobody-{unique}"]
    child = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=child_env(stack), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode == 1, err.decode()[-2000:]
    assert out == b""
    assert f"nobody-{unique}" in err.decode()


async def test_a_field_still_encrypted_in_a_read_model_is_opened_through_the_key_service(
    stack: Settings, unique: str
) -> None:
    """A stored profile fact whose fields are still encrypted (as a read model that kept a
    record unopened would hold it): the export opens them with the volunteer's key; once
    the key is destroyed they are left out, never returned encrypted."""
    schema, volunteer = f"sa_sealed_{unique}", f"vs-{unique}"
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    registration = events.decoded("volunteer.registered", f"rs-{unique}", at,
                                  source="partner/org-1", volunteer_id=volunteer,
                                  **personal_values(unique))  # fmt: skip
    places = subject_access.ReadModels(schema, f"{schema}_n", f"{schema}_o")  # only history
    pool = await create_pool(stack, min_size=1, max_size=2)
    try:
        keys = build_key_service(stack, pool)
        [sealed] = await seal_events(keys, [registration])
        async with pool.acquire() as conn:
            await conn.execute(f'create schema "{schema}"; set search_path to "{schema}"')
            try:
                await apply(conn, history.MIGRATIONS)
                await history.record_and_load(conn, [sealed], lambda e: ("volunteer", e.subject))
            finally:
                await conn.execute("reset search_path")
        stored = await pool.fetchval(f'select data::text from "{schema}".history')
        assert personal_values(unique)["phone"] not in stored  # held encrypted

        document = await subject_access.gather(pool, keys, volunteer, places)
        [entry] = document["profile_history"]
        assert entry["data"] == payload(registration)

        await keys.destroy(volunteer)
        document = await subject_access.gather(pool, keys, volunteer, places)
        [entry] = document["profile_history"]
        assert entry["data"] == {k: v for k, v in payload(registration).items()
                                 if k not in subject_access.PERSONAL}  # fmt: skip
    finally:
        await pool.execute(f'drop schema if exists "{schema}" cascade')
        await pool.close()
