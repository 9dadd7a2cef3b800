"""One rehearsal session recorded by the real engine on a simulated room, shared by the tests.

The engine (`RoomService`) runs the rehearsal plan at time scale 40 against a Mosquitto of
its own and the simulated room (`controller.sim.SimulatedRoom`), driven through the control
API (`RoomClient`) as a console would: a note, a lights and a volume override, an
extension, a hold, an operator BLS set (and the plan's cued one), an emergency and its
clearing. A sensor's out-of-range heart rate raises a vitals alert, the LED strip drops
out for a second and the broker is restarted once. Nothing in the journal is written by
hand.
Music and tones play through real VLC on headless outputs (`adummy`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from controller.api.client import RoomClient
from controller.api.topics import OFFLINE
from controller.cli.common import Overrides, apply_overrides
from controller.config import Room, load_room
from controller.config.settings import BrokerSettings
from controller.engine.phases import PhaseStatus
from controller.engine.service import RoomService
from controller.journal import list_sessions
from controller.sim import BrokerAddress, Fault, FaultKind, SimulatedRoom
from tests.conftest import REPO
from tests.support.mosquitto import Mosquitto
from tests.support.requirements import mosquitto_binary

TIME_SCALE = 40.0
PARTICIPANT = "P-014"
NOTE = "Breathing slowed, hands relaxed."


class Wire:
    """An independent subscriber: every message with its arrival time (monotonic seconds).

    It subscribes again after each reconnection, so it keeps listening across a broker restart;
    `subscribed_ns` holds the wall time (ns) of each subscription the broker confirmed.
    """

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.messages: list[tuple[float, str, str, bool]] = []
        self.subscribed_ns: list[int] = []
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self._client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *_: self.subscribed_ns.append(time.time_ns())
        self._client.on_message = lambda _c, _u, m: self.messages.append(
            (time.monotonic(), m.topic, m.payload.decode(), m.retain)
        )
        self._client.reconnect_delay_set(min_delay=0.05, max_delay=0.2)
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        time.sleep(0.2)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def saw(self, topic: str, payload: str, *, after: int) -> bool:
        """Whether `payload` arrived on `topic` after the first `after` messages."""
        return any(m[1:3] == (topic, payload) for m in self.messages[after:])


@dataclass(frozen=True)
class RecordedSession:
    """The recorded rehearsal: its journal file, the room it ran in, and what the broker carried."""

    path: Path
    data_dir: Path
    room: Room
    wire: list[tuple[str, str]]
    """(topic, payload) of every message a subscriber to `#` saw from `start` until `end`."""
    wire_to_the_end: list[tuple[str, str]]
    """The same from `start` until the engine's last message (`offline`) as it stopped."""
    blind_ns: tuple[int, int]
    """Wall times (ns): the broker stopped, and the subscriber's subscription came back."""

    @property
    def session_id(self) -> str:
        return self.path.stem


