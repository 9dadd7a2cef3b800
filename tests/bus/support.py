"""Helpers for bus and broker tests: deadlines, recording handlers, an independent MQTT client."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

import aiomqtt

from controller.bus import ConnectionChange, Message
from controller.config.settings import BrokerSettings


class RetryOptions(TypedDict):
    retry_first_s: float
    retry_max_s: float


FAST_RETRY = RetryOptions(retry_first_s=0.02, retry_max_s=0.1)
"""Backoff for tests: reconnect within a tenth of a second."""


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `predicate` until it holds; fail the test when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {predicate.__doc__ or predicate}")
        await asyncio.sleep(0.01)


def fresh_prefix() -> str:
    """A topic prefix no other test uses (the session's Mosquitto is shared)."""
    return f"test/{uuid.uuid4().hex[:12]}"


def settings_for(host: str, port: int) -> BrokerSettings:
    return BrokerSettings(mode="external", host=host, port=port)


@dataclass
class Recorder:
    """A handler that keeps what it receives."""

    messages: list[Message] = field(default_factory=list)

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def payloads(self) -> list[str]:
        return [message.payload.decode() for message in self.messages]


@dataclass(frozen=True)
class Gated:
    """A device message as the engine's output path lets it out (`GatedMessage`)."""

    topic: str
    payload: str
    qos: int = 1
    retain: bool = False
    key: str | None = None
    expires_s: float | None = None
    chain: str | None = None
    keep: bool = False

    def passed_the_gate(self) -> bool:
        return True


@dataclass
class ConnectionLog:
    """An `on_connection` callback that keeps every change."""

    changes: list[ConnectionChange] = field(default_factory=list)

    def __call__(self, change: ConnectionChange) -> None:
        self.changes.append(change)

    @property
    def states(self) -> list[bool]:
        return [change.connected for change in self.changes]


async def publish_from_outside(host: str, port: int, topic: str, payload: str) -> None:
    """Publish with a client of its own, as a device or a console would."""
    async with aiomqtt.Client(host, port) as client:
        await client.publish(topic, payload, qos=1)


async def retained(host: str, port: int, topic: str, timeout: float = 1.0) -> str | None:
    """The retained payload on `topic` as a newly subscribing client sees it (None if none)."""
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(topic, qos=1)
        try:
            async with asyncio.timeout(timeout):
                async for message in client.messages:
                    if message.retain:
                        return message.payload.decode()
        except TimeoutError:
            return None
    return None


async def eventually_retained(
    host: str, port: int, topic: str, expected: str, timeout: float = 5.0
) -> None:
    """Poll the retained payload on `topic` until it is `expected`."""
    deadline = time.monotonic() + timeout
    while (value := await retained(host, port, topic)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"retained {topic} is {value!r}, not {expected!r}")
