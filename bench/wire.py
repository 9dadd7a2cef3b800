"""The benchmark's own MQTT clients: an independent subscriber stamping arrivals, and a publisher.

Both are plain aiomqtt clients in the benchmark's event loop, each on its own connection, so
the engine's figures and the raw baseline go through exactly the same clients and broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from tests.support.mosquitto import Mosquitto

QOS = 1
"""Device commands go out at QoS 1 (drivers' default); the baseline uses the same."""


@dataclass(frozen=True)
class Arrival:
    topic: str
    payload: bytes
    at: float
    """time.perf_counter() when the subscriber got it."""


ArrivalHandler = Callable[[Arrival], None]
Sender = Callable[[], Awaitable[None]]


class Wire:
    """An independent subscriber: every message on its filters goes to `on_arrival`, stamped."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client
        self.on_arrival: ArrivalHandler = lambda _arrival: None

    async def listen(self) -> None:
        async for message in self._client.messages:
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload).encode()
            self.on_arrival(Arrival(message.topic.value, data, time.perf_counter()))

    async def first(
        self, wanted: Callable[[Arrival], bool], timeout: float, *, send: Sender
    ) -> Arrival:
        """Await `send()` and return the first wanted arrival from the moment it was called."""
        found: asyncio.Future[Arrival] = asyncio.get_running_loop().create_future()

        def arrived(arrival: Arrival) -> None:
            if not found.done() and wanted(arrival):
                found.set_result(arrival)

        self.on_arrival = arrived
        try:
            await send()
            try:
                return await asyncio.wait_for(found, timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"the awaited message did not come within {timeout:g} s"
                ) from None
        finally:
            self.on_arrival = lambda _arrival: None

    async def all_of(
        self, topics: Iterable[str], timeout: float, *, send: Sender
    ) -> dict[str, Arrival]:
        """Await `send()` and return the first arrival on each of `topics` once all have one."""
        waiting = set(topics)
        arrivals: dict[str, Arrival] = {}
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def arrived(arrival: Arrival) -> None:
            if arrival.topic in waiting:
                waiting.discard(arrival.topic)
                arrivals[arrival.topic] = arrival
                if not waiting and not done.done():
                    done.set_result(None)

        self.on_arrival = arrived
        try:
            await send()
            try:
                await asyncio.wait_for(done, timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"{len(waiting)} topic(s) never carried a message, e.g. {sorted(waiting)[:3]}"
                ) from None
            return arrivals
        finally:
            self.on_arrival = lambda _arrival: None


def client_for(broker: Mosquitto, role: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host, broker.port, identifier=f"bench-{role}-{uuid.uuid4().hex[:8]}"
    )


@contextlib.asynccontextmanager
async def wire_on(broker: Mosquitto, filters: Iterable[str]) -> AsyncIterator[Wire]:
    """A subscriber to `filters` (QoS 1), listening until the block ends."""
    async with client_for(broker, "wire") as client:
        await client.subscribe([(topic_filter, QOS) for topic_filter in filters])
        wire = Wire(client)
        listening = asyncio.create_task(wire.listen())
        try:
            yield wire
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening


@contextlib.asynccontextmanager
async def publisher_on(broker: Mosquitto) -> AsyncIterator[aiomqtt.Client]:
    async with client_for(broker, "publisher") as client:
        yield client


def command_payload(action: str, **parameters: Any) -> str:
    """A control-API command as a console sends it."""
    return json.dumps({"id": uuid.uuid4().hex, "action": action, "source": "bench", **parameters})
