"""Scene fan-out: a `scene` command until the last light of a large room has its command.

The room is generated (`bench.rooms`): many simulated Zigbee2MQTT and WLED lights and two
scenes addressing `all`, alternated so every light gets a message every time. The raw
baseline publishes the very payloads the engine just sent, one after the other with a plain
aiomqtt client (QoS 1, each awaited, as the engine's bus publishes). Engine and raw
fan-outs alternate, with a pause between them in which the simulated lights settle.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from bench.figures import Figure, Target
from bench.rooms import FANOUT_SCENES, command_topics
from bench.stage import room_running
from bench.wire import QOS, Arrival, Wire, command_payload, publish_until, publisher_on, wire_on
from controller.config import Room
from tests.support.mosquitto import Mosquitto

PAUSE_S = (1.0, 1.5)
"""Pause between fan-outs (uniform in this range): the lights' fade and reports are over."""
SETTLE_S = 2.0
FANOUT_TIMEOUT_S = 30.0
TARGET_RATIO = 2.0


@dataclass(frozen=True)
class FanoutSamples:
    lights: int
    engine: list[float]
    raw: list[float]


async def measure(room: Room, broker: Mosquitto, workdir: Path, scenes: int) -> FanoutSamples:
    topics = list(command_topics(room, "light").values())
    measured = FanoutSamples(len(topics), [], [])
    rng = random.Random(200)
    names = list(FANOUT_SCENES)
    async with room_running(room, broker, workdir) as running:
        await running.start_session()
        async with wire_on(broker, topics) as wire, publisher_on(broker) as out:
            await asyncio.sleep(SETTLE_S)
            for index in range(scenes):
                command = command_payload("scene", name=names[index % len(names)])
                seconds, sent = await engine_fanout(wire, out, running.topics.cmd, command, topics)
                measured.engine.append(seconds)
                await asyncio.sleep(rng.uniform(*PAUSE_S))
                measured.raw.append(await raw_fanout(wire, out, sent))
                await asyncio.sleep(rng.uniform(*PAUSE_S))
    return measured


async def engine_fanout(
    wire: Wire, out: aiomqtt.Client, cmd_topic: str, command: str, topics: list[str]
) -> tuple[float, dict[str, Arrival]]:
    """Send a scene command; time it to the last light's command, and return what was sent."""
    seconds, arrivals = await publish_until(
        wire, out, cmd_topic, command, dict.fromkeys(topics, 1), FANOUT_TIMEOUT_S
    )
    return seconds, {arrival.topic: arrival for arrival in arrivals}


async def raw_fanout(wire: Wire, out: aiomqtt.Client, sent: dict[str, Arrival]) -> float:
    """Publish what the engine sent, in the same order, and time it to the last arrival."""
    in_order = sorted(sent.values(), key=lambda arrival: arrival.at)

    async def publish_all() -> None:
        for arrival in in_order:
            await out.publish(arrival.topic, arrival.payload, qos=QOS)

    started = time.perf_counter()
    arrivals = await wire.counted(dict.fromkeys(sent, 1), FANOUT_TIMEOUT_S, send=publish_all)
    return max(arrival.at for arrival in arrivals) - started


def figures(measured: FanoutSamples) -> list[Figure]:
    ms = 1000.0
    count = len(measured.engine)
    median = statistics.median(measured.engine) * ms
    raw_median = statistics.median(measured.raw) * ms
    return [
        Figure(
            f"scene fan-out to {measured.lights} lights, median of {count}",
            median,
            "ms",
            raw_median,
            "raw publish, median",
            Target.ratio_at_most(TARGET_RATIO),
        ),
        Figure(
            f"scene fan-out to {measured.lights} lights, worst of {count}",
            max(measured.engine) * ms,
            "ms",
            max(measured.raw) * ms,
            "raw publish, worst",
        ),
    ]
