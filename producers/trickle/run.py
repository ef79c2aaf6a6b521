"""Drive a `LiveWorld` through the partner gateway, a few facts a second, until told to stop.

Each organisation posts its own facts with its own key (`POST /v1/events`, as a partner
would). Facts go out in the order the world made them, consecutive facts of one
organisation in one request, so that every claim a fact needs (its volunteer's
registration, its opportunity) was accepted by an earlier request. A request the gateway
cannot take now (unreachable, 429, 503) is retried with backoff, never dropped; one it
refuses (403/422) is logged with its rules and counted, and the trickle goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
import orjson
import structlog

from producers.trickle.world import STAGES, Event, LiveWorld, org_of

log = structlog.get_logger(__name__)
MEDIA_TYPE = "application/cloudevents-batch+json"
RETRYABLE = frozenset({0, 408, 429, 502, 503, 504})
OPENING_ORDER = (
    "organization.registered", "campaign.launched", "opportunity.published",
    "volunteer.registered", "volunteer.signed_up", "volunteer.checked_in",
)  # fmt: skip
MAX_BATCH = 500
Clock = Callable[[], dt.datetime]

__all__ = ["STAGES", "TrickleStats", "post_in_order", "run_trickle", "wait_for_gateway"]


@dataclass
class TrickleStats:
    """What the gateway took (by event type) and refused, and how many requests it took."""

    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # by the gateway's rule or code
    requests: int = 0
    retries: int = 0
    unsent: int = 0  # taken by nobody because the trickle was stopping

    @property
    def accepted_total(self) -> int:
        return sum(self.accepted.values())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def batches(events: Sequence[Event]) -> list[tuple[str, list[Event]]]:
    """Consecutive events of one organisation together (at most MAX_BATCH), order kept."""
    out: list[tuple[str, list[Event]]] = []
    for event in events:
        org = org_of(event)
        if out and out[-1][0] == org and len(out[-1][1]) < MAX_BATCH:
            out[-1][1].append(event)
        else:
            out.append((org, [event]))
    return out


async def _post(client: httpx.AsyncClient, key: str, events: list[Event],
                stats: TrickleStats, stop: asyncio.Event) -> None:  # fmt: skip
    """Post one organisation's batch until it is accepted or refused for good."""
    body = orjson.dumps(events)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": MEDIA_TYPE}
    wait, reason = 0.5, ""
    while True:
        stats.requests += 1
        try:
            response = await client.post("/v1/events", content=body, headers=headers)
            status = response.status_code
        except httpx.TransportError as exc:
            status, response = 0, None
            reason = type(exc).__name__
        if status == 202:
            stats.accepted.update(e["type"] for e in events)
            return
        if status in RETRYABLE and not stop.is_set():
            stats.retries += 1
            if response is not None:
                wait = max(wait, float(response.headers.get("retry-after", "0") or 0))
            log.warning("trickle_retry", status=status, events=len(events),
                        reason=reason if response is None else None, wait_s=wait)  # fmt: skip
            await asyncio.sleep(wait)
            wait = min(wait * 2, 10.0)
            continue
        if status in RETRYABLE:  # stopping: what was not taken stays unsent, not refused
            stats.unsent += len(events)
            log.info("trickle_unsent", status=status, events=len(events))
            return
        problem = response.json() if response is not None else {}
        rules = [e.get("rule", "?") for e in problem.get("errors", [])] or [problem.get("code")]
        stats.refused.update(str(r) for r in rules)
        log.error("trickle_refused", status=status, code=problem.get("code"),
                  rules=sorted(set(map(str, rules))), events=len(events))  # fmt: skip
        return


async def post_in_order(client: httpx.AsyncClient, keys: dict[str, str],
                        events: Sequence[Event], stats: TrickleStats,
                        stop: asyncio.Event) -> None:  # fmt: skip
    """Post events as their organisations, in order (see the module docstring)."""
    for org, batch in batches(events):
        await _post(client, keys[org], batch, stats, stop)


async def wait_for_gateway(client: httpx.AsyncClient, stop: asyncio.Event) -> bool:
    """Until the gateway's `/ready` answers 200 (True), or stop is set (False)."""
    said = False
    while not stop.is_set():
        try:
            if (await client.get("/ready")).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if not said:
            log.info("trickle_waiting_for_gateway", url=str(client.base_url))
            said = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return False


async def run_trickle(
    world: LiveWorld,
    keys: dict[str, str],
    client: httpx.AsyncClient,
    *,
    rate: float,
    on_site: int,
    stop: asyncio.Event,
    seconds: float | None = None,
    report_every: float = 10.0,
    clock: Clock = _now,
) -> TrickleStats:
    """The opening, then `rate` facts a second until stop is set or `seconds` have passed."""
    stats = TrickleStats()
    if not await wait_for_gateway(client, stop):
        return stats
    opening = world.opening(clock(), on_site)
    order = {kind: n for n, kind in enumerate(OPENING_ORDER)}
    # Claims before the facts that need them; one request per organisation and kind.
    opening.sort(key=lambda e: (order[e["type"]], e["source"]))
    await post_in_order(client, keys, opening, stats, stop)
    log.info("trickle_opened", events=stats.accepted_total, on_site=len(world.on_site),
             refused=sum(stats.refused.values()), orgs=len(keys))  # fmt: skip
    started = last_report = last_tick = time.monotonic()
    owed = 0.0
    tick = min(1.0, max(0.05, 1.0 / rate))
    while not stop.is_set():
        if seconds is not None and time.monotonic() - started >= seconds:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick)
        moment = time.monotonic()
        owed, last_tick = owed + rate * (moment - last_tick), moment
        events: list[Event] = []
        while owed >= 1.0:
            owed -= 1.0
            events += world.step(clock())
        await post_in_order(client, keys, events, stats, stop)
        if time.monotonic() - last_report >= report_every:
            last_report = time.monotonic()
            log.info("trickle_progress", accepted=stats.accepted_total,
                     refused=sum(stats.refused.values()), requests=stats.requests,
                     on_site=len(world.on_site), by_type=dict(stats.accepted))  # fmt: skip
    return stats
