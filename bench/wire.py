"""The benchmark's own MQTT clients: an independent subscriber stamping arrivals, and a publisher.

Each is on its own connection, so the engine's figures and the raw baseline go through exactly
the same clients and broker. The publisher is an aiomqtt client in the benchmark's event
loop; the subscriber is a paho client that stamps each arrival on its own network thread,
so the time is taken when the message arrives, not when the benchmark's loop, busy with its
other clients, gets to it. Where hundreds of messages arrive at once (the emergency to 200
lights), the subscriber is `mosquitto_sub` in a process of its own (`sub_wire_on`): paho
takes tens of microseconds of Python to read each message, so the 200th was stamped once
the subscriber had read the 199 before it, not when it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
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

from bench.processes import MissingPart
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

    def arrived(self, topic: str, payload: bytes, wall_s: float) -> None:
        """A message a subscriber of its own stamped at `wall_s` (time.time() seconds)."""
        at = wall_s - (time.time() - time.perf_counter())
        self._arrived(Arrival(topic, payload, at))

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


SUBSCRIBED = b"Subscribed ("
"""How `mosquitto_sub -d` says the broker acknowledged its subscriptions."""


@contextlib.asynccontextmanager
async def sub_wire_on(broker: Mosquitto, filters: Iterable[str]) -> AsyncIterator[Wire]:
    """A subscriber to `filters` (QoS 1) like `wire_on`, but `mosquitto_sub` (C) in a process
    of its own, stamping each message (`%U`) as it reads it; listening until the block ends.

    Its output is line-buffered (`stdbuf -oL`): on a pipe, C's stdio would hold it back."""
    binary, line_buffered = shutil.which("mosquitto_sub"), shutil.which("stdbuf")
    if binary is None or line_buffered is None:
        raise MissingPart("mosquitto_sub or stdbuf is not installed (mosquitto-clients, coreutils)")
    wire = Wire(asyncio.get_running_loop())
    topics = [argument for topic_filter in filters for argument in ("-t", topic_filter)]
    process = await asyncio.create_subprocess_exec(
        *(line_buffered, "-oL", binary, "-d", "--nodelay", "-q", str(QOS)),
        *("-h", broker.host, "-p", str(broker.port), "-i", f"bench-wire-{uuid.uuid4().hex[:8]}"),
        *(*topics, "-F", "%U %t %x"),
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    reading = asyncio.create_task(_read_stamped(process.stdout, wire, subscribed))
    try:
        try:
            await asyncio.wait_for(asyncio.shield(subscribed), 10)
        except TimeoutError:
            raise TimeoutError("mosquitto_sub's subscription was not acknowledged") from None
        yield wire
    finally:
        reading.cancel()
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def _read_stamped(
    lines: asyncio.StreamReader, wire: Wire, subscribed: asyncio.Future[None]
) -> None:
    """Feed `wire` the `%U %t %x` lines of `mosquitto_sub -d`; its other lines are its debug
    output, of which one says the subscriptions are in place."""
    async for line in lines:
        stamp, _, rest = line.partition(b" ")
        topic, _, payload = rest.rstrip(b"\n").rpartition(b" ")
        if stamp[:1].isdigit() and topic:
            wire.arrived(topic.decode(), bytes.fromhex(payload.decode()), float(stamp))
        elif line.startswith(SUBSCRIBED) and not subscribed.done():
            subscribed.set_result(None)


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
