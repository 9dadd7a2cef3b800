"""`sessionroom run` against a real Mosquitto: the control API, the wire, crash resume, outages.

Device messages are captured by an independent subscriber (paho), as a device would see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from bench.stages import published_topics
from controller.api.client import RoomClient
from controller.api.commands import NO_ID, parse_command
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.config.settings import BrokerSettings
from controller.console import link as console_link
from controller.engine import engine as engine_module
from controller.engine import service as service_module
from controller.engine.engine import Engine
from controller.engine.lock import RoomBusy
from controller.engine.output import LATCHED
from controller.engine.service import (
    HANDOVER_S,
    RETAINED_COMMAND,
    START_UNDER_WAY,
    RoomService,
    another_engine_online,
)
from controller.journal import Journal, list_sessions, read_events
from controller.journal.sessions import find_open_session
from controller.journal.store import sessions_dir
from controller.media.outputs import TONES_MODULE
from tests.conftest import REPO
from tests.engine.test_volume_on_the_wire import too_fast
from tests.support.mosquitto import Mosquitto

DEADLINE_S = 10.0
CEILING = "zigbee2mqtt/ceiling_light/set"
HEADSET = "vr/headset/set"
STALL_S = 1.0


class Wire:
    """An independent MQTT subscriber recording everything on the broker."""

    def __init__(self, broker: Mosquitto) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.arrivals: list[float] = []
        """When (monotonic seconds) each of `messages` arrived."""
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"wire-{uuid.uuid4().hex}"
        )
        self._client.on_message = self._arrived
        self._client.connect(broker.host, broker.port)
        self._client.subscribe("#", qos=1)
        self._client.loop_start()

    def _arrived(self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        self.arrivals.append(time.monotonic())
        self.messages.append((message.topic, message.payload, message.retain))

    def payloads(self, topic: str) -> list[str]:
        return [payload.decode() for t, payload, _ in self.messages if t == topic]

    def timed(self, topic: str) -> list[tuple[float, str]]:
        """(arrival, payload) of each message on `topic`."""
        return [
            (at, payload.decode())
            for at, (t, payload, _) in zip(self.arrivals, self.messages, strict=False)
            if t == topic
        ]

    def volumes(self, topic: str) -> list[tuple[float, int]]:
        """(arrival, volume) of each message on `topic` that sets a volume."""
        return [
            (at, json.loads(payload)["volume"])
            for at, payload in self.timed(topic)
            if "volume" in json.loads(payload)
        ]

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


async def eventually(check: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    """Poll until `check()` is truthy, or fail with `what` after the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")


def room_on(broker: Mosquitto, data_dir: Path, *, time_scale: float = 1.0) -> Any:
    room = apply_overrides(
        load_room(REPO / "config.yaml"),
        Overrides(broker=broker.url, room_id=f"r{uuid.uuid4().hex[:8]}", data_dir=data_dir),
    )
    room.settings = room.settings.model_copy(update={"time_scale": time_scale})
    return room


@pytest.fixture
def wire(mosquitto: Mosquitto) -> Iterator[Wire]:
    recorder = Wire(mosquitto)
    yield recorder
    recorder.close()


