"""Helpers of the tests that connect as a Kafka principal other than the local admin."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.errors import TopicAuthorizationFailedError
from pydantic import SecretStr

from infra.settings import Settings

ACL_WAIT_S = 15.0  # ACLs reach the broker's authorizer through the metadata log


def as_principal(settings: Settings, user: str, password: str) -> Settings:
    """The same stack, connecting as `user`."""
    return settings.model_copy(
        update={"kafka_sasl_username": user, "kafka_sasl_password": SecretStr(password)}
    )


async def eventually_writes(producer: AIOKafkaProducer, topic: str) -> None:
    """The first write may race the ACL's arrival at the authorizer: retry a few seconds."""
    deadline = asyncio.get_running_loop().time() + ACL_WAIT_S
    while True:
        try:
            await producer.send_and_wait(topic, b"{}", key=b"k")
            return
        except TopicAuthorizationFailedError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)
