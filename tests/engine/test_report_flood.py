"""A device flooding its reports never delays a command: `sessionroom run` on a real Mosquitto.

Two processes publish garbage on a device's state topic as fast as they can (a device gone
wrong, or taken over): more than the engine can read. One MQTT connection's messages come
in order, so on a connection shared with the commands the flood stood in front of an
emergency for as long as the engine took to read it (seconds, growing with the flood). The
engine reads device reports on a connection of their own (docs/robustness.md), and the
emergency's lights-up reaches the wire at once. The lights are watched by a subscriber of
their own topic only, so the flood does not stand in front of what it hears either.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho

from controller.config import Room
from controller.drivers.registry import make_driver
from controller.engine.service import RoomService
from tests.engine.test_service import CEILING, client_for, eventually, room_on
from tests.support.mosquitto import Mosquitto

FLOODERS = 2
FLOOD_S = 8.0
"""How long each flooder publishes at most (it is stopped once the test has its answer)."""
BACKLOG_S = 3.0
"""How long the flood runs before the emergency is pressed."""
LIGHTS_UP_WITHIN_S = 1.5
NOT_A_REPORT = b"\xff not a report"
FLOODER = """
import sys, time
import paho.mqtt.client as paho
host, port, topic, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
payload = bytes.fromhex(sys.argv[5])
client = paho.Client(paho.CallbackAPIVersion.VERSION2)
client.connect(host, port)
client.loop_start()
end = time.monotonic() + seconds
for _ in range(20_000):
    if time.monotonic() > end:
        break
    for _ in range(200):
        client.publish(topic, payload, qos=0)
    time.sleep(0.0005)
client.loop_stop()
"""


@contextlib.contextmanager
def flooding(broker: Mosquitto, topic: str, payload: bytes = NOT_A_REPORT) -> Iterator[None]:
    """`FLOODERS` processes publishing `payload` on `topic` as fast as they can."""
    command = [sys.executable, "-c", FLOODER, broker.host, str(broker.port), topic, str(FLOOD_S)]
    flooders = [subprocess.Popen([*command, payload.hex()]) for _ in range(FLOODERS)]
    try:
        yield
    finally:
        for flooder in flooders:
            flooder.kill()
            flooder.wait()


class Lights:
    """A subscriber of the ceiling light's command topic alone, timing what it hears."""

    def __init__(self, broker: Mosquitto) -> None:
        self.heard: list[float] = []
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"lights-{uuid.uuid4().hex}"
        )
        self._client.on_message = lambda *_: self.heard.append(time.monotonic())
        self._client.connect(broker.host, broker.port)
        self._client.subscribe(CEILING, qos=1)
        self._client.loop_start()

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@contextlib.asynccontextmanager
async def engine_on(broker: Mosquitto, room: Room) -> AsyncIterator[str]:
    """The engine of `room` with a session running; yields its room id."""
    service = RoomService(room)
    task = asyncio.create_task(service.run())
    try:
        async with client_for(broker, service.room.room_id) as client:
            start = await client.command("start", timeout=5, plan="rehearsal", participant="P1")
            assert start["ok"]
        yield service.room.room_id
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def a_device_s_reports(room: Room) -> str:
    """The light strip's state topic."""
    return make_driver(room.devices["strip"]).state_topics()[0]


async def lights_up_after_press(
    broker: Mosquitto,
    room: Room,
    flooded: Callable[[Room], str] = a_device_s_reports,
    payload: bytes = NOT_A_REPORT,
) -> float:
    """Seconds from the emergency's press on `cmd` to the ceiling's lights-up, `payload`
    flooding the room's topic that `flooded` names."""
    lights = Lights(broker)
    try:
        async with engine_on(broker, room) as room_id:
            with flooding(broker, flooded(room), payload):
                await asyncio.sleep(BACKLOG_S)  # the flood builds its backlog meanwhile
                async with client_for(broker, room_id) as client:
                    heard = len(lights.heard)
                    pressed = time.monotonic()
                    reply = asyncio.create_task(client.command("emergency", timeout=30))
                    await eventually(lambda: len(lights.heard) > heard, "the lights-up", timeout=30)
                    assert (await reply)["ok"]
                return lights.heard[heard] - pressed
    finally:
        lights.close()


async def test_an_emergency_is_carried_out_at_once_while_a_device_floods_its_reports(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Measured: 27–40 ms; with the reports on the commands' connection (`reports_apart`
    False, as before) the engine did not answer within 30 s: behind the flood, the broker's
    acknowledgements of its own messages came too late, and it dropped the connection."""
    room = room_on(private_mosquitto, tmp_path)
    took_s = await lights_up_after_press(private_mosquitto, room)
    assert took_s < LIGHTS_UP_WITHIN_S