async def eventually(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll until `check()` is truthy, or fail with `what` after the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")


def room_on(broker: Mosquitto, data_dir: Path, room_id: str) -> Room:
    room = apply_overrides(
        load_room(REPO / "config.yaml"),
        Overrides(broker=broker.url, room_id=room_id, data_dir=data_dir),
    )
    room.settings = room.settings.model_copy(update={"time_scale": TIME_SCALE})
    for device_id in ("music", "tones"):
        room.devices[device_id] = room.devices[device_id].model_copy(update={"aout": "adummy"})
    return room


def out_of_range_reading(broker: Mosquitto) -> None:
    """The oximeter reports a heart rate above the alert threshold (blocking; in a thread)."""
    sensor = paho.Client(paho.CallbackAPIVersion.VERSION2)
    sensor.connect(broker.host, broker.port)
    sensor.loop_start()
    reading = {"hr": 131, "spo2": 96, "ts": round(time.time(), 3)}
    sensor.publish("vitals/oximeter", json.dumps(reading), qos=1).wait_for_publish(5)
    sensor.disconnect()  # first: it wakes the network thread, which loop_stop then joins at once
    sensor.loop_stop()


async def rehearse(broker: Mosquitto, data_dir: Path) -> RecordedSession:
    """Run the rehearsal described in the module docstring; return its journal."""
    room = room_on(broker, data_dir, f"r{uuid.uuid4().hex[:8]}")
    service = RoomService(room)
    engine = asyncio.create_task(service.run())
    address = BrokerAddress(host=broker.host, port=broker.port)
    strip_drops_out = Fault("strip", FaultKind.OFFLINE, at_s=2.6, for_s=1.0)
    settings = BrokerSettings(mode="external", host=broker.host, port=broker.port)
    wire = await asyncio.to_thread(Wire, broker, "#")
    try:
        async with SimulatedRoom(
            room.devices.values(), address, room_id=room.room_id, faults=[strip_drops_out]
        ) as simulated:
            await simulated.wait_online(10)
            async with RoomClient(settings, room=room.room_id, client_id="rehearsal") as client:

                async def do(action: str, **params: Any) -> None:
                    reply = await client.command(action, timeout=10, **params)
                    assert reply["ok"], reply

                def phase() -> PhaseStatus | None:
                    engine_now = service.engine
                    if engine_now is None or engine_now.session is None:
                        return None
                    return engine_now.session.run.status(engine_now.session_t() or 0.0)

                async def in_phase(name: str) -> None:
                    """Until the engine is in phase `name` (the phases end on the engine's
                    clock, the steps between them take the machine's time)."""
                    await eventually(lambda: (now := phase()) and now.name == name, name)

                # the room takes its idle scene once the engine has settled: a session
                # started sooner has its scene held back by the gate (docs/safety.md)
                await eventually(
                    lambda: service.engine is not None and service.engine.scene == "idle",
                    "the idle scene",
                )
                before_the_session = len(wire.messages)
                await do("start", plan="rehearsal", participant=PARTICIPANT)
                await asyncio.sleep(0.3)
                await do("note", text=NOTE)
                await asyncio.sleep(0.2)
                await do("lights", level=0.6)
                await asyncio.sleep(0.2)
                await do("volume", level=0.5)
                await asyncio.to_thread(out_of_range_reading, broker)
                await eventually(lambda: service.engine and service.engine.board.alerts, "an alert")
                await asyncio.sleep(0.8)
                await in_phase("peak")  # the extension and the hold are the peak's
                await do("extend", seconds=30)
                await asyncio.sleep(0.3)
                await do("hold")
                await asyncio.sleep(0.4)
                await do("release")
                await asyncio.sleep(0.3)
                # What the broker acknowledged before it stops reached the subscriber; so that
                # only what the engine journals from the stop on can be lost to the outage,
                # nothing may wait for an acknowledgement as it stops (the stop blocks the loop).
                await eventually(lambda: unconfirmed(service) == 0, "the engine's messages acked")
                stopped_ns = time.time_ns()
                broker.stop()
                await asyncio.sleep(0.5)
                broker.start()
                await do("bls", op="start", speed_hz=1.5, passes=6, device="tappers")
                await asyncio.sleep(1.0)
                await in_phase("integration")  # however fast the broker came back
                await do("emergency")
                await asyncio.sleep(0.3)
                await do("clear_emergency")
                await do("release")

                def integration_done() -> bool:
                    status = phase()
                    return (
                        status is not None
                        and status.name == "integration"
                        and status.elapsed_s >= status.planned_s
                    )

                await eventually(integration_done, "the end of integration", timeout=20)
                session_end = len(wire.messages)  # what the room is sent after `end` is unjournaled
                await do("end")
                await asyncio.sleep(0.3)
        engine.cancel()
        await asyncio.gather(engine, return_exceptions=True)
        # The engine's bus sends what it still holds, then `offline`, on the same connection
        # with the same QoS: once the subscriber has that, it has everything the engine sent.
        status = service.topics.status
        await eventually(lambda: wire.saw(status, OFFLINE, after=session_end), "offline")
    finally:
        engine.cancel()
        await asyncio.gather(engine, return_exceptions=True)
        wire.close()
    [info] = list_sessions(data_dir)
    carried = [(topic, payload) for _, topic, payload, _ in wire.messages[before_the_session:]]
    resubscribed_ns = next(ns for ns in wire.subscribed_ns if ns > stopped_ns)
    return RecordedSession(
        info.path,
        data_dir,
        room,
        carried[: session_end - before_the_session],
        carried,
        (stopped_ns, resubscribed_ns),
    )


def unconfirmed(service: RoomService) -> int:
    """Messages the engine's bus holds that the broker has not acknowledged (queued or sent)."""
    bus = service.bus
    if bus is None:
        return 0
    in_flight = bus._in_flight  # the bus's own queue and batch: no public view of them
    return len(bus._outbox) + (len(in_flight.unacknowledged()) if in_flight else 0)


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordedSession]:
    """The rehearsal, recorded once for the whole test run."""
    broker = Mosquitto(mosquitto_binary(), tmp_path_factory.mktemp("research-broker"))
    broker.start()
    data_dir = tmp_path_factory.mktemp("research-data")
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as worker:
            yield worker.submit(asyncio.run, rehearse(broker, data_dir)).result()
    finally:
        broker.stop()
