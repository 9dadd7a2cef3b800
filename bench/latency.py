"""Command-to-wire latency: a `lights` override on `cmd` until its device command is on the wire.

Each sample alternates one Zigbee2MQTT light of the example room between two levels (a
device message every time, well under the flash limit), with a session running so the
journal works as in a real session. The raw hop is a plain publish of the same command
payload to a topic of its own, through the same clients and broker. Raw and engine samples
alternate, each after a random pause, so both meet the same conditions and no sample is
phase-locked to the engine's tick.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure, Target, percentile
from bench.rooms import command_topics
from bench.stage import room_running
from bench.wire import RAW_TOPIC, command_payload, publish_until, publisher_on, raw_hop, wire_on
from controller.config import Room
from tests.support.mosquitto import Mosquitto

LEVELS = (0.50, 0.55)
"""Alternated override levels: 5 % apart, below the 10 % a flash needs."""
MAX_PAUSE_S = 0.05
SAMPLE_TIMEOUT_S = 5.0
SETTLE_S = 1.0
"""After the session starts, before sampling: its first scene reaches the devices."""
P99_TARGET_RATIO = 3.0


@dataclass(frozen=True)
class LatencySamples:
    engine: list[float]
    raw: list[float]


def light_under_test(room: Room) -> tuple[str, str]:
    """The first Zigbee2MQTT light of the room and the topic its commands go to."""
    for device_id, topic in command_topics(room, "light").items():
        if room.devices[device_id].driver == "zigbee2mqtt":
            return device_id, topic
    raise ValueError(f"room {room.room_id} has no Zigbee2MQTT light to measure with")


async def measure(room: Room, broker: Mosquitto, workdir: Path, samples: int) -> LatencySamples:
    device_id, device_topic = light_under_test(room)
    measured = LatencySamples([], [])
    rng = random.Random(4)
    async with room_running(room, broker, workdir) as running:
        await running.start_session()
        async with wire_on(broker, [device_topic, RAW_TOPIC]) as wire, publisher_on(broker) as out:
            await asyncio.sleep(SETTLE_S)
            for index in range(samples):
                payload = command_payload("lights", device=device_id, level=LEVELS[index % 2])
                await asyncio.sleep(rng.uniform(0, MAX_PAUSE_S))
                measured.raw.append(await raw_hop(wire, out, payload, SAMPLE_TIMEOUT_S))
                await asyncio.sleep(rng.uniform(0, MAX_PAUSE_S))
                seconds, _arrivals = await publish_until(
                    wire, out, running.topics.cmd, payload, {device_topic: 1}, SAMPLE_TIMEOUT_S
                )
                measured.engine.append(seconds)
    return measured


def figures(measured: LatencySamples) -> list[Figure]:
    ms = 1000.0
    engine_p50 = percentile(measured.engine, 0.50) * ms
    engine_p99 = percentile(measured.engine, 0.99) * ms
    raw_p50 = percentile(measured.raw, 0.50) * ms
    raw_p99 = percentile(measured.raw, 0.99) * ms
    count = len(measured.engine)
    return [
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
