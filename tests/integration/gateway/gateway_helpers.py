"""Helpers of the gateway integration tests: partners with keys, their events, read-back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI

from infra import kafka
from infra.kafka import build_consumer
from infra.settings import Settings
from producers.gateway.partners import add_partner_key
from tests.support import events


@dataclass
class Partner:
    """A partner organisation with a fresh key, and a factory for its events."""

    org: str
    key_id: str
    key: str
    unique: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}

    @property
    def campaign(self) -> str:
        return f"cmp-{self.unique}"

    def event(self, event_type: str, n: int = 0, **data: Any) -> dict[str, Any]:
        """An example event re-keyed to this partner's org, campaign and a volunteer."""
        ids = {"org_id": self.org, "campaign_id": self.campaign,
               "opportunity_id": f"opp-{self.unique}",
               "volunteer_id": f"vol-{self.unique}-{n}"}  # fmt: skip
        fields = events.known_fields(event_type, {**ids, **data})
        event_id = f"evt-{self.unique}-{event_type}-{n}"
        return events.event(event_type, event_id, source=f"partner/{self.org}", **fields)


async def new_partner(gateway: FastAPI, unique: str, *, admin: bool = False) -> Partner:
    """Create a key for a fresh organisation in the real database."""
    org = f"org-{unique}"
    issued = await add_partner_key(gateway.state.pool, org, admin=admin)
    return Partner(org, issued.key_id, issued.key, unique)


async def end_offsets(settings: Settings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """Where each partition of the topics ends now (read back from there)."""
    return await kafka.end_offsets(settings, topics=topics)


async def read_since(
    settings: Settings, offsets: dict[TopicPartition, int], ids: set[str], wait_s: float = 15.0
) -> list[ConsumerRecord]:
    """Records from `offsets` on whose value names one of `ids`, until each id was seen."""
    consumer = build_consumer(settings)
    await consumer.start()
    found: list[ConsumerRecord] = []
    try:
        consumer.assign(list(offsets))
        for tp, offset in offsets.items():
            consumer.seek(tp, offset)
        deadline = asyncio.get_running_loop().time() + wait_s
        seen: set[str] = set()
        while seen < ids and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event_id = _event_id(record.value)
                    if event_id in ids:
                        found.append(record)
                        seen.add(event_id)
    finally:
        await consumer.stop()
    return found


def _event_id(value: bytes | None) -> str | None:
    import orjson

    try:
        document = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    return document.get("id") if isinstance(document, dict) else None
