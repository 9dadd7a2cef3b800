"""Helpers for the simulated-room tests: devices, payload decoding, an independent MQTT recorder."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiomqtt

from controller.config.models import Device
from controller.sim.model import Publication

KIND_OF_DRIVER = {
    "zigbee2mqtt": "light",
    "tasmota": "light",
    "wled": "light",
    "shelly": "light",
    "mqtt-vr": "vr",
    "mqtt-bls": "bls",
    "mqtt-vitals": "sensor",
    "vlc": "music",
    "tones": "bls",
}


def make_device(driver: str, topic: str | None = "dev", **fields: Any) -> Device:
    """A valid device of the room for `driver` (id from the topic unless given)."""
    values: dict[str, Any] = {
        "id": topic or driver,
        "kind": KIND_OF_DRIVER[driver],
        "driver": driver,
        "topic": topic,
    }
    if driver == "mqtt-bls":
        values["mode"] = "tactile"
    values.update(fields)
    return Device.model_validate(values)


def unique(name: str) -> str:
    """A topic-safe name no other test uses on the shared broker."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def only(publications: list[Publication], topic: str) -> list[str | bytes]:
    return [p.payload for p in publications if p.topic == topic]


def json_of(publications: list[Publication], topic: str) -> list[Any]:
    """The JSON payloads published on `topic`, in order."""
    return [json.loads(payload) for payload in only(publications, topic)]


async def eventually(
    predicate: Callable[[], Any], *, timeout: float = 5.0, what: str = "the condition"
) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


class Recorder:
    """An independent MQTT client: records what it receives on `topics` and can publish."""

    def __init__(self, host: str, port: int, topics: list[str]) -> None:
        self.client = aiomqtt.Client(host, port, identifier=unique("recorder"))
        self.topics = topics
        self.messages: list[aiomqtt.Message] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Recorder:
        await self.client.__aenter__()
        for topic in self.topics:
            await self.client.subscribe(topic, qos=1)
        self._task = asyncio.create_task(self._record())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.__aexit__(exc_type, exc, tb)

    async def _record(self) -> None:
        async for message in self.client.messages:
            self.messages.append(message)

    def payloads(self, topic: str) -> list[bytes]:
        return [bytes(m.payload) for m in self.messages if m.topic.matches(topic)]

    def latest(self, topic: str) -> bytes | None:
        found = self.payloads(topic)
        return found[-1] if found else None

    def latest_json(self, topic: str) -> Any:
        latest = self.latest(topic)
        try:
            return json.loads(latest) if latest is not None else None
        except ValueError:
            return None

    async def publish(self, topic: str, payload: str | bytes) -> None:
        await self.client.publish(topic, payload, qos=1)

    async def wait_for(self, topic: str, payload: bytes | str, timeout: float = 5.0) -> None:
        """Until the latest message on `topic` is `payload`."""
        wanted = payload.encode() if isinstance(payload, str) else payload
        await eventually(
            lambda: self.latest(topic) == wanted, timeout=timeout, what=f"{topic} = {wanted!r}"
        )
