"""Command-to-wire latency: a command on `cmd` until its first device message is on the wire.

Three commands are timed, with a session running so the journal works as in a real session:
a light nudge (a `lights` override alternating one Zigbee2MQTT light between two levels, a
device message every time, well under the flash limit), a VR toggle (`vr` pause, then
resume) and a scene change (two scenes in turn; the first device message of the scene).

Baselines go through the same broker and the same clients: the raw hop (the same payload
published on a topic of its own, one broker hop) and two floors, relays in processes of their
own that only republish (client → relay → client, two broker hops, as a command travels
console → engine → device; `bench.relay`): one on aiomqtt and asyncio, as the engine is
built, and one from paho's own network thread. The targets are against the aiomqtt floor:
what the engine adds over it is its own cost; the ratio to the paho floor is printed too.
Baselines and commands alternate, each after a random pause, so all meet the same
conditions and no sample is phase-locked to the engine's tick. The process that times them
reads only what it times, as a device does: the state the engine publishes after every
command goes to a console's link in a process of its own (`bench.onlooker`), as in a room.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from bench import relay
from bench.figures import Figure, Target, percentile
from bench.processes import child
from bench.rooms import command_topics
from bench.stage import RunningRoom, room_running
from bench.wire import (
    RAW_TOPIC,
    Wire,
    command_payload,
    publish_until,
    publisher_on,
    raw_hop,
    wire_on,
)
from controller.config import Room
from tests.support.mosquitto import Mosquitto

LEVELS = (0.50, 0.55)
"""Alternated override levels: 5 % apart, below the 10 % a flash needs."""
VR_OPS = ("pause", "resume")
SCENES = ("integration", "centering")
"""Alternated scenes of the example room (both change every light)."""
MAX_PAUSE_S = 0.05
SAMPLE_TIMEOUT_S = 5.0
SETTLE_S = 1.0
"""After the session starts, before sampling: its first scene reaches the devices."""
READY_TIMEOUT_S = 30.0
P50_FLOOR_TARGET = 1.3
P99_FLOOR_TARGET = 1.5
P99_TARGET_RATIO = 3.0
"""The light nudge's p99 against the raw hop (the one-hop figure kept for comparison)."""


@dataclass(frozen=True)
class LatencySamples:
    engine: list[float]
    """The light nudge."""
    raw: list[float]
    floor: list[float] = field(default_factory=list)
    """The two-hop relay on aiomqtt; empty unless every kind was measured."""
    paho_floor: list[float] = field(default_factory=list)
    """The two-hop relay from paho's network thread; as `floor`."""
    vr: list[float] = field(default_factory=list)
    scene: list[float] = field(default_factory=list)


def light_under_test(room: Room) -> tuple[str, str]:
    """The first Zigbee2MQTT light of the room and the topic its commands go to."""
    for device_id, topic in command_topics(room, "light").items():
        if room.devices[device_id].driver == "zigbee2mqtt":
            return device_id, topic
    raise ValueError(f"room {room.room_id} has no Zigbee2MQTT light to measure with")


