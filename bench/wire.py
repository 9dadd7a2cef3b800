"""The benchmark's own MQTT clients: an independent subscriber stamping arrivals, and a publisher.

Each is on its own connection, so the engine's figures and the raw baseline go through exactly
the same clients and broker. The publisher is an aiomqtt client in the benchmark's event
loop; the subscriber is a paho client that stamps each arrival on its own network thread,
so the time is taken when the message arrives, not when the benchmark's loop, busy with its
other clients, gets to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import Mosquitto

QOS = 1
"""Device commands go out at QoS 1 (drivers' default); the baseline uses the same."""
RAW_TOPIC = "bench/raw-hop"
"""The raw hop's own topic: a subscriber to it hears the benchmark's publisher only."""


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

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.on_arrival: ArrivalHandler = lambda _arrival: None
        self.last_at: float | None = None
        """When the latest message arrived (time.perf_counter()), None before the first."""

    def stamp(self, _client: object, _userdata: object, message: paho.MQTTMessage) -> None:
        """On the subscriber's own network thread: the arrival time is taken here, before the
        benchmark's event loop (busy with its other clients) gets to it."""
        arrival = Arrival(message.topic, bytes(message.payload), time.perf_counter())
        self._loop.call_soon_threadsafe(self._arrived, arrival)

    def _arrived(self, arrival: Arrival) -> None:
        self.last_at = arrival.at
        self.on_arrival(arrival)

    async def counted(
        self, expected: Mapping[str, int], timeout: float, *, send: Sender, any_of: bool = False
    ) -> list[Arrival]:
        """Await `send()` and return the arrivals from then on, up to `expected[topic]` a topic.

        Returns once every topic has had its count (with `any_of`, once any topic has had
        its count); other arrivals are passed over.
        """
        missing = Counter({topic: count for topic, count in expected.items() if count > 0})
        arrivals: list[Arrival] = []
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def arrived(arrival: Arrival) -> None:
            if missing[arrival.topic] > 0:
                missing[arrival.topic] -= 1
                arrivals.append(arrival)
                finished = missing[arrival.topic] == 0 if any_of else not +missing
                if finished and not done.done():
                    done.set_result(None)

        self.on_arrival = arrived
        try:
            await send()
            try:
                await asyncio.wait_for(done, timeout)
            except TimeoutError:
                left = +missing
                raise TimeoutError(
                    f"{left.total()} awaited message(s) did not come within {timeout:g} s, "
                    f"e.g. on {sorted(left)[:3]}"
                ) from None
            return arrivals
        finally:
            self.on_arrival = lambda _arrival: None

    async def until_quiet(self, seconds: float, timeout: float, *, send: Sender) -> list[Arrival]:
        """Await `send()` and return every arrival from then on until `quiet(seconds, timeout)`."""
        arrivals: list[Arrival] = []
        self.on_arrival = arrivals.append
        try:
            await send()
            await self.quiet(seconds, timeout)
            return arrivals
        finally:
            self.on_arrival = lambda _arrival: None

    async def quiet(self, seconds: float, timeout: float) -> None:
        """Return once nothing has arrived for `seconds`, counted from the call at the earliest.

        TimeoutError if that has not happened within `timeout`.
        """
        called = time.perf_counter()
        while True:
            now = time.perf_counter()
            still = seconds - (now - max(self.last_at or called, called))
            if still <= 0:
                return
            if now + still > called + timeout:
                raise TimeoutError(
                    f"messages kept coming for {timeout:g} s, never {seconds:g} s apart"
                )
            await asyncio.sleep(still)


def client_for(broker: Mosquitto, role: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host, broker.port, identifier=f"bench-{role}-{uuid.uuid4().hex[:8]}"
    )


@contextlib.asynccontextmanager
async def wire_on(broker: Mosquitto, filters: Iterable[str]) -> AsyncIterator[Wire]:
    """A subscriber to `filters` (QoS 1), listening until the block ends."""
    wire = Wire(asyncio.get_running_loop())
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-wire-{uuid.uuid4().hex[:8]}"
    )
    client.on_message = wire.stamp
    subscribed = threading.Event()
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.subscribe([(topic_filter, QOS) for topic_filter in filters])
        if not await asyncio.to_thread(subscribed.wait, 10):
            raise TimeoutError("the recorder's subscription was not acknowledged")
        yield wire
    finally:
        client.loop_stop()
        client.disconnect()


@contextlib.asynccontextmanager
async def publisher_on(broker: Mosquitto) -> AsyncIterator[aiomqtt.Client]:
    async with client_for(broker, "publisher") as client:
        yield client


def command_payload(action: str, **parameters: Any) -> str:
    """A control-API command as a console sends it."""
    return json.dumps({"id": uuid.uuid4().hex, "action": action, "source": "bench", **parameters})


async def publish_until(
    wire: Wire,
    out: aiomqtt.Client,
    topic: str,
    payload: str | bytes,
    expected: Mapping[str, int],
    timeout: float,
    *,
    any_of: bool = False,
) -> tuple[float, list[Arrival]]:
    """Publish `payload` on `topic` (QoS 1); seconds until the last `expected` arrival, and them.

    With `any_of`, until the first topic has had its count.
    """

    async def send() -> None:
        await out.publish(topic, payload, qos=QOS)

    started = time.perf_counter()
    arrivals = await wire.counted(expected, timeout, send=send, any_of=any_of)
    return max(arrival.at for arrival in arrivals) - started, arrivals


async def raw_hop(wire: Wire, out: aiomqtt.Client, payload: str, timeout: float) -> float:
    """Seconds from publishing `payload` on RAW_TOPIC until `wire` (subscribed to it) has it."""
    seconds, _arrivals = await publish_until(wire, out, RAW_TOPIC, payload, {RAW_TOPIC: 1}, timeout)
    return seconds
