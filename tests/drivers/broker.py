"""Plain aiomqtt clients around a real broker: publish a driver's messages, observe, deliver.

The observer is an MQTT 5 client subscribed with "retain as published", so the retain flag it
sees is the one the publisher set (MQTT 3.1.1 clears it for established subscriptions).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from typing import Protocol

import aiomqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from controller.drivers import Driver, Outgoing, Reception
from tests.support.mosquitto import Mosquitto


class Broker(Protocol):
    """A broker to test against: a real Mosquitto, or the embedded amqtt broker."""

    host: str
    port: int


DEADLINE_S = 5.0


def client(broker: Broker, role: str, *, v5: bool = False) -> aiomqtt.Client:
    """A plain client; MQTT 5 only on Mosquitto (amqtt speaks 3.1.1 alone)."""
    return aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=f"{role}-{uuid.uuid4().hex[:8]}",
        protocol=aiomqtt.ProtocolVersion.V5 if v5 and isinstance(broker, Mosquitto) else None,
    )


def payload_bytes(message: aiomqtt.Message) -> bytes:
    payload = message.payload
    assert isinstance(payload, bytes | bytearray), f"unexpected payload type {type(payload)}"
    return bytes(payload)


async def collect(subscriber: aiomqtt.Client, count: int) -> list[aiomqtt.Message]:
    """The next `count` messages, failing the test if they do not arrive within the deadline."""
    received: list[aiomqtt.Message] = []
    async with asyncio.timeout(DEADLINE_S):
        async for message in subscriber.messages:
            received.append(message)
            if len(received) == count:
                break
    return received


async def publish(broker: Broker, messages: Iterable[Outgoing]) -> None:
    """Publish exactly what a driver returned, as the engine's bus would."""
    async with client(broker, "engine") as engine:
        for message in messages:
            await engine.publish(
                message.topic, message.payload, qos=message.qos, retain=message.retain
            )


async def observe(
    broker: Broker, topic_filter: str, messages: list[Outgoing]
) -> list[aiomqtt.Message]:
    """What an independent subscriber on `topic_filter` receives when `messages` are published."""
    async with client(broker, "observer", v5=True) as observer:
        if isinstance(broker, Mosquitto):
            await observer.subscribe(
                topic_filter, options=SubscribeOptions(qos=1, retainAsPublished=True)
            )
        else:  # MQTT 3.1.1: live messages arrive with retain clear, whatever was published
            await observer.subscribe(topic_filter, qos=1)
        await publish(broker, messages)
        return await collect(observer, len(messages))


async def deliver(
    broker: Broker, driver: Driver, messages: list[tuple[str, bytes, bool]]
) -> list[Reception | None]:
    """Publish device messages (topic, payload, retain) and feed what arrives to the driver.

    The engine side subscribes, as the engine would, to those of the driver's subscriptions
    that the messages use, and hands each arriving message to driver.receive in order.
    """
    topics = list(dict.fromkeys(topic for topic, _, _ in messages))
    assert set(topics) <= set(driver.subscriptions()), "a message the driver does not subscribe to"
    async with client(broker, "engine") as engine:
        for topic in topics:
            await engine.subscribe(topic, qos=1)
        async with client(broker, "device") as device:
            for topic, payload, retain in messages:
                await device.publish(topic, payload, qos=1, retain=retain)
        arrived = await collect(engine, len(messages))
        return [driver.receive(message.topic.value, payload_bytes(message)) for message in arrived]


async def retained_on_subscribe(
    broker: Broker, driver: Driver, count: int
) -> list[Reception | None]:
    """What a freshly started engine learns from `count` retained messages on its topics."""
    async with client(broker, "engine") as engine:
        for topic in driver.subscriptions():
            await engine.subscribe(topic, qos=1)
        arrived = await collect(engine, count)
        return [driver.receive(message.topic.value, payload_bytes(message)) for message in arrived]


async def clear_retained(broker: Broker, topics: Iterable[str]) -> None:
    async with client(broker, "cleanup") as cleanup:
        for topic in topics:
            await cleanup.publish(topic, b"", qos=1, retain=True)