@pytest.fixture
async def service(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[RoomService]:
    room_service = RoomService(room_on(mosquitto, tmp_path, time_scale=10.0))
    task = asyncio.create_task(room_service.run())
    # its engine is made once the data folder was read (the lock, the marker) on a thread
    await eventually(lambda: room_service.engine is not None, "the engine")
    yield room_service
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def client_for(broker: Mosquitto, room: str) -> RoomClient:
    settings = BrokerSettings(mode="external", host=broker.host, port=broker.port)
    return RoomClient(settings, room=room, client_id=f"test-{uuid.uuid4().hex}")


@contextlib.asynccontextmanager
async def session_running(broker: Mosquitto, tmp_path: Path) -> AsyncIterator[RoomService]:
    """The engine as a service on `broker`, a session of the standard plan started; the
    engine is stopped afterwards, and the broker started again if a test stopped it."""
    room_service = RoomService(room_on(broker, tmp_path, time_scale=1.0))
    task = asyncio.create_task(room_service.run())
    try:
        async with client_for(broker, room_service.room.room_id) as client:
            assert (await client.command("start", timeout=5, plan="standard", participant="P9"))[
                "ok"
            ]
        yield room_service
    finally:
        if not broker.running:
            broker.start()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_second_engine_of_a_room_online_elsewhere_on_the_broker_does_not_start(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    """The room's lock holds on one computer and data_dir only. Two engines of one room on
    one broker took each other's connection (one client id) several times a second, each
    asserting its own scene as it reconnected: a light flashed between their levels and the
    room's emergency was undone by the engine that had not been pressed."""
    room = room_on(mosquitto, tmp_path / "here")
    first = asyncio.create_task(RoomService(room).run())
    status = f"sessionroom/{room.room_id}/status"
    await eventually(lambda: wire.payloads(status) == ["online"], "status online")
    elsewhere = apply_overrides(room, Overrides(data_dir=tmp_path / "elsewhere"))

    with pytest.raises(RoomBusy, match="already has an engine online on the broker"):
        await asyncio.wait_for(RoomService(elsewhere).run(), DEADLINE_S)

    assert wire.payloads(status) == ["online"]  # the first was never cut off
    assert not (tmp_path / "elsewhere" / "sessions").exists()  # nor a journal begun
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    # stopped (its status offline, retained), the room starts elsewhere
    second = asyncio.create_task(RoomService(elsewhere).run())
    await eventually(lambda: wire.payloads(status) == ["online", "offline", "online"], "again")
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)


async def test_an_online_status_no_engine_stands_behind_does_not_keep_the_room_from_starting(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    """An engine whose computer lost power leaves `online` retained until the broker gives
    up its connection (its keepalive): an engine started meanwhile, hearing no state, starts."""
    room = room_on(mosquitto, tmp_path)
    status = f"sessionroom/{room.room_id}/status"
    left = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"gone-{uuid.uuid4().hex}")
    left.connect(mosquitto.host, mosquitto.port)
    left.loop_start()
    left.publish(status, "online", qos=1, retain=True).wait_for_publish(5)
    left.loop_stop()
    left.disconnect()
    await eventually(lambda: wire.payloads(status) == ["online"], "the stale status retained")
    engine = asyncio.create_task(RoomService(room).run())
    try:
        async with client_for(mosquitto, room.room_id) as client:
            state = await client.state(timeout=DEADLINE_S)
        assert state["room"] == room.room_id
    finally:
        engine.cancel()
        await asyncio.gather(engine, return_exceptions=True)


async def test_a_stale_state_a_bridge_passes_on_as_it_connects_does_not_keep_the_room_from_starting(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    """A room PC coming back after a power cut: its own broker kept `online`, and its bridge,
    connecting while the engine looks, passes on the facility broker's retained state once,
    to the engine's lookout as a live message. One state is no engine: the room starts."""
    room = room_on(mosquitto, tmp_path)
    base = f"sessionroom/{room.room_id}"
    bridge = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"bridge-{uuid.uuid4().hex}")
    bridge.connect(mosquitto.host, mosquitto.port)
    bridge.loop_start()
    try:
        bridge.publish(f"{base}/status", "online", qos=1, retain=True).wait_for_publish(5)
        await eventually(lambda: wire.payloads(f"{base}/status") == ["online"], "online kept")
        look = asyncio.create_task(another_engine_online(room, room.settings.broker))
        echo = f"{base}-replay/lookout/"
        await eventually(lambda: any(t.startswith(echo) for t, _, _ in wire.messages), "looking")
        stale = json.dumps({"room": room.room_id})
        bridge.publish(f"{base}/state", stale, qos=1, retain=True).wait_for_publish(5)

        assert not await asyncio.wait_for(look, DEADLINE_S)
    finally:
        bridge.loop_stop()
        bridge.disconnect()


async def test_the_engine_announces_itself_and_its_will_says_offline(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    room = room_on(mosquitto, tmp_path)
    task = asyncio.create_task(RoomService(room).run())
    status = f"sessionroom/{room.room_id}/status"
    await eventually(lambda: wire.payloads(status) == ["online"], "status online")
    await eventually(lambda: wire.payloads(f"sessionroom/{room.room_id}/state"), "retained state")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await eventually(lambda: wire.payloads(status)[-1:] == ["offline"], "status offline")


async def test_a_command_gets_a_reply_and_its_device_messages_reach_the_wire(
    mosquitto: Mosquitto, service: RoomService, wire: Wire
) -> None:
    room = service.room.room_id
    async with client_for(mosquitto, room) as client:
        reply = await client.command("start", timeout=5, plan="rehearsal", participant="P014")
        assert reply["ok"] is True
        refused = await client.command("goto", timeout=5, phase="centering")
        assert refused == {
            "id": refused["id"],
            "ok": False,
            "error": "the session is already in centering",
        }
        state = await client.state(timeout=5)
    assert state["session"]["participant"] == "P014"
    assert state["phase"]["name"] == "centering"
    await eventually(
        lambda: (
            '{"action":"play","content":"breathing:6","volume":0}'
            in wire.payloads("vr/headset/set")
        ),
        "the headset's play command",
    )


async def test_a_client_hears_the_events_of_the_commands_it_sends_after_it_listens(
    mosquitto: Mosquitto, service: RoomService
) -> None:
    """A client subscribes to the room's events with its first handler, not before (a `ctl`
    is not sent the event stream); a command sent after that has its events heard."""
    room = service.room.room_id
    async with client_for(mosquitto, room) as client:
        await client.wait_online(5)
        heard: list[dict[str, Any]] = []
        client.on_event(heard.append)
        reply = await client.command("start", timeout=5, plan="rehearsal", participant="P014")
        assert reply["ok"] is True
        await eventually(
            lambda: any(event["kind"] == "session" for event in heard), "the session's event"
        )


async def test_a_malformed_command_is_answered_with_the_reason(
    mosquitto: Mosquitto, service: RoomService, wire: Wire
) -> None:
    topic = f"sessionroom/{service.room.room_id}"
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    await eventually(lambda: wire.payloads(f"{topic}/status") == ["online"], "engine online")
    publisher.publish(f"{topic}/cmd", b'{"id": "bad1", "action": "fly"}', qos=1)
    publisher.publish(f"{topic}/cmd", b"\x00garbage", qos=1)
    replies = await eventually(lambda: wire.payloads(f"{topic}/reply/bad1"), "reply to bad1")
    assert json.loads(replies[0])["error"].startswith("unknown action 'fly'")
    invalid = await eventually(lambda: wire.payloads(f"{topic}/reply/invalid"), "reply to garbage")
    assert json.loads(invalid[0]) == {
        "id": "invalid",
        "ok": False,
        "error": "malformed command: payload is not valid JSON (Expecting value: line 1 column 1 "
        "(char 0))",
    }
    publisher.loop_stop()


async def test_vr_content_with_a_lone_surrogate_cannot_stop_the_tick_loop(
    mosquitto: Mosquitto, service: RoomService, wire: Wire
) -> None:
    """docs/robustness.md: the string never enters the state, so the retained state (which
    once raised PydanticSerializationError in every tick) keeps being published."""
    room = service.room.room_id
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    state_topic = f"sessionroom/{room}/state"
    await eventually(lambda: wire.payloads(f"sessionroom/{room}/status") == ["online"], "online")
    for content in (b"a\\ud800b", b"x" * 65_000):
        publisher.publish("vr/headset/state", b'{"status":"playing","content":"' + content + b'"}')
    events = f"sessionroom/{room}/events"
    await eventually(
        lambda: any("lone UTF-16 surrogate" in p for p in wire.payloads(events)), "the error"
    )
    published = len(wire.payloads(state_topic))
    await eventually(lambda: len(wire.payloads(state_topic)) >= published + 2, "states go on")
    last = json.loads(wire.payloads(state_topic)[-1])
    assert last["devices"]["headset"]["state"] == {}
    async with client_for(mosquitto, room) as client:
        assert (await client.command("start", timeout=5, plan="rehearsal", participant="P1"))["ok"]
    publisher.loop_stop()


async def test_notes_never_travel_on_the_events_topic(
    mosquitto: Mosquitto, service: RoomService, wire: Wire
) -> None:
    room = service.room.room_id
    async with client_for(mosquitto, room) as client:
        await client.command("start", timeout=5, plan="rehearsal", participant="P014")
        await client.command("note", timeout=5, text="private words")
    events = await eventually(
        lambda: [
            json.loads(p) for p in wire.payloads(f"sessionroom/{room}/events") if '"note"' in p
        ],
        "the note event",
    )
    assert events[0]["payload"] is None
    assert all(
        b"private words" not in payload
        for topic, payload, _ in wire.messages
        if "/cmd" not in topic
    )


def engine_process(
    broker: Mosquitto, data_dir: Path, room: str, scale: float, config: Path = REPO / "config.yaml"
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller.cli",
            "run",
            "--config",
            str(config),
            "--broker",
            broker.url,
            "--room",
            room,
            "--data-dir",
            str(data_dir),
            "--time-scale",
            str(scale),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def rehearse_until(client: RoomClient, phase: str) -> None:
    """Start the rehearsal plan and go to `phase` (after the guard against double presses:
    the engines here run at time scale 10)."""
    assert (await client.command("start", timeout=5, plan="rehearsal", participant="P7"))["ok"]
    await asyncio.sleep(0.3)
    assert (await client.command("goto", timeout=5, phase=phase))["ok"]


async def test_a_vitals_reading_the_broker_retained_is_no_baseline(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A sensor misconfigured to retain left a reading on the broker long ago: the engine
    that connects now must not take it for one just measured (docs/safety.md#vitals-checks)."""
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    publisher.connect(private_mosquitto.host, private_mosquitto.port)
    publisher.loop_start()
    publisher.publish(
        "vitals/bp-cuff", b'{"sys": 118, "dia": 76}', qos=1, retain=True
    ).wait_for_publish()
    room_service = RoomService(room_on(private_mosquitto, tmp_path))
    task = asyncio.create_task(room_service.run())
    try:
        async with client_for(private_mosquitto, room_service.room.room_id) as client:
            await client.state(timeout=5)  # the engine has subscribed: retained ones came then
        publisher.publish("vitals/oximeter", b'{"hr": 71, "spo2": 98}', qos=1)
        engine = await eventually(
            lambda: (
                room_service.engine
                if room_service.engine
                and room_service.engine.vitals.get("oximeter", {}).get("hr") == 71
                else None
            ),
            "the live oximeter reading",
        )
        state = engine.snapshot()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        publisher.loop_stop()
    readings = {r.sensor: r.reading for r in state.checks.baseline.sensors}
    assert readings["bp-cuff"] is None and readings["oximeter"] is not None
    assert "bp-cuff" not in state.vitals


@contextlib.asynccontextmanager
async def killed_and_started_again(
    mosquitto: Mosquitto,
    tmp_path: Path,
    wire: Wire,
    before: Callable[[RoomClient], Awaitable[None]],
) -> AsyncIterator[RoomClient]:
    """An engine process for a new room does `before` with a client of it and is killed
    (SIGKILL); then a second engine starts on the same data (`started_again`): yields a
    client of it."""
    room = f"r{uuid.uuid4().hex[:8]}"
    status = f"sessionroom/{room}/status"
    first = engine_process(mosquitto, tmp_path, room, scale=10.0)
    try:
        await eventually(lambda: wire.payloads(status)[-1:] == ["online"], "first engine online")
        async with client_for(mosquitto, room) as client:
            await before(client)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    async with (
        started_again(mosquitto, tmp_path, wire, room, scale=10.0),
        client_for(mosquitto, room) as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def started_again(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire, room: str, *, scale: float
) -> AsyncIterator[None]:
    """Once the killed engine's will says offline, the wire is cleared and another engine
    process for `room` starts on the same data; it runs until the block ends."""
    status = f"sessionroom/{room}/status"
    await eventually(lambda: wire.payloads(status)[-1:] == ["offline"], "the will: offline")
    wire.messages.clear()
    again = engine_process(mosquitto, tmp_path, room, scale=scale)
    try:
        await eventually(lambda: wire.payloads(status)[-1:] == ["online"], "engine online again")
        yield
    finally:
        again.terminate()
        again.wait(timeout=10)


async def test_a_killed_engine_resumes_its_session_in_the_same_phase(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    async def hold_the_peak(client: RoomClient) -> None:
        await rehearse_until(client, "peak")
        assert (await client.command("hold", timeout=5))["ok"]
        await asyncio.sleep(0.5)

    async with killed_and_started_again(mosquitto, tmp_path, wire, hold_the_peak) as client:
        state = await client.state(timeout=5)
        assert state["phase"]["name"] == "peak"
        assert state["phase"]["held"] is True
        await eventually(
            lambda: any('"brightness":13' in p for p in wire.payloads(CEILING)),
            "the peak scene re-asserted to the ceiling light",
        )
    [info] = list_sessions(tmp_path)
    assert info.resumed and info.is_open
    resume = [e for e in read_events(info.path) if e.kind == "resume"]
    assert resume[0].phase == "peak"
    assert resume[0].payload["gap_s"] > 0  # type: ignore[index]


async def test_an_engine_killed_mid_emergency_starts_again_latched_lit_and_held(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    """docs/emergency.md#crash-and-resume: an engine killed (SIGKILL) a fifth of a second
    into an emergency's lights-up, in the dark peak, before its one-second confirmation:
    the next engine is latched, sends the safe scene again (never the peak's), keeps the
    phase held, starts no content, and still refuses what the latch refuses."""

    async def press_in_the_peak(client: RoomClient) -> None:
        await rehearse_until(client, "peak")
        await asyncio.sleep(0.3)
        assert (await client.command("emergency", timeout=5))["ok"]
        await asyncio.sleep(0.2)

    async with killed_and_started_again(mosquitto, tmp_path, wire, press_in_the_peak) as client:
        state = await client.state(timeout=5)
        refused = await client.command("lights", timeout=5, level=0.0)
        await asyncio.sleep(1.5)  # past the new engine's confirmation
    ceiling = wire.payloads(CEILING)
    headset = wire.payloads("vr/headset/set")
    assert state["emergency"]["active"] is True
    assert (state["phase"]["name"], state["phase"]["held"]) == ("peak", True)
    assert refused["ok"] is False and "emergency active" in refused["error"]
    assert ceiling and all('"brightness":203' in payload for payload in ceiling), ceiling
    assert headset and all(payload == '{"action":"stop"}' for payload in headset), headset


async def test_the_engine_rides_out_a_broker_restart_and_reasserts_the_room(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with session_running(private_mosquitto, tmp_path) as room_service:
        private_mosquitto.stop()
        await asyncio.sleep(0.5)
        private_mosquitto.start()
        wire = Wire(private_mosquitto)
        await eventually(
            lambda: wire.payloads(CEILING),
            "lights re-asserted after the outage",
        )
        engine = room_service.engine
        assert engine is not None
        broker_events = [e for e in engine.recorder.timeline if e.kind == "broker"]
        assert [e.text.split(" ")[1] for e in broker_events] == ["connected", "lost", "back"]
        wire.close()


async def test_a_volume_ramp_a_silent_broker_held_up_reaches_the_headset_no_faster_than_the_ramp(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The first phase's content ramps to 40 % over 4 s. The broker stops answering (its
    process stopped, its connections open) once the ramp has begun, and resumes after the
    engine has let the rest of it out: what the broker's host took meanwhile goes on at
    once, and the rest must not (docs/safety.md#volume-ramp), not even before the engine
    notices the silence (10 s); the content still gets to its 40 %."""
    wire = Wire(private_mosquitto)
    async with session_running(private_mosquitto, tmp_path) as room_service:
        engine = room_service.engine
        assert engine is not None
        await eventually(lambda: any(v > 0 for _, v in wire.volumes(HEADSET)), "the ramp begun")
        private_mosquitto.pause()
        try:
            await eventually(
                lambda: engine.output.volume_of("headset") >= 0.4, "the ramp let out to 40 %"
            )
        finally:
            private_mosquitto.resume()
        await heard_again_at_40(wire)
    wire.close()
    assert_ramped(wire, engine)


async def test_a_volume_ramp_a_broker_stalled_for_a_second_passed_on_late_is_not_followed_at_once(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The broker stalls for 1.1 s mid-ramp: long enough for the bus to stop adding to the
    batch it holds, too short for the steps queued since to pass their 0.5 s. What its host
    took before reaches the headset 1.1 s late as it resumes; the queued steps must not
    follow at once (they did: 13 % then 20 % within a millisecond). The broker acknowledges
    the held steps after their deadline: the rest is dropped, and the content fades in
    again from silence."""
    wire = Wire(private_mosquitto)
    async with session_running(private_mosquitto, tmp_path) as room_service:
        engine = room_service.engine
        assert engine is not None
        await eventually(lambda: any(v >= 10 for _, v in wire.volumes(HEADSET)), "10 % heard")
        steps = len(wire.volumes(HEADSET))
        await eventually(lambda: len(wire.volumes(HEADSET)) > steps, "the next step heard")
        private_mosquitto.pause()  # before the step after it is written
        try:
            paused_at = time.monotonic()
            await eventually(lambda: time.monotonic() > paused_at + STALL_S, "stalled")
        finally:
            private_mosquitto.resume()
        await heard_again_at_40(wire)
    wire.close()
    assert_ramped(wire, engine)


async def test_a_light_bar_s_stop_a_stalled_broker_held_is_not_followed_at_once_by_a_start(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A set runs on the light bar; the broker stalls; the operator stops the set (its stop
    is written as the broker stalls: its host takes it) and, two seconds later, starts
    another (the gate judged the bar dark for those seconds; it waits in the queue behind
    the stop not acknowledged). As the broker resumes, the stop reaches the bar, still lit,
    and the start must not follow it at once (dark and lit in a millisecond: a flash the
    gate never judged). The start is dropped and told: the engine stops the set and says
    so."""
    wire = Wire(private_mosquitto)
    bar = "bls/lightbar/set"
    async with session_running(private_mosquitto, tmp_path) as room_service:
        engine = room_service.engine
        assert engine is not None

        def operator(op: str) -> None:
            fields = {"passes": 20, "speed_hz": 1.0} if op == "start" else {}
            command = {"id": f"bar-{op}-{time.monotonic()}", "action": "bls", "op": op}
            command |= {"device": "lightbar", **fields}
            engine.command(parse_command(json.dumps(command).encode()))

        await asyncio.sleep(1.5)  # past the flash window of the engine's start
        operator("start")
        await eventually(lambda: any('"running":true' in p for p in wire.payloads(bar)), "lit")
        private_mosquitto.pause()
        try:
            paused_at = time.monotonic()
            operator("stop")
            await eventually(lambda: time.monotonic() > paused_at + 2.0, "stalled")
            operator("start")
            await eventually(lambda: time.monotonic() > paused_at + 2.2, "stalled")
        finally:
            private_mosquitto.resume()
        await eventually(
            lambda: "bls:lightbar" in {alert.key for alert in engine.snapshot().alerts},
            "the start held back, said",
        )
        await asyncio.sleep(0.5)
    wire.close()
    timed = wire.timed(bar)
    starts = [at for at, payload in timed if '"running":true' in payload]
    stops = [at for at, payload in timed if '"running":false' in payload]
    assert len(starts) == 1, timed  # the first set's, before the stall
    assert any(at > starts[0] for at in stops), timed
    assert "lightbar" not in engine.snapshot().bls.devices


async def heard_again_at_40(wire: Wire) -> None:
    """Wait until the headset hears 40 % after what it heard so far."""
    resumed = len(wire.volumes(HEADSET))
    await eventually(
        lambda: 40 in [v for _, v in wire.volumes(HEADSET)[resumed:]], "the ramp again at 40 %"
    )


def assert_ramped(wire: Wire, engine: Engine) -> None:
    """The headset heard no rise faster than the ramp (docs/safety.md#volume-ramp), and the
    engine journaled that the content fades in again, and the console shows why it is quiet."""
    received = wire.volumes(HEADSET)
    assert too_fast(received, engine.room.settings.safety.volume_ramp_per_s) == [], received
    assert any(
        entry.kind == "error"
        and entry.text
        == "headset: volume steps did not reach the broker in time; "
        "content fades in again from silence"
        for entry in engine.recorder.timeline
    )
    assert "volume:headset" in {alert.key for alert in engine.snapshot().alerts}


async def test_while_the_broker_is_away_only_the_latest_state_waits_for_it(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The state goes out every second; an hour's outage must not fill the queue with stale
    states that go out first when the broker is back, ahead of the devices' targets, or push
    device messages out of the bounded queue. The queue has no public view: the test reads
    the bus's own."""
    async with session_running(private_mosquitto, tmp_path) as room_service:
        private_mosquitto.stop()
        state_topic = f"sessionroom/{room_service.room.room_id}/state"

        def waiting_states() -> list[bytes]:
            bus = room_service.bus
            assert bus is not None
            queued = bus._outbox._waiting.values()  # the bus's own queue (see above)
            return [message.payload for message in queued if message.topic == state_topic]

        first = await eventually(waiting_states, "a state waiting for the broker")
        await eventually(
            lambda: waiting_states() and waiting_states() != first, "a newer state waiting"
        )
        assert len(waiting_states()) == 1


async def test_a_fault_in_a_tick_or_a_command_is_loud_and_the_room_goes_on(
    mosquitto: Mosquitto, service: RoomService, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug of ours must not stop the room: the fault is journaled with a critical alert,
    the command is answered, and the tick loop carries on."""
    room = service.room.room_id
    await eventually(lambda: service.engine is not None, "the engine")
    engine = service.engine
    assert engine is not None
    real_tick = engine.tick
    ticks = {"faulty": 3, "after": 0}

    def faulty_tick() -> None:
        if ticks["faulty"] > 0:
            ticks["faulty"] -= 1
            raise RuntimeError("a tick went wrong")
        ticks["after"] += 1
        real_tick()

    def faulty_note(command: object) -> None:
        raise KeyError("a handler went wrong")

    monkeypatch.setattr(engine, "tick", faulty_tick)
    monkeypatch.setattr(engine, "_note", faulty_note)
    async with client_for(mosquitto, room) as client:
        await eventually(lambda: ticks["after"] > 5, "ticks after the faulty ones")
        assert (await client.command("start", timeout=5, plan="rehearsal", participant="P1"))["ok"]
        reply = await client.command("note", timeout=5, text="calm")
        assert reply["ok"] is False
        assert reply["error"] == "internal error: KeyError: 'a handler went wrong'"
        assert (await client.command("hold", timeout=5))["ok"]
        state = await client.state(timeout=5)
    alerts = {alert["key"]: alert for alert in state["alerts"]}
    assert alerts["engine"]["level"] == "critical"
    assert "a handler went wrong" in alerts["engine"]["message"]
    assert state["phase"]["held"] is True


async def test_a_second_engine_for_the_same_room_exits_with_a_clear_message(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    """Two real `sessionroom run` processes: the second exits at once and names the first;
    the first one's lock goes with it when it is killed, so the next engine starts."""
    room = f"r{uuid.uuid4().hex[:8]}"
    status = f"sessionroom/{room}/status"
    first = engine_process(mosquitto, tmp_path, room, scale=1.0)
    try:
        await eventually(lambda: wire.payloads(status)[-1:] == ["online"], "first engine online")
        second = engine_process(mosquitto, tmp_path, room, scale=1.0)
        output, _ = await asyncio.to_thread(second.communicate, timeout=DEADLINE_S)
        assert second.returncode == 1
        assert (
            f"room {room} already has an engine running (pid {first.pid}, "
            f"holding {tmp_path / f'{room}.lock'}); stop that one first"
        ) in output.decode()
        assert first.poll() is None
        assert wire.payloads(status) == ["online"]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    async with started_again(mosquitto, tmp_path, wire, room, scale=1.0):
        pass  # the next engine starts and comes online


async def test_a_session_the_edited_room_cannot_resume_never_keeps_the_engine_from_starting(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    """Killed in the fourth phase; the plan is then edited down to two phases. The next
    `sessionroom run` starts idle with a critical alert naming the session, and the session
    is closed as abandoned; a new session starts as usual."""
    folder = tmp_path / "room"
    folder.mkdir()
    shutil.copy(REPO / "config.yaml", folder)
    for part in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / part, folder / part)
    room = f"r{uuid.uuid4().hex[:8]}"
    status = f"sessionroom/{room}/status"
    data_dir = tmp_path / "data"
    first = engine_process(mosquitto, data_dir, room, scale=10.0, config=folder / "config.yaml")
    try:
        await eventually(lambda: wire.payloads(status)[-1:] == ["online"], "first engine online")
        async with client_for(mosquitto, room) as client:
            await rehearse_until(client, "integration")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    [crashed] = list_sessions(data_dir)
    plan_file = folder / "scenes" / "plans" / "rehearsal.yaml"
    plan = plan_file.read_text()
    plan_file.write_text(plan[: plan.index("  - name: return")])
    await eventually(lambda: wire.payloads(status)[-1:] == ["offline"], "the will: offline")

    second = engine_process(mosquitto, data_dir, room, scale=10.0, config=folder / "config.yaml")
    try:
        await eventually(lambda: wire.payloads(status)[-1:] == ["online"], "second engine online")
        async with client_for(mosquitto, room) as client:
            # the second engine's own state: the broker keeps the first's (its session) until
            # the second publishes, maybe after a client that came with `online` subscribed
            state = await client.kept_state(timeout=5)
            assert client.state_live
            assert state["session"] is None
            [alert] = [a for a in state["alerts"] if a["key"] == "resume"]
            assert alert["level"] == "critical"
            assert f"session {crashed.session_id} could not be resumed" in alert["message"]
            assert "the plan now has 2 phases" in alert["message"]
            assert (await client.command("start", timeout=5, plan="rehearsal", participant="P8"))[
                "ok"
            ]
    finally:
        second.terminate()
        second.wait(timeout=10)
    abandoned = next(i for i in list_sessions(data_dir) if i.session_id == crashed.session_id)
    assert not abandoned.is_open and not abandoned.ended_cleanly
    last = next(read_events(abandoned.path, newest_first=True))
    assert last.payload == {
        "event": "abandoned",
        "reason": alert["message"].split(": ", 1)[1].split("; the room")[0],
    }


def busy_with(
    monkeypatch: pytest.MonkeyPatch, marker: bytes
) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the engine's service busy with the command whose message holds `marker` until
    the first event returned is set: what arrives meanwhile is queued. The second event is
    set once the service is busy with it."""
    busy, entered = asyncio.Event(), asyncio.Event()
    handle = RoomService._command

    async def busy_with_it(self: RoomService, bus: Any, engine: Any, message: Any) -> None:
        if marker in message.payload:
            entered.set()
            await busy.wait()
        await handle(self, bus, engine, message)

    monkeypatch.setattr(RoomService, "_command", busy_with_it)
    return busy, entered


async def test_an_emergency_is_answered_ahead_of_a_queued_flood_of_notes(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/robustness.md#queueing: while the engine is busy with a first note, 999 more and
    then an emergency arrive; the emergency is handled next (its lights-up first), ahead of
    every note queued before it, and its reply does not wait for the disk."""
    busy, _ = busy_with(monkeypatch, b'"note0"')
    service = RoomService(room_on(mosquitto, tmp_path, time_scale=10.0))
    task = asyncio.create_task(service.run())
    room = service.room.room_id
    topic = f"sessionroom/{room}"
    async with client_for(mosquitto, room) as client:
        assert (await client.command("start", timeout=5, plan="rehearsal", participant="P1"))["ok"]
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    for n in range(1000):
        note = {"id": f"note{n}", "action": "note", "text": "breathing slowly"}
        publisher.publish(f"{topic}/cmd", json.dumps(note), qos=1)
    publisher.publish(f"{topic}/cmd", '{"id": "panic", "action": "emergency"}', qos=1)
    await eventually(lambda: service.bus is not None and service.bus.waiting == 1000, "queued")
    busy.set()

    def replies() -> list[str]:
        return [
            t.rsplit("/", 1)[1]
            for t, _, _ in wire.messages
            if t.startswith(f"{topic}/reply/note") or t == f"{topic}/reply/panic"
        ]

    await eventually(lambda: len(replies()) == 1001, "every reply", timeout=30)
    publisher.loop_stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert replies().index("panic") <= 1, "the emergency waited behind queued notes"
    panic = next(i for i, (t, _, _) in enumerate(wire.messages) if t == f"{topic}/reply/panic")
    lights_up = [
        index
        for index, (t, payload, _) in enumerate(wire.messages)
        if t == "wled/wled-strip/api" and b'"on":true' in payload
    ]
    assert any(index < panic for index in lights_up), "no lights-up before the reply"


async def test_an_emergency_pressed_after_a_clear_was_sent_is_never_undone_by_that_clear(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/emergency.md#clear-emergency: an emergency goes ahead of every command queued
    before it, and a `clear_emergency` waiting behind a note (the engine busy with it) is
    one of them. Pressed after the clear was sent, the emergency must still hold once both
    are handled: the clear it overtook is refused, not carried out after it."""
    busy, entered = busy_with(monkeypatch, b'"busy"')
    service = RoomService(room_on(mosquitto, tmp_path, time_scale=10.0))
    task = asyncio.create_task(service.run())
    room = service.room.room_id
    topic = f"sessionroom/{room}"
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()

    def send(command: dict[str, str]) -> None:
        publisher.publish(f"{topic}/cmd", json.dumps(command), qos=1).wait_for_publish()

    try:
        async with client_for(mosquitto, room) as client:
            start = await client.command("start", timeout=5, plan="rehearsal", participant="P1")
            assert start["ok"] and (await client.command("emergency", timeout=5))["ok"]
            send({"id": "busy", "action": "note", "text": "calm"})
            await asyncio.wait_for(entered.wait(), DEADLINE_S)
            send({"id": "clear", "action": "clear_emergency"})
            send({"id": "again", "action": "emergency"})
            await eventually(lambda: service.bus is not None and service.bus.waiting == 2, "queued")
            busy.set()
            for reply in ("busy", "clear", "again"):
                await eventually(lambda r=reply: wire.payloads(f"{topic}/reply/{r}"), reply)
            state = await client.state(timeout=5)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert state["emergency"]["active"] is True
    [clear] = [json.loads(reply) for reply in wire.payloads(f"{topic}/reply/clear")]
    assert clear["ok"] is False
    assert "pressed after" in clear["error"]


async def test_an_emergency_never_waits_for_a_disk_that_does_not_answer(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in for a stuck disk (a real one needs root to mount a tiny filesystem): the
    journal's flush blocks until the test lets it go. The note's reply waits for it; the
    emergency sent after the note is answered meanwhile."""
    disk_answers = threading.Event()
    room = service.room.room_id
    async with client_for(mosquitto, room) as client:
        assert (await client.command("start", timeout=5, plan="rehearsal", participant="P1"))["ok"]
        monkeypatch.setattr(Journal, "flush", lambda journal, *, timeout_s: disk_answers.wait(10))
        try:
            note = asyncio.create_task(client.command("note", timeout=15, text="calm"))
            emergency = await client.command("emergency", timeout=5)
            assert emergency["ok"] is True
            assert not note.done()
        finally:
            disk_answers.set()  # the disk answers
        assert (await note)["ok"] is True


async def press_and_see_the_lights_up(client: RoomClient, wire: Wire) -> None:
    """Press the emergency: answered, and its lights-up (the ceiling at 4000 K) on the wire."""
    assert (await client.command("emergency", timeout=5))["ok"] is True
    await eventually(
        lambda: any(
            '"color_temp":250' in payload
            for payload in wire.payloads("zigbee2mqtt/ceiling_light/set")
        ),
        "the ceiling's lights-up",
    )


async def test_an_emergency_s_lights_up_never_waits_for_its_marker_on_a_disk_that_hangs(
    mosquitto: Mosquitto, service: RoomService, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/emergency.md#crash-and-resume: the room's emergency marker is written on the
    engine's disk thread. A stand-in for a disk that hangs (a real one needs root and a
    device-mapper to suspend): opening the marker blocks until the test lets it go. The
    lights-up (the ceiling at 4000 K) reaches the light and the press is answered meanwhile;
    the marker is there once the disk answers."""
    disk_answers = threading.Event()
    open_file = os.open

    def open_on_a_hung_disk(path: Any, flags: int, mode: int = 0o777, **where: Any) -> int:
        if str(path).endswith(".emergency"):
            disk_answers.wait(10)
        return open_file(path, flags, mode, **where)

    monkeypatch.setattr(os, "open", open_on_a_hung_disk)
    marker = service.room.data_dir / f"{service.room.room_id}.emergency"
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            await press_and_see_the_lights_up(client, wire)
            assert not marker.exists()
        finally:
            disk_answers.set()  # the disk answers
        await eventually(marker.exists, "the emergency marker")
    assert json.loads(marker.read_text())["since"] is not None


def hang_the_data_folder(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], threading.Event]:
    """A stand-in for a data folder whose disk does not answer (a network mount whose server
    is gone; a real one needs root and a device-mapper to suspend): opening, making, listing
    or looking at anything in `folder` blocks until the test lets it go. What was asked of
    it (the calls' names), and what lets it answer."""
    asked: list[str] = []
    answers = threading.Event()
    inside = str(folder)

    def hung(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def on_the_folder(path: Any, *arguments: Any, **options: Any) -> Any:
            if os.fsdecode(path).startswith(inside):
                asked.append(name)
                answers.wait(DEADLINE_S)
            return call(path, *arguments, **options)

        return on_the_folder

    for name in ("open", "mkdir", "lstat", "stat", "scandir", "listdir"):
        monkeypatch.setattr(os, name, hung(name, getattr(os, name)))
    return asked, answers


async def test_an_engine_whose_data_folder_does_not_answer_comes_online_latched(
    mosquitto: Mosquitto,
    tmp_path: Path,
    wire: Wire,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """docs/robustness.md: the room's lock, its emergency marker and the session it left open
    are read on a thread at the start, given up once the folder has been silent
    `STARTUP_DISK_WAIT_S` (not asked again). The engine comes online all the same, latched
    (an emergency the marker may carry is never dropped unseen) with a critical alert saying
    why; a clear and a press are carried out."""
    monkeypatch.setattr(service_module, "STARTUP_DISK_WAIT_S", 0.5)
    room = room_on(mosquitto, tmp_path / "data", time_scale=10.0)
    asked, answers = hang_the_data_folder(room.data_dir, monkeypatch)
    task = asyncio.create_task(RoomService(room).run())
    try:
        async with client_for(mosquitto, room.room_id) as client:
            await client.wait_online(5)
            state = await client.state(timeout=5)
            assert state["emergency"]["active"] is True
            [alert] = [alert for alert in state["alerts"] if alert["key"] == "marker"]
            assert alert["level"] == "critical"
            assert "has not answered for 0.5 s" in alert["message"]
            assert (await client.command("clear_emergency", timeout=5))["ok"] is True
            cleared = await client.state(timeout=5)
            assert [a for a in cleared["alerts"] if a["key"] == "marker"] == []
            await press_and_see_the_lights_up(client, wire)
    finally:
        answers.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # the lock was asked, then nothing more at the start (the preflight's looks run apart)
    assert asked[0] in ("mkdir", "open")
    assert "has not answered for 0.5 s: the room's lock not read" in caplog.text
    assert "the emergency marker not read, the room starts latched" in caplog.text
    assert "the session left open not read, none is resumed" in caplog.text


async def test_a_data_folder_that_stops_answering_is_said_so_and_never_holds_up_the_room(
    mosquitto: Mosquitto,
    service: RoomService,
    wire: Wire,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The data folder stops answering while the engine runs: the state says so once a look
    at it is `DISK_SILENT_S` late, and a press is carried out. (Saying it read the folder's
    path through the disk, on the event loop: the loop hung for as long as the folder did.)"""
    monkeypatch.setattr(engine_module, "DISK_SILENT_S", 0.3)
    monkeypatch.setattr(engine_module, "DISK_LOOK_EVERY_S", 0.0)
    async with client_for(mosquitto, service.room.room_id) as client:
        await client.wait_online(5)
        _, answers = hang_the_data_folder(service.room.data_dir, monkeypatch)
        try:

            def silent(state: dict[str, Any]) -> bool:
                problem = (state.get("preflight") or {}).get("journal_problem") or ""
                return "has not answered" in problem

            deadline = time.monotonic() + DEADLINE_S
            while not silent(await client.state(timeout=5)):
                assert time.monotonic() < deadline, "the state never said the folder is silent"
            await press_and_see_the_lights_up(client, wire)
        finally:
            answers.set()


def hang_the_tracks(
    room: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Event]:
    """A stand-in for a music mount whose server is gone (the playlists' files are not in the
    data folder): looking at a track blocks until the test lets it go. (Looked at, the
    mount is hung; let go, it answers.)"""
    looked, answers = threading.Event(), threading.Event()
    tracks = {str(track.path) for playlist in room.playlists.values() for track in playlist.tracks}
    exists = Path.exists

    def exists_on_a_hung_mount(path: Path) -> bool:
        if str(path) in tracks and not answers.is_set():
            looked.set()
            if not answers.wait(20):
                answers.set()  # hung once is enough: the rest answers
        return exists(path)

    monkeypatch.setattr(Path, "exists", exists_on_a_hung_mount)
    return looked, answers


async def test_a_hung_music_mount_never_holds_up_the_emergency_marker(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preflight's look at the playlists' files hangs on a music mount that is gone; the
    data folder answers. An emergency pressed meanwhile writes its marker all the same: a
    restart outside a session would start unlatched otherwise."""
    looked, answers = hang_the_tracks(service.room, monkeypatch)
    marker = service.room.data_dir / f"{service.room.room_id}.emergency"
    try:
        await eventually(looked.is_set, "the look at the tracks")
        async with client_for(mosquitto, service.room.room_id) as client:
            assert (await client.command("emergency", timeout=5))["ok"] is True
        await eventually(marker.exists, "the emergency marker", timeout=3)
    finally:
        answers.set()


async def test_a_disk_that_hangs_never_holds_up_the_engine_s_exit(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preflight's look hangs (a music mount that is gone); the engine is stopped: it
    ends (its room lock let go, a supervisor can start it again) without waiting for it."""
    room_service = RoomService(room_on(mosquitto, tmp_path, time_scale=10.0))
    looked, answers = hang_the_tracks(room_service.room, monkeypatch)
    task = asyncio.create_task(room_service.run())
    try:
        await eventually(looked.is_set, "the look at the tracks")
        task.cancel()
        started = time.monotonic()
        done, _ = await asyncio.wait([task], timeout=5)
        assert done, "the engine did not end"
        assert time.monotonic() - started < 5
    finally:
        answers.set()
        await asyncio.gather(task, return_exceptions=True)


def test_the_engine_read_after_its_service_ended_still_shows_its_state(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service has ended and its event loop is closed; its engine, read after (as a test
    or a tool does), still gives its state: the look at the disk it asks for is done at once,
    not handed to a loop that is closed (which raised out of `snapshot`)."""
    monkeypatch.setattr(engine_module, "DISK_LOOK_EVERY_S", 0.0)  # a look for every state
    room_service = RoomService(room_on(mosquitto, tmp_path), local_outputs=False)

    async def serve_a_moment() -> None:
        task = asyncio.create_task(room_service.run())
        await eventually(
            lambda: room_service.engine is not None and room_service.engine._disk is not None,
            "a look at the disk",
        )
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(serve_a_moment())
    engine = room_service.engine
    assert engine is not None
    preflight = engine.snapshot().preflight
    assert preflight is not None and preflight.journal_writable


async def test_the_reply_to_end_comes_once_the_journal_is_closed(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/control-api.md: the reply follows once the command is safely in the journal. For
    `end` that is the journal closed: a crash right after the reply must not leave a
    session the operator ended to be resumed. A slow disk (a stand-in: the close takes
    0.3 s more) made the reply come before the close."""
    real_close = Journal.close

    def slow_close(journal: Journal, **options: Any) -> None:
        time.sleep(0.3)  # in the journal's own thread, as a slow disk would
        real_close(journal, **options)

    room = service.room.room_id
    async with client_for(mosquitto, room) as client:
        assert (await client.command("start", timeout=5, plan="rehearsal", participant="P1"))["ok"]
        monkeypatch.setattr(Journal, "close", slow_close)
        assert (await client.command("end", timeout=5, reason="finished early"))["ok"] is True
        [session] = list_sessions(service.room.data_dir)
        assert not session.is_open and session.ended_cleanly


async def test_an_engine_whose_journal_close_hangs_still_ends(
    mosquitto: Mosquitto,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An `end`, then the engine stopped while the journal's close hangs (a disk that does
    not answer: a stand-in blocks the close until the test lets it go). The engine ends
    within `CLOSE_EXIT_WAIT_S` and says so; the close runs on a daemon thread, which the
    process does not wait for as it exits (it waited for the close for good)."""
    monkeypatch.setattr(service_module, "CLOSE_EXIT_WAIT_S", 0.5)
    real_close = Journal.close
    disk_answers = threading.Event()
    closing_on: list[threading.Thread] = []

    def hanging_close(journal: Journal, **options: Any) -> None:
        closing_on.append(threading.current_thread())
        disk_answers.wait(DEADLINE_S)
        real_close(journal, **options)

    service = RoomService(room_on(mosquitto, tmp_path, time_scale=10.0))
    task = asyncio.create_task(service.run())
    try:
        async with client_for(mosquitto, service.room.room_id) as client:
            start = await client.command("start", timeout=5, plan="rehearsal", participant="P1")
            assert start["ok"] is True
            monkeypatch.setattr(Journal, "close", hanging_close)
            ending = asyncio.create_task(client.command("end", timeout=5, reason="done"))
            await eventually(lambda: closing_on, "the close asked of the disk")
            task.cancel()
            stopped_at = time.monotonic()
            await asyncio.gather(task, return_exceptions=True)
            assert time.monotonic() - stopped_at < 3.0
            ending.cancel()
            await asyncio.gather(ending, return_exceptions=True)
    finally:
        disk_answers.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert closing_on[0].daemon
    assert "1 session journal(s) not closed within 0.5 s" in caplog.text


async def test_a_command_left_retained_on_the_broker_is_not_carried_out(
    mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    """A retained message on `cmd` is handed to the engine at every connect (a start, a
    restart after a crash, a reconnect after a broker outage): a `start` left there would
    open a session on its own, a `clear_emergency` would release a resumed latch. It is
    answered as refused and not carried out; the same command sent live is."""
    room = room_on(mosquitto, tmp_path)
    topic = f"sessionroom/{room.room_id}"
    start = {"id": "left1", "action": "start", "plan": "rehearsal", "participant": "P9"}
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    try:
        publisher.publish(f"{topic}/cmd", json.dumps(start), qos=1, retain=True).wait_for_publish()
        task = asyncio.create_task(RoomService(room).run())
        try:
            replies = await eventually(lambda: wire.payloads(f"{topic}/reply/left1"), "a reply")
            assert json.loads(replies[0]) == {"id": "left1", "ok": False, "error": RETAINED_COMMAND}
            async with client_for(mosquitto, room.room_id) as client:
                assert (await client.state(timeout=5))["session"] is None
                live = await client.command("start", timeout=5, plan="rehearsal", participant="P9")
                assert live["ok"] is True
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        publisher.publish(f"{topic}/cmd", b"", qos=1, retain=True).wait_for_publish()
        publisher.loop_stop()
        publisher.disconnect()


async def test_a_command_delivered_twice_is_carried_out_once_and_answered_again(
    mosquitto: Mosquitto, service: RoomService, wire: Wire
) -> None:
    """A sender's bus publishes a command again when its connection dropped before the
    broker's acknowledgement came (at least once): the engine may get it twice, under the
    same id. An `extend` (or a `next`, a volume step, a note) must not happen twice; the
    second delivery gets the first's reply again (the sender may have missed it)."""
    room = service.room.room_id
    topic = f"sessionroom/{room}"
    async with client_for(mosquitto, room) as client:
        reply = await client.command("start", timeout=5, plan="rehearsal", participant="P014")
        assert reply["ok"] is True
        extend = json.dumps({"id": "twice", "action": "extend", "seconds": 60})
        publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
        publisher.connect(mosquitto.host, mosquitto.port)
        publisher.loop_start()
        try:
            for delivery in (1, 2):
                publisher.publish(f"{topic}/cmd", extend, qos=1).wait_for_publish()
                await eventually(
                    lambda n=delivery: len(wire.payloads(f"{topic}/reply/twice")) >= n,
                    f"reply {delivery}",
                )
        finally:
            publisher.loop_stop()
            publisher.disconnect()
        replies = [json.loads(reply) for reply in wire.payloads(f"{topic}/reply/twice")]
        assert replies == [{"id": "twice", "ok": True}] * 2
        state = await client.state(timeout=5)
    assert state["phase"]["extended_s"] == 60


async def state_where(
    client: RoomClient, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first retained state from now on for which `check` holds (one sent before a
    command may still be on its way when its reply has come)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        state = await client.state(timeout=DEADLINE_S)
        if check(state):
            return state
    raise AssertionError(f"no state within {DEADLINE_S} s for which {check} holds")


async def publish_twice(broker: Mosquitto, wire: Wire, topic: str, payloads: list[str]) -> None:
    """Publish each payload on the room's `cmd` topic, the next once its reply has come (on
    `reply/<id>`, or `reply/invalid` for a payload without an id)."""
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    try:
        for delivery, payload in enumerate(payloads, start=1):
            replies = f"{topic}/reply/{json.loads(payload).get('id', NO_ID)}"
            before = len(wire.payloads(replies))
            publisher.publish(f"{topic}/cmd", payload, qos=1).wait_for_publish()
            await eventually(
                lambda t=replies, n=before: len(wire.payloads(t)) > n, f"reply {delivery}"
            )
    finally:
        publisher.loop_stop()
        publisher.disconnect()


async def test_another_command_under_a_used_id_is_carried_out(
    mosquitto: Mosquitto, service: RoomService, wire: Wire
) -> None:
    """Only the same message again is a resend: a sender that reuses ids still has each of
    its commands carried out."""
    room = service.room.room_id
    topic = f"sessionroom/{room}"
    async with client_for(mosquitto, room) as client:
        reply = await client.command("start", timeout=5, plan="rehearsal", participant="P014")
        assert reply["ok"] is True
        extends = [
            json.dumps({"id": "reused", "action": "extend", "seconds": seconds})
            for seconds in (60, 30)
        ]
        await publish_twice(mosquitto, wire, topic, extends)
        state = await client.state(timeout=5)
    assert state["phase"]["extended_s"] == 90


async def test_an_emergency_delivered_again_is_not_a_second_press_but_a_new_press_is(
    mosquitto: Mosquitto, service: RoomService, wire: Wire
) -> None:
    """A sender whose connection dropped sends its emergency again under the same id: the
    engine answers it again and keeps the lights' fade (a second press would cut it short).
    A press under a new id is a second press: immediate (docs/emergency.md)."""
    room = service.room.room_id
    topic = f"sessionroom/{room}"
    async with client_for(mosquitto, room) as client:
        reply = await client.command("start", timeout=5, plan="rehearsal", participant="P014")
        assert reply["ok"] is True
        press = json.dumps({"id": "press", "action": "emergency"})
        await publish_twice(mosquitto, wire, topic, [press, press])
        assert [json.loads(r) for r in wire.payloads(f"{topic}/reply/press")] == [
            {"id": "press", "ok": True}
        ] * 2
        state = await client.state(timeout=5)
        assert state["emergency"]["active"] is True
        assert state["emergency"]["immediate"] is False
        again = json.dumps({"id": "press-2", "action": "emergency"})
        await publish_twice(mosquitto, wire, topic, [again])
        state = await client.state(timeout=5)
    assert state["emergency"]["immediate"] is True


async def test_an_emergency_from_a_fixed_button_latches_the_room_each_press(
    mosquitto: Mosquitto, service: RoomService, wire: Wire
) -> None:
    """A panic button that publishes one fixed message, with no id and a key of its own: each
    press is carried out (the second makes it immediate), answered on `reply/invalid`. One
    whose fixed message has an id: once the room was cleared, a press is a new one, never an
    old one answered again."""
    room = service.room.room_id
    topic = f"sessionroom/{room}"
    async with client_for(mosquitto, room) as client:
        assert (await client.command("hold", timeout=5))["ok"] is False  # the engine listens
        press = json.dumps({"action": "emergency", "button": "wall"})
        await publish_twice(mosquitto, wire, topic, [press])
        state = await state_where(client, lambda s: s["emergency"]["active"])
        assert state["emergency"]["immediate"] is False
        await publish_twice(mosquitto, wire, topic, [press])  # the same message: a new press
        await state_where(client, lambda s: s["emergency"]["immediate"])
        with_id = json.dumps({"id": "panic", "action": "emergency"})
        for _ in range(2):
            assert (await client.command("clear_emergency", timeout=5))["ok"] is True
            await state_where(client, lambda s: not s["emergency"]["active"])
            await publish_twice(mosquitto, wire, topic, [with_id])
            await state_where(client, lambda s: s["emergency"]["active"])
    replies = [json.loads(reply) for reply in wire.payloads(f"{topic}/reply/invalid")]
    assert replies == [{"id": "invalid", "ok": True}] * 2


async def test_an_emergency_that_failed_is_carried_out_when_delivered_again(
    mosquitto: Mosquitto, service: RoomService, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A press is never lost to the bookkeeping of resends: one whose first delivery hit a
    fault of ours (injected here: no real fault is known) is carried out on the next."""
    room = service.room.room_id
    topic = f"sessionroom/{room}"
    await eventually(lambda: service.engine is not None, "the engine")
    engine = service.engine
    assert engine is not None
    real_emergency = engine._emergency
    faults = [RuntimeError("the first press went wrong")]

    def faulty_emergency() -> None:
        if faults:
            raise faults.pop()
        real_emergency()

    monkeypatch.setattr(engine, "_emergency", faulty_emergency)
    async with client_for(mosquitto, room) as client:
        assert (await client.command("hold", timeout=5))["ok"] is False  # the engine listens
    press = json.dumps({"id": "press", "action": "emergency"})
    await publish_twice(mosquitto, wire, topic, [press, press])
    replies = [json.loads(r) for r in wire.payloads(f"{topic}/reply/press")]
    assert [reply["ok"] for reply in replies] == [False, True]
    assert engine.snapshot().emergency.active


async def test_a_commands_device_message_has_the_cpu_to_itself_for_a_moment(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a command's device messages are on the socket, the engine leaves the CPU to the
    broker passing them on (`HANDOVER_S`) before its bookkeeping: the command's events are
    written at least that much later. The engine's socket writes are watched in its process
    (the service runs in the test's), passed on unchanged."""
    writes: list[tuple[float, list[str]]] = []
    send = paho.Client._sock_send

    def watched(client: paho.Client, buffer: bytes) -> int:
        writes.append((time.monotonic(), published_topics(bytes(buffer))))
        return send(client, buffer)

    monkeypatch.setattr(paho.Client, "_sock_send", watched)
    room = service.room.room_id
    events = f"sessionroom/{room}/events"
    gaps = []
    async with client_for(mosquitto, room) as client:
        await client.wait_online(5)
        await eventually(lambda: service.engine and service.engine.scene, "the engine settled")
        client.on_event(lambda _event: None)  # the engine sends events to a listener only
        for level in (0.5, 0.55, 0.5, 0.55, 0.5):
            writes.clear()
            reply = await client.command("lights", timeout=5, device="ceiling", level=level)
            assert reply["ok"] is True
            device_at = next(at for at, topics in writes if CEILING in topics)
            events_at = await eventually(
                lambda after=device_at: next(
                    (at for at, topics in writes if at > after and events in topics), None
                ),
                "the command's events",
            )
            gaps.append(events_at - device_at)
    assert sorted(gaps)[len(gaps) // 2] >= HANDOVER_S * 0.9, gaps


async def test_an_engine_stopped_while_a_command_hands_over_still_answers_it(
    mosquitto: Mosquitto,
    tmp_path: Path,
    wire: Wire,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The engine is stopped while the emergency's handler waits after its device messages
    (the wait made long, so the stop lands in it): the wait ends, the reply and the events
    still go out, and no handler fails on a bus already closed. The wait is seen in the bus's
    inbox, which the service runs in this process."""
    monkeypatch.setattr(service_module, "HANDOVER_S", 60.0)
    room_service = RoomService(room_on(mosquitto, tmp_path))
    task = asyncio.create_task(room_service.run())
    room = room_service.room.room_id
    try:
        async with client_for(mosquitto, room) as client:
            await client.wait_online(5)
            client.on_event(lambda _event: None)  # the engine sends events to a listener only
            pressed = asyncio.create_task(client.command("emergency", timeout=10))
            await eventually(
                lambda: room_service.bus is not None and room_service.bus._inbox._arrivals,
                "the emergency's handler waiting after its device messages",
            )
            assert not pressed.done()
            task.cancel()
            assert (await pressed)["ok"] is True
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    events = [json.loads(p) for p in wire.payloads(f"sessionroom/{room}/events")]
    assert any(event["kind"] == "operator" for event in events)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def hang_the_journals(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """A stand-in for a data folder on a disk that hangs (a real one needs root and a
    device-mapper to suspend): creating a session's journal file blocks until the test lets
    it go. (Asked, the disk is hung; let go, it answers.)"""
    asked, answers = threading.Event(), threading.Event()
    open_file = os.open

    def open_on_a_hung_disk(path: Any, flags: int, mode: int = 0o777, **where: Any) -> int:
        if str(path).endswith(".sqlite") and flags & os.O_EXCL:
            asked.set()
            answers.wait(20)
        return open_file(path, flags, mode, **where)

    monkeypatch.setattr(os, "open", open_on_a_hung_disk)
    return asked, answers


async def start_asking_the_disk(
    client: RoomClient, asked: threading.Event
) -> asyncio.Task[dict[str, Any]]:
    """Send a start (P1, the rehearsal plan); once its journal is asked of the disk (held there
    by `hang_the_journals`), what will have its reply."""
    starting = asyncio.create_task(
        client.command("start", timeout=10, plan="rehearsal", participant="P1")
    )
    await eventually(asked.is_set, "the start asking the disk for its journal")
    return starting


def journal_files(room: Any) -> list[str]:
    folder = sessions_dir(room.data_dir)
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


async def test_a_start_on_a_data_folder_that_hangs_holds_up_no_emergency_and_leaves_no_session(
    mosquitto: Mosquitto, service: RoomService, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start opens its journal away from the event loop: while the data folder does not
    answer, an emergency is carried out and answered as ever (the lights-up on the wire);
    the start is refused once the folder has been silent `JOURNAL_OPEN_WAIT_S` (as latched:
    the press came first), and the clear sent behind it is carried out after it. A start
    then, the folder still silent, is refused for it. The journals they asked for, created
    once the disk answers, are removed (no session, none to resume). The next start, on a
    disk that answers, starts."""
    monkeypatch.setattr(service_module, "JOURNAL_OPEN_WAIT_S", 1.0)
    asked, answers = hang_the_journals(monkeypatch)
    discarded: list[str] = []
    discard = Journal.discard

    def discard_and_tell(journal: Journal) -> None:
        discard(journal)
        discarded.append(journal.session_id)

    monkeypatch.setattr(Journal, "discard", discard_and_tell)
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            await press_and_see_the_lights_up(client, wire)
            clearing = asyncio.create_task(client.command("clear_emergency", timeout=5))
            assert not starting.done()
            reply = await starting
            assert reply["ok"] is False
            assert reply["error"].startswith(LATCHED)
            assert (await clearing)["ok"] is True
            reply = await client.command("start", timeout=5, plan="rehearsal", participant="P1")
            assert reply["ok"] is False
            assert reply["error"] == (
                f"{service.room.data_dir} has not answered for 1 s: cannot open the session journal"
            )
        finally:
            answers.set()  # the disk answers
        # each journal is created once the disk answers, then removed: not before it is there
        await eventually(lambda: len(discarded) == 2, "the journals created, then removed")
        assert journal_files(service.room) == []
        assert list_sessions(service.room.data_dir) == []
        reply = await client.command("start", timeout=5, plan="rehearsal", participant="P1")
        assert reply["ok"] is True, reply
    assert service.engine is not None and service.engine.session is not None


async def test_a_start_whose_journal_opens_after_a_press_is_refused_latched_and_leaves_no_session(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An emergency pressed while a start's journal is being opened: once opened, the start is
    refused as any start while latched, and its journal is removed (a session started under a
    press would have lit the room's first phase)."""
    asked, answers = hang_the_journals(monkeypatch)
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            assert (await client.command("emergency", timeout=5))["ok"] is True
        finally:
            answers.set()
        reply = await starting
    assert reply["ok"] is False
    assert reply["error"].startswith(LATCHED)
    await eventually(lambda: journal_files(service.room) == [], "the journal removed")
    assert service.engine is not None and service.engine.session is None


async def test_a_start_while_another_is_under_way_is_refused_and_opens_no_journal(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One start at a time: a second start while the first's journal is being opened is
    refused at once, and asks for no journal of its own (a flood of starts never queues
    journals to create and remove on the disk); the first starts its session."""
    asked, answers = hang_the_journals(monkeypatch)
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            first = await start_asking_the_disk(client, asked)
            second = await client.command("start", timeout=5, plan="rehearsal", participant="P2")
            assert not first.done()
        finally:
            answers.set()
        assert (await first)["ok"] is True
    assert second == {"id": second["id"], "ok": False, "error": START_UNDER_WAY}
    engine = service.engine
    assert engine is not None and engine.session is not None
    assert engine.session.participant == "P1"
    session_id = engine.session.journal.session_id
    assert [name for name in journal_files(service.room) if name.endswith(".sqlite")] == [
        f"{session_id}.sqlite"
    ]


def test_a_start_on_a_silent_data_folder_is_refused_within_the_console_s_wait_for_a_reply() -> None:
    """The console says "no reply" after `REPLY_TIMEOUT_S`; the refusal of a start whose data
    folder does not answer must reach it before, or the therapist is told the engine is gone."""
    assert service_module.JOURNAL_OPEN_WAIT_S + 0.5 <= console_link.REPLY_TIMEOUT_S


async def test_what_renders_the_tones_is_imported_once_online_not_at_the_first_set(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing what renders the tones (numpy, about 0.1 s) at the first BLS set held up the
    engine's event loop, an emergency pressed as the set starts with it. Once online, the
    engine imports it on a thread of its own, with no set asked for. (This process has it
    imported: it is forgotten for the test.)"""
    monkeypatch.delitem(sys.modules, TONES_MODULE, raising=False)
    room_service = RoomService(room_on(mosquitto, tmp_path))
    task = asyncio.create_task(room_service.run())
    try:
        await eventually(lambda: TONES_MODULE in sys.modules, "the tones' renderer imported")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_start_sent_before_a_press_cleared_while_its_journal_opens_is_refused(
    mosquitto: Mosquitto, service: RoomService, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start, then an emergency and its clear, all while the start's journal is being opened
    (a slow disk, not a hung one): the press goes ahead at once, the clear waits in line
    behind the start, and so the start is refused as latched. Carried out after the clear, it
    would have lit the first phase in a room the therapist had just made safe."""
    monkeypatch.setattr(service_module, "JOURNAL_OPEN_WAIT_S", 10.0)  # slow, not silent
    asked, answers = hang_the_journals(monkeypatch)
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            await press_and_see_the_lights_up(client, wire)
            clearing = asyncio.create_task(client.command("clear_emergency", timeout=10))
            await asyncio.sleep(0.2)  # the clear in, behind the start
            assert not clearing.done()
        finally:
            answers.set()  # the disk answers, before the start gives up
        reply = await starting
        assert (await clearing)["ok"] is True
    assert reply["ok"] is False, reply
    assert reply["error"].startswith(LATCHED)
    assert service.engine is not None and service.engine.session is None
    await eventually(lambda: journal_files(service.room) == [], "the journal removed")


async def test_an_engine_stopped_while_a_start_waits_for_room_to_publish_leaves_no_session(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine stopped while a start, its journal opened, waits for room on the broker's
    queue (a flood): the journal is removed, not left open for the next engine to resume as
    a session that never ran."""
    room_service = RoomService(room_on(mosquitto, tmp_path, time_scale=10.0))
    task = asyncio.create_task(room_service.run())
    waiting = asyncio.Event()

    async def no_room() -> None:
        waiting.set()
        await asyncio.Event().wait()  # the broker's queue stays full

    try:
        async with client_for(mosquitto, room_service.room.room_id) as client:
            await client.wait_online(5)
            assert room_service.bus is not None
            monkeypatch.setattr(room_service.bus, "room_to_publish", no_room)
            starting = asyncio.create_task(
                client.command("start", timeout=10, plan="rehearsal", participant="P1")
            )
            await asyncio.wait_for(waiting.wait(), 5)
            starting.cancel()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await eventually(
        lambda: find_open_session(room_service.room.data_dir, room_service.room.room_id) is None,
        "no session left open to resume",
    )
    await eventually(lambda: journal_files(room_service.room) == [], "the journal removed")


async def test_a_start_stopped_as_its_journal_comes_is_not_carried_out(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine stopping cancels a start waiting for its journal; the journal coming in the
    same moment (Python 3.11's `wait_for` then hands it over and swallows the cancel) must
    not start the session while the engine ends: its journal is removed."""
    came: asyncio.Future[Journal] = asyncio.get_running_loop().create_future()
    opener: list[Callable[[], Journal]] = []

    def open_later(opening: Callable[[], Journal]) -> asyncio.Future[Journal]:
        opener.append(opening)
        return came

    monkeypatch.setattr(service, "_open", open_later)
    async with client_for(mosquitto, service.room.room_id) as client:
        starting = asyncio.create_task(
            client.command("start", timeout=10, plan="rehearsal", participant="P1")
        )
        await eventually(lambda: opener and service._starts, "the start waiting for its journal")
        journal = opener[0]()
        came.set_result(journal)
        for start in list(service._starts):
            start.cancel()  # as the engine's end does
        await asyncio.sleep(0.5)
        starting.cancel()
    assert service.engine is not None and service.engine.session is None
    await eventually(lambda: journal_files(service.room) == [], "the journal removed")


async def test_a_fault_while_judging_whether_a_start_opens_a_journal_is_answered_and_loud(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of ours in `journal_to_open` (the baseline's look, as it is read) is answered
    as any fault in a command ("internal error", the engine's critical alert), as it was when
    the start opened its journal on the event loop: never a start left without a reply."""
    await eventually(lambda: service.engine is not None, "the engine")
    engine = service.engine
    assert engine is not None

    def faulty_look(command: object) -> None:
        raise KeyError("a look went wrong")

    monkeypatch.setattr(engine, "journal_to_open", faulty_look)
    async with client_for(mosquitto, service.room.room_id) as client:
        reply = await client.command("start", timeout=5, plan="rehearsal", participant="P1")
        state = await client.state(timeout=5)
    assert reply["ok"] is False
    assert reply["error"] == "internal error: KeyError: 'a look went wrong'"
    alerts = {alert["key"]: alert for alert in state["alerts"]}
    assert alerts["engine"]["level"] == "critical"
    assert engine.session is None


async def test_a_start_delivered_twice_while_its_journal_opens_starts_one_session(
    mosquitto: Mosquitto, service: RoomService, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start delivered again under its id (QoS 1) while its journal is being opened: one
    journal, one session, one reply (the second delivery's reply is the first's, to come)."""
    asked, answers = hang_the_journals(monkeypatch)
    topic = f"sessionroom/{service.room.room_id}"
    start = json.dumps({"id": "again", "action": "start", "plan": "rehearsal", "participant": "P1"})
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    try:
        async with client_for(mosquitto, service.room.room_id) as client:
            await client.wait_online(5)
        publisher.publish(f"{topic}/cmd", start, qos=1).wait_for_publish()
        await eventually(asked.is_set, "the start asking the disk for its journal")
        publisher.publish(f"{topic}/cmd", start, qos=1).wait_for_publish()
        await asyncio.sleep(0.3)  # the second delivery handled
        assert wire.payloads(f"{topic}/reply/again") == []
        answers.set()
        await eventually(lambda: wire.payloads(f"{topic}/reply/again"), "the reply")
        await asyncio.sleep(0.3)
    finally:
        answers.set()
        publisher.loop_stop()
        publisher.disconnect()
    replies = [json.loads(reply) for reply in wire.payloads(f"{topic}/reply/again")]
    assert replies == [{"id": "again", "ok": True}]
    engine = service.engine
    assert engine is not None and engine.session is not None
    journals = [name for name in journal_files(service.room) if name.endswith(".sqlite")]
    assert journals == [f"{engine.session.journal.session_id}.sqlite"]


async def test_commands_behind_a_start_wait_in_a_bounded_line(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line behind a start under way holds `MAX_IN_LINE` commands: one more is refused at
    once (a flood of them never piles up while a disk is slow); those in line are carried out
    in the session, in order, once it has started."""
    monkeypatch.setattr(service_module, "MAX_IN_LINE", 2)
    asked, answers = hang_the_journals(monkeypatch)
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            notes = []
            for text in ("first", "second"):
                notes.append(asyncio.create_task(client.command("note", timeout=10, text=text)))
                await asyncio.sleep(0.1)  # in line, in this order
            one_more = await client.command("note", timeout=5, text="third")
            assert not starting.done()
        finally:
            answers.set()
        assert (await starting)["ok"] is True
        replies = [await note for note in notes]
    assert one_more["ok"] is False
    assert one_more["error"] == service_module.LINE_FULL
    assert [reply["ok"] for reply in replies] == [True, True]
    engine = service.engine
    assert engine is not None and engine.session is not None
    engine.session.journal.flush()
    noted = [e.payload for e in read_events(engine.session.journal.path) if e.kind == "note"]
    assert noted == ["first", "second"]


async def test_a_flood_refused_at_once_never_makes_a_command_in_line_carried_out_twice(
    mosquitto: Mosquitto, service: RoomService, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A note waits in line behind a start; a flood of notes is refused at once (the line is
    full), each remembered. The waiting note is not forgotten for them: delivered again once
    it was carried out (QoS 1, after a reconnect), it is answered as before and not carried
    out twice. (The oldest remembered id went first, the waiting note's among them.)"""
    monkeypatch.setattr(service_module, "MAX_IN_LINE", 1)
    monkeypatch.setattr(service_module, "RECENT_COMMANDS", 4)
    asked, answers = hang_the_journals(monkeypatch)
    cmd = f"sessionroom/{service.room.room_id}/cmd"
    waiting = json.dumps({"id": "waiting", "action": "note", "text": "once"})
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    publisher.connect(mosquitto.host, mosquitto.port)
    publisher.loop_start()
    try:
        async with client_for(mosquitto, service.room.room_id) as client:
            try:
                starting = await start_asking_the_disk(client, asked)
                publisher.publish(cmd, waiting, qos=1).wait_for_publish()
                for number in range(6):
                    flood = {"id": f"flood{number}", "action": "note", "text": "more"}
                    publisher.publish(cmd, json.dumps(flood), qos=1).wait_for_publish()
                for number in range(6):
                    refused = await eventually(
                        lambda n=number: wire.payloads(f"{cmd[:-3]}reply/flood{n}"), "a refusal"
                    )
                    assert json.loads(refused[0])["error"] == service_module.LINE_FULL
            finally:
                answers.set()
            assert (await starting)["ok"] is True
        replies = f"{cmd[:-3]}reply/waiting"
        await eventually(lambda: wire.payloads(replies), "the waiting note's reply")
        publisher.publish(cmd, waiting, qos=1).wait_for_publish()  # delivered again
        await eventually(lambda: len(wire.payloads(replies)) == 2, "its reply again")
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    assert [json.loads(reply) for reply in wire.payloads(replies)] == [
        {"id": "waiting", "ok": True}
    ] * 2
    engine = service.engine
    assert engine is not None and engine.session is not None
    engine.session.journal.flush()
    noted = [e.payload for e in read_events(engine.session.journal.path) if e.kind == "note"]
    assert noted == ["once"]


async def test_a_note_sent_right_after_a_start_is_carried_out_in_its_session(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender that does not wait for a start's reply before its next command (a script,
    another console): the note waits in line behind the start while its journal opens, and
    goes into its session (handled first, it was refused: no session was running)."""
    asked, answers = hang_the_journals(monkeypatch)
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            noting = asyncio.create_task(client.command("note", timeout=10, text="calm"))
            await asyncio.sleep(0.3)
        finally:
            answers.set()
        assert (await starting)["ok"] is True
        note = await noting
    assert note["ok"] is True, note


async def test_an_emergency_pressed_as_a_command_in_line_hands_over_leaves_the_line_moving(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A VR pause sent right after a start waits in line; carried out once the start is, it
    waits after its device message (`HANDOVER_S`, made long so the press lands in it), and an
    emergency pressed then waits after its own. Both waits end: the pause is answered, and a
    clear sent after the press (in line) is carried out. (The bus's inbox kept one wait: the
    press's replaced the pause's, which then never ended, nor did the line behind it: every
    command but an emergency went unanswered, the clear too.)"""
    monkeypatch.setattr(service_module, "HANDOVER_S", 0.5)
    asked, answers = hang_the_journals(monkeypatch)
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            bus = service.bus
            assert bus is not None
            pausing = asyncio.create_task(client.command("vr", timeout=10, op="pause"))
            await asyncio.sleep(0.2)  # in line behind the start
        finally:
            answers.set()
        await eventually(lambda: bus._inbox._arrivals, "the pause waiting after its message")
        assert not pausing.done()
        assert (await client.command("emergency", timeout=5))["ok"] is True
        assert (await starting)["ok"] is True
        assert (await pausing)["ok"] is True
        assert (await client.command("clear_emergency", timeout=5))["ok"] is True


async def test_an_engine_stopped_while_commands_wait_behind_a_start_still_answers_them(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine is stopped while a start waits for its journal (a data folder that hangs)
    and a note and a VR pause wait in line behind it: the start is given up (no session, no
    journal), and the commands behind it are handled as the commands that arrived before the
    stop are, in order, and answered (cancelled with the line, they went unanswered: the
    console said the engine did not answer, not what became of them)."""
    asked, answers = hang_the_journals(monkeypatch)
    room_service = RoomService(room_on(mosquitto, tmp_path))
    task = asyncio.create_task(room_service.run())
    try:
        async with client_for(mosquitto, room_service.room.room_id) as client:
            await client.wait_online(5)
            starting = await start_asking_the_disk(client, asked)
            noting = asyncio.create_task(client.command("note", timeout=10, text="calm"))
            pausing = asyncio.create_task(client.command("vr", timeout=10, op="pause"))
            await asyncio.sleep(0.3)  # in line behind the start
            assert not noting.done() and not pausing.done()
            task.cancel()
            note, pause = await noting, await pausing
            starting.cancel()
    finally:
        answers.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert note["id"] and pause["id"]  # answered, whatever the answer
    assert room_service.engine is not None and room_service.engine.session is None
    await eventually(lambda: journal_files(room_service.room) == [], "the journal removed")


async def test_starts_waiting_in_line_do_not_queue_journals_on_a_data_folder_that_hangs(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One start at a time holds for starts in line too: a start given up on a data folder
    that hangs, a note behind it waiting for room on the broker, then two starts (in line
    behind the note). The first asks for a journal at its turn; the second is refused at once,
    as under way, and asks for none (each asked the hung disk in turn: a flood of starts
    queued journals to create and remove)."""
    monkeypatch.setattr(service_module, "JOURNAL_OPEN_WAIT_S", 0.3)
    asked, answers = hang_the_journals(monkeypatch)
    opened: list[object] = []
    open_journal = service._open

    def counted(opening: Callable[[], Journal]) -> asyncio.Future[Journal]:
        opened.append(opening)
        return open_journal(opening)

    monkeypatch.setattr(service, "_open", counted)
    room = asyncio.Event()
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            bus = service.bus
            assert bus is not None
            calls = []

            async def room_later() -> None:
                calls.append(1)
                if len(calls) > 1:  # the start's own goes on
                    await room.wait()

            monkeypatch.setattr(bus, "has_room_to_publish", lambda: room.is_set())
            monkeypatch.setattr(bus, "room_to_publish", room_later)
            noting = asyncio.create_task(client.command("note", timeout=10, text="calm"))
            assert (await starting)["ok"] is False  # the disk silent
            await eventually(lambda: len(calls) > 1, "the note waiting for room")
            second = asyncio.create_task(
                client.command("start", timeout=10, plan="rehearsal", participant="P2")
            )
            await asyncio.sleep(0.2)
            thirdly = asyncio.create_task(
                client.command("start", timeout=10, plan="rehearsal", participant="P3")
            )
            await asyncio.sleep(0.2)
            room.set()
            await noting
            await second
            third = await thirdly
        finally:
            answers.set()
    assert third["ok"] is False
    assert third["error"] == service_module.START_UNDER_WAY
    assert len(opened) == 2


def fault_at_events(
    service: RoomService, monkeypatch: pytest.MonkeyPatch, faulty: Callable[[dict[str, Any]], bool]
) -> None:
    """A fault of ours: taking the engine's events raises once one of them is `faulty`."""
    engine = service.engine
    assert engine is not None
    take = engine.take_events

    def take_or_fail() -> list[dict[str, Any]]:
        events = take()
        if any(faulty(event) for event in events):
            raise RuntimeError("a fault of ours")
        return events

    monkeypatch.setattr(engine, "take_events", take_or_fail)


async def test_a_fault_after_a_command_in_line_is_answered_and_the_line_goes_on(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of ours while a note in line behind a start is written out (its events could
    not be taken): the note is answered "internal error" with the engine's alert, and the
    note behind it is carried out (the fault escaped the line's task: no reply, only
    "Task exception was never retrieved" once it was collected)."""
    asked, answers = hang_the_journals(monkeypatch)
    fault_at_events(service, monkeypatch, lambda event: event.get("payload") == "faulty")
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            first = asyncio.create_task(client.command("note", timeout=5, text="faulty"))
            second = asyncio.create_task(client.command("note", timeout=5, text="fine"))
            await asyncio.sleep(0.3)  # both in line
        finally:
            answers.set()
        assert (await starting)["ok"] is True
        faulted = await first
        assert (await second)["ok"] is True
    assert faulted["ok"] is False
    assert faulted["error"].startswith("internal error"), faulted


async def test_commands_refused_for_a_full_line_go_at_the_broker_s_pace(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood behind a start under way: the refusals of the commands the full line cannot
    take wait for room on the broker's queue, as the commands of any flood do (answered at
    once, a flood of them pushed the oldest messages waiting, device messages too, out of the
    bounded queue)."""
    monkeypatch.setattr(service_module, "MAX_IN_LINE", 1)
    asked, answers = hang_the_journals(monkeypatch)
    room = asyncio.Event()
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            bus = service.bus
            assert bus is not None
            first = asyncio.create_task(client.command("note", timeout=10, text="first"))
            await asyncio.sleep(0.2)  # in line

            async def room_later() -> None:
                await room.wait()

            monkeypatch.setattr(bus, "has_room_to_publish", lambda: room.is_set())
            monkeypatch.setattr(bus, "room_to_publish", room_later)
            refused = asyncio.create_task(client.command("note", timeout=10, text="second"))
            await asyncio.sleep(0.5)
            assert not refused.done()  # no room on the broker's queue yet
            room.set()
        finally:
            answers.set()
        assert (await refused)["error"] == service_module.LINE_FULL
        assert (await starting)["ok"] is True
        assert (await first)["ok"] is True


async def test_a_fault_after_a_start_whose_journal_opened_is_answered_and_the_line_goes_on(
    mosquitto: Mosquitto, service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of ours while a start carried out once its journal opened is written out (its
    events could not be taken): the start is answered "internal error" with the engine's
    alert, and the note in line behind it is carried out (the fault escaped the start's task:
    no reply, only "Task exception was never retrieved" once it was collected)."""
    asked, answers = hang_the_journals(monkeypatch)
    fault_at_events(
        service, monkeypatch, lambda event: event.get("kind") == "session" and "start" in str(event)
    )
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            noting = asyncio.create_task(client.command("note", timeout=5, text="calm"))
            await asyncio.sleep(0.3)  # in line
        finally:
            answers.set()
        started = await starting
        note = await noting
        assert note["ok"] is True, note
    assert started["ok"] is False
    assert started["error"].startswith("internal error"), started


async def test_a_fault_after_a_command_in_line_is_acknowledged_once(
    mosquitto: Mosquitto, service: RoomService, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of ours after a note in line was accepted, its `ok` waiting for the journal:
    the note has one reply, that `ok` (not an "internal error" besides)."""
    asked, answers = hang_the_journals(monkeypatch)
    engine = service.engine
    assert engine is not None
    take = engine.take_events
    seen: list[bool] = []

    def faulty() -> list[dict[str, Any]]:
        if seen and service._unacknowledged:
            raise RuntimeError("a fault of ours")
        events = take()
        seen.extend(True for event in events if event.get("payload") == "faulty")
        return events

    monkeypatch.setattr(engine, "take_events", faulty)
    room = service.room.room_id
    sender = paho.Client(paho.CallbackAPIVersion.VERSION2)
    sender.connect(mosquitto.host, mosquitto.port)
    sender.loop_start()
    note = {"id": "note-1", "action": "note", "text": "faulty", "source": "ctl"}
    try:
        async with client_for(mosquitto, room) as client:
            try:
                starting = await start_asking_the_disk(client, asked)
                sender.publish(f"sessionroom/{room}/cmd", json.dumps(note), qos=1)
                await asyncio.sleep(0.3)  # in line
            finally:
                answers.set()
            assert (await starting)["ok"] is True
            await eventually(lambda: wire.payloads(f"sessionroom/{room}/reply/note-1"), "a reply")
            await asyncio.sleep(0.5)
    finally:
        sender.loop_stop()
        sender.disconnect()
    assert seen
    replies = [json.loads(p) for p in wire.payloads(f"sessionroom/{room}/reply/note-1")]
    assert replies == [{"id": "note-1", "ok": True}]


async def test_a_start_on_a_data_folder_that_refuses_its_journal_is_refused_with_the_reason(
    mosquitto: Mosquitto, service: RoomService
) -> None:
    """The journal is opened on its own thread: a data folder that refuses it (a stand-in for
    a full or read-only disk: `sessions` is a file, not a folder) refuses the start with the
    disk's reason, and the room goes on (an emergency is carried out after it)."""
    sessions_dir(service.room.data_dir).write_text("not a folder")
    async with client_for(mosquitto, service.room.room_id) as client:
        reply = await client.command("start", timeout=5, plan="rehearsal", participant="P1")
        assert reply["ok"] is False
        assert reply["error"].startswith("cannot open the session journal: cannot create a journal")
        assert (await client.command("emergency", timeout=5))["ok"] is True
    assert service.engine is not None and service.engine.session is None


async def test_a_fault_after_a_command_carried_out_at_once_is_answered_and_loud(
    mosquitto: Mosquitto, service: RoomService, wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of ours while a note carried out as it was read (no start under way) is written
    out (its events could not be taken): the note is answered, with the engine's alert, as one
    in line behind a start is. (The fault escaped to the bus, which only logged it: no reply,
    no alert; the note stayed remembered unanswered, so its delivery again was not answered
    either, and the oldest answered ids went before it for good.)"""
    room = service.room.room_id
    async with client_for(mosquitto, room) as client:
        assert (await client.command("start", timeout=5, plan="rehearsal", participant="P1"))["ok"]
        fault_at_events(service, monkeypatch, lambda event: event.get("payload") == "faulty")
        faulted = await client.command("note", timeout=5, text="faulty")
        assert (await client.command("note", timeout=5, text="fine"))["ok"] is True
        state = await client.state(timeout=5)
    assert faulted["ok"] is False
    assert faulted["error"].startswith("internal error"), faulted
    alerts = {alert["key"]: alert for alert in state["alerts"]}
    assert alerts["engine"]["level"] == "critical"
