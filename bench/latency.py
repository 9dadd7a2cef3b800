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
import time
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from bench.figures import Figure, Target, percentile
from bench.stage import room_running
from bench.wire import QOS, Wire, command_payload, publisher_on, wire_on
from controller.config import Room
from controller.drivers.base import LightCommand, LightDriver
from controller.drivers.registry import make_driver
from tests.support.mosquitto import Mosquitto

RAW_TOPIC = "bench/raw-hop"
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
    for device in room.devices_of_kind("light"):
        if device.driver == "zigbee2mqtt":
            driver = make_driver(device)
            assert isinstance(driver, LightDriver)
            return device.id, driver.command(LightCommand(level=0.5))[0].topic
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
                measured.raw.append(await hop(wire, out, RAW_TOPIC, payload, RAW_TOPIC))
                await asyncio.sleep(rng.uniform(0, MAX_PAUSE_S))
                measured.engine.append(
                    await hop(wire, out, running.topics.cmd, payload, device_topic)
                )
    return measured


async def hop(wire: Wire, out: aiomqtt.Client, topic: str, payload: str, arrives_on: str) -> float:
    """Seconds from publishing `payload` to `topic` until a message arrives on `arrives_on`."""

    async def send() -> None:
        await out.publish(topic, payload, qos=QOS)

    sent_at = time.perf_counter()
    arrival = await wire.first(
        lambda arrival: arrival.topic == arrives_on, SAMPLE_TIMEOUT_S, send=send
    )
    return arrival.at - sent_at


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
