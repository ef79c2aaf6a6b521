"""What stops, retries or refetches a batch."""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

# Failures of the plumbing, not of a record: retry the batch from the stored offsets.
TRANSIENT = (
    OSError,
    asyncio.TimeoutError,
    KafkaError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


class ProjectorBroken(RuntimeError):
    """The projector, not the data, is broken: a known-good event fails to apply too.

    Before an event is dead-lettered for failing to apply, the runtime applies the valid
    example of the same type (`schemas.examples`) in a savepoint it rolls back: if that
    fails as well, the cause is a bad deploy (a bug, a missing migration), whatever the
    batch size, so the projector stops instead of draining the stream into dead letters.
    Nothing of the batch was stored: once fixed and restarted, it resumes from the same
    offsets.
    """


class Canary(Exception):
    """Rolls back the savepoint in which a known-good event was applied as a probe."""


class OffsetGap(Exception):
    """A fetched batch starts past the stored offset: refetch from the stored offsets."""

    def __init__(self, positions: dict[TopicPartition, int]) -> None:
        self.positions = positions
        super().__init__(", ".join(f"{tp.topic}/{tp.partition}@{o}" for tp, o in positions.items()))