@contextlib.asynccontextmanager
async def ready_child(name: str, arguments: list[str], log_file: Path) -> AsyncIterator[None]:
    """`python -m` with `arguments` in a process of its own, once it has printed `READY`
    (`bench.relay` and `bench.onlooker` do when they are subscribed), until the block ends."""
    log_file.unlink(missing_ok=True)
    with child(name, arguments, log_file) as process:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (log_file.exists() and relay.READY in log_file.read_text()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {name} never got ready; its log: {log_file}")
            await asyncio.sleep(0.02)
        yield


def relay_on(broker: Mosquitto, workdir: Path, kind: str) -> AbstractAsyncContextManager[None]:
    """The relay of `kind` (`bench.relay`), subscribed, until the block ends."""
    arguments = ["bench.relay", broker.host, str(broker.port), kind]
    return ready_child(f"{kind} relay", arguments, workdir / f"relay-{kind}.log")


def onlooker_on(broker: Mosquitto, workdir: Path, room: str) -> AbstractAsyncContextManager[None]:
    """A console's link to `room` (`bench.onlooker`), reading its state, until the block ends."""
    arguments = ["bench.onlooker", broker.host, str(broker.port), room]
    return ready_child("onlooker", arguments, workdir / f"onlooker-{room}.log")


@dataclass(frozen=True)
class SamplerTopics:
    """Where a Sampler's commands go and what it awaits on the wire."""

    light_device: str
    light: str
    """The nudged light's command topic."""
    vr: list[str]
    every: list[str]
    """Every command topic of the room (a scene change's first message may be on any)."""
    every_kind: bool


class Sampler:
    """Times commands to one running room: each `take` is one raw hop and one light nudge
    (with `every_kind`, a relayed floor, a VR toggle and a scene change too), each after a
    random pause."""

    def __init__(
        self,
        running: RunningRoom,
        wire: Wire,
        out: aiomqtt.Client,
        topics: SamplerTopics,
    ) -> None:
        self._running = running
        self._wire = wire
        self._out = out
        self._topics = topics
        self._rng = random.Random(4)
        self._taken = 0
        """Samples taken so far (the nudge's level and the toggles alternate with it)."""

    async def _timed(self, topic: str, payload: str, awaited: Sequence[str]) -> float:
        await asyncio.sleep(self._rng.uniform(0, MAX_PAUSE_S))
        seconds, _arrivals = await publish_until(
            self._wire,
            self._out,
            topic,
            payload,
            dict.fromkeys(awaited, 1),
            SAMPLE_TIMEOUT_S,
            any_of=True,
        )
        return seconds

    async def take(self, into: LatencySamples) -> None:
        """Time one sample of each kind into `into`."""
        index, topics = self._taken, self._topics
        self._taken += 1
        cmd = self._running.topics.cmd
        nudge = command_payload("lights", device=topics.light_device, level=LEVELS[index % 2])
        await asyncio.sleep(self._rng.uniform(0, MAX_PAUSE_S))
        into.raw.append(await raw_hop(self._wire, self._out, nudge, SAMPLE_TIMEOUT_S))
        into.engine.append(await self._timed(cmd, nudge, [topics.light]))
        if not topics.every_kind:
            return
        for floor, kind in ((into.floor, "aiomqtt"), (into.paho_floor, "paho")):
            inbound, outbound = relay.topics(kind)
            floor.append(await self._timed(inbound, nudge, [outbound]))
        toggle = command_payload("vr", op=VR_OPS[index % 2])
        into.vr.append(await self._timed(cmd, toggle, topics.vr))
        scene = command_payload("scene", name=SCENES[index % 2])
        into.scene.append(await self._timed(cmd, scene, topics.every))


@contextlib.asynccontextmanager
async def sampler_on(
    room: Room, broker: Mosquitto, workdir: Path, *, every_kind: bool = False
) -> AsyncIterator[Sampler]:
    """The room running with a session open, its recorder subscribed, ready to be sampled
    (SETTLE_S after the session started); with `every_kind`, the relays too.

    A console's link reads the room's state in a process of its own (`onlooker_on`), and this
    process's control client is closed once the session is open: the process that times the
    commands reads only what it times, as a device does, not the state the engine publishes
    after every command."""
    device_id, device_topic = light_under_test(room)
    sampled = SamplerTopics(
        device_id,
        device_topic,
        list(command_topics(room, "vr").values()) if every_kind else [],
        list(command_topics(room).values()) if every_kind else [device_topic],
        every_kind,
    )
    async with contextlib.AsyncExitStack() as stack:
        running = await stack.enter_async_context(room_running(room, broker, workdir))
        await running.start_session()
        await stack.enter_async_context(onlooker_on(broker, workdir, room.room_id))
        relayed = [relay.topics(kind)[1] for kind in relay.KINDS]
        if every_kind:
            for kind in relay.KINDS:
                await stack.enter_async_context(relay_on(broker, workdir, kind))
        wire = await stack.enter_async_context(
            wire_on(broker, [*sampled.every, RAW_TOPIC, *relayed])
        )
        out = await stack.enter_async_context(publisher_on(broker))
        await asyncio.sleep(SETTLE_S)
        await running.close_client()
        yield Sampler(running, wire, out, sampled)


async def measure(
    room: Room, broker: Mosquitto, workdir: Path, samples: int, *, every_kind: bool = False
) -> LatencySamples:
    """Time `samples` light nudges beside as many raw hops; with `every_kind`, as many VR
    toggles, scene changes and relayed floors too."""
    measured = LatencySamples([], [])
    async with sampler_on(room, broker, workdir, every_kind=every_kind) as sampler:
        for _ in range(samples):
            await sampler.take(measured)
    return measured


def floor_figures(
    name: str, samples: list[float], floor: list[float], floor_name: str, targeted: bool
) -> list[Figure]:
    """p50 and p99 of `samples` against those of a relay floor; with `targeted`, the
    targets too."""
    return [
        Figure(
            f"cmd→wire {name} p{round(fraction * 100)} (n={len(samples)})"
            + ("" if targeted else f" vs {floor_name}"),
            percentile(samples, fraction) * 1000.0,
            "ms",
            percentile(floor, fraction) * 1000.0,
            f"{floor_name} p{round(fraction * 100)}",
            Target.ratio_at_most(target) if targeted else None,
        )
        for fraction, target in ((0.50, P50_FLOOR_TARGET), (0.99, P99_FLOOR_TARGET))
    ]


def relay_figures(floor: list[float], kind: str, raw_p50: float, raw_p99: float) -> list[Figure]:
    """The p50 and p99 of the relay of `kind` against the raw hop's (in ms)."""
    return [
        Figure(
            f"{kind} relay floor (two hops) p{round(fraction * 100)} (n={len(floor)})",
            percentile(floor, fraction) * 1000.0,
            "ms",
            raw,
            f"raw hop p{round(fraction * 100)}",
        )
        for fraction, raw in ((0.50, raw_p50), (0.99, raw_p99))
    ]


def figures(measured: LatencySamples) -> list[Figure]:
    ms = 1000.0
    engine_p50 = percentile(measured.engine, 0.50) * ms
    engine_p99 = percentile(measured.engine, 0.99) * ms
    raw_p50 = percentile(measured.raw, 0.50) * ms
    raw_p99 = percentile(measured.raw, 0.99) * ms
    count = len(measured.engine)
    one_hop = [
        Figure(f"cmd→wire latency p50 (n={count})", engine_p50, "ms", raw_p50, "raw hop p50"),
        Figure(
            f"cmd→wire latency p99 (n={count})",
            engine_p99,
            "ms",
            raw_p99,
            "raw hop p99",
            Target.ratio_at_most(P99_TARGET_RATIO),
        ),
    ]
    if not measured.floor:
        return one_hop
    floor, paho_floor = measured.floor, measured.paho_floor
    return [
        *one_hop,
        *relay_figures(floor, "aiomqtt", raw_p50, raw_p99),
        *relay_figures(paho_floor, "paho", raw_p50, raw_p99),
        *floor_figures("light nudge", measured.engine, floor, "aiomqtt relay", True),
        *floor_figures("VR toggle", measured.vr, floor, "aiomqtt relay", True),
        *floor_figures("scene change", measured.scene, floor, "aiomqtt relay", True),
        *floor_figures("light nudge", measured.engine, paho_floor, "paho relay", False),
        *floor_figures("VR toggle", measured.vr, paho_floor, "paho relay", False),
    ]
