"""The facility overview: one row per room, from the engines' retained status and state.

`summarise` is checked on hand-made states; the app runs against three real engines (each
with its simulated room on device topics of its own) on one Mosquitto.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import paho.mqtt.publish as publish
import pytest
from rich.text import Text
from textual.widgets import DataTable

from controller.api.client import RoomClient
from controller.api.state import RoomState
from controller.config import Room
from controller.config.settings import BrokerSettings
from controller.console.overview import (
    MAX_ROOMS,
    ROOMS_IGNORED,
    OverviewApp,
    read_state,
    summarise,
)
from controller.engine.service import RoomService
from controller.sim import SimulatedRoom
from controller.sim.device import BrokerAddress
from tests.console.live_room import live_room_config
from tests.console.polling import eventually, screen_text
from tests.support.mosquitto import Mosquitto

ENGINES_DEADLINE_S = 30.0


def state(**parts: Any) -> RoomState:
    return RoomState.model_validate(
        {"room": "r", "engine_version": "0", "updated": "2026-01-01T00:00:00Z", **parts}
    )


PHASE = {"name": "peak", "index": 1, "started_t": 60.0, "planned_s": 900.0, "elapsed_s": 125.0,
         "held": True, "extended_s": 300.0, "advance": "manual", "next": "return"}  # fmt: skip
SESSION = {"id": "s", "plan": "standard", "plan_title": "Standard", "participant": "P014",
           "started": "2026-01-01T00:00:00Z", "t": 185.0}  # fmt: skip


def test_a_room_without_a_state_shows_only_its_engine() -> None:
    assert summarise("a", "offline", None).cells() == ("a", "OFFLINE", "—", "—", "", "", "", "",
                                                       "")  # fmt: skip
    assert summarise("a", None, None).engine == "unknown"


def test_a_session_shows_participant_plan_phase_time_hold_and_extension() -> None:
    row = summarise("a", "online", state(session=SESSION, phase=PHASE))
    assert (row.session, row.phase, row.time, row.hold) == (
        "P014 · standard", "peak", "02:05 / 15:00", "held +05:00",
    )  # fmt: skip


def test_an_emergency_alerts_and_offline_essential_devices_stand_out() -> None:
    devices = {
        "ceiling": {"kind": "light", "driver": "zigbee2mqtt", "label": "C", "available": "offline",
                    "essential": True},
        "strip": {"kind": "light", "driver": "wled", "label": "S", "available": "offline"},
        "oximeter": {"kind": "sensor", "driver": "mqtt-vitals", "label": "O",
                     "available": "unknown", "essential": True},
    }  # fmt: skip
    alerts = [
        {"key": "spo2", "kind": "vitals", "level": "critical", "message": "SpO2 85",
         "since": "2026-01-01T00:00:00Z"},
        {"key": "strip", "kind": "device", "level": "warning", "message": "strip offline",
         "since": "2026-01-01T00:00:00Z"},
    ]  # fmt: skip
    row = summarise("a", "online", state(devices=devices, alerts=alerts,
                                         emergency={"active": True}))  # fmt: skip
    assert (row.emergency, row.alerts, row.offline) == (
        "EMERGENCY", "2 (1 critical)", "ceiling, oximeter",
    )  # fmt: skip


@pytest.mark.parametrize(
    "payload", [b"not json", b'{"room": 1}', b"[" * 100_000, b'{"room":"' + b"x" * 2_000_000]
)
def test_an_unreadable_state_is_shown_as_none(payload: bytes) -> None:
    assert read_state(payload) is None


def own_topics(room: Room, prefix: str) -> Room:
    """The room with every device topic prefixed, so rooms on one broker do not share devices."""
    room.devices = {
        device_id: device.model_copy(update={"topic": f"{prefix}{device.topic}"})
        if device.topic
        else device
        for device_id, device in room.devices.items()
    }
    return room


@contextlib.asynccontextmanager
async def three_engines(
    broker: Mosquitto, data: Path
) -> AsyncIterator[list[tuple[str, asyncio.Task[None]]]]:
    """Three engines with their simulated rooms: (room id, the engine's task) each."""
    running = []
    async with contextlib.AsyncExitStack() as stack:
        for index in range(3):
            room = own_topics(live_room_config(broker, data / str(index)), f"o{index}-")
            task = asyncio.create_task(RoomService(room).run())
            stack.push_async_callback(stop, task)
            address = BrokerAddress(host=broker.host, port=broker.port)
            await stack.enter_async_context(
                SimulatedRoom(list(room.devices.values()), address, room_id=room.room_id)
            )
            running.append((room.room_id, task))
        yield running


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def command(broker: Mosquitto, room: str, action: str, **params: Any) -> None:
    settings = BrokerSettings(mode="external", host=broker.host, port=broker.port)
    client_id = f"sessionroom-test-{uuid.uuid4().hex[:8]}"
    async with RoomClient(settings, room=room, client_id=client_id) as client:
        reply = await client.command(action, timeout=10, **params)
        assert reply["ok"], reply


@pytest.mark.mosquitto
@pytest.mark.slow
async def test_the_overview_shows_three_engines_live(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = BrokerSettings(mode="external", host="127.0.0.1", port=private_mosquitto.port)
    app = OverviewApp(settings, root=tmp_path)
    async with three_engines(private_mosquitto, tmp_path) as engines:
        first, second, third = (room for room, _ in engines)
        async with app.run_test(size=(140, 20)) as pilot:
            await eventually(
                lambda: all(app.rows.get(r) and app.rows[r].engine == "online"
                            for r in (first, second, third)),
                ENGINES_DEADLINE_S, "three engines online",
            )  # fmt: skip
            await command(private_mosquitto, first, "start", plan="rehearsal", participant="P1")
            await command(private_mosquitto, second, "emergency")
            await eventually(lambda: app.rows[first].phase == "centering", what="room 1 started")
            await eventually(lambda: app.rows[second].emergency == "EMERGENCY", what="room 2")
            assert app.rows[first].session == "P1 · rehearsal"
            assert app.rows[third].session == "—" and app.rows[third].emergency == ""
            await pilot.pause(0.2)  # the table redraws
            text = screen_text(app)
            assert "P1 · rehearsal" in text and "EMERGENCY" in text and third in text
            await stop(engines[2][1])  # the third engine stops: its status goes offline
            await eventually(lambda: app.rows[third].engine == "OFFLINE", what="room 3 offline")


def test_a_room_whose_bridge_is_down_is_unreachable() -> None:
    assert summarise("a", "online", None, bridge="0").engine == "UNREACHABLE"
    assert summarise("a", "online", None, bridge="1").engine == "online"


FAKE_ROOMS = 150


@pytest.mark.mosquitto
async def test_hostile_retained_rooms_neither_stop_nor_fool_the_overview(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """On a broker without an ACL (a lab's, a room PC's own) anyone may leave retained
    messages: many rooms, markup in a phase or a participant, room names no room can have
    (markup, a Cyrillic look-alike of `room-a`). The overview keeps running, shows text as
    text, and shows only rooms whose name a room may have."""

    def hostile(room: str) -> str:
        """A state of `room` (a state naming another room is unreadable on its topic)."""
        return state(
            room=room,
            session={**SESSION, "participant": "[/]", "plan": "[link=http://evil.example]x"},
            phase={**PHASE, "name": "[bold red]calm[/"},
        ).model_dump_json()

    messages: list[Any] = [(f"sessionroom/fake-{i:03}/state", hostile(f"fake-{i:03}"), 1, True)
                           for i in range(FAKE_ROOMS)]  # fmt: skip
    for room in ("[/]", "r\u043e\u043em-a", "ROOM-A", "room a", ""):
        messages += [(f"sessionroom/{room}/status", "online", 1, True),
                     (f"sessionroom/{room}/state", hostile(room), 1, True)]  # fmt: skip
    await asyncio.to_thread(
        publish.multiple, messages, hostname="127.0.0.1", port=private_mosquitto.port
    )
    settings = BrokerSettings(mode="external", host="127.0.0.1", port=private_mosquitto.port)
    app = OverviewApp(settings, root=tmp_path)
    async with app.run_test(size=(140, 20)) as pilot:
        table: DataTable[Text] = app.query_one(DataTable)
        await eventually(lambda: len(table.rows) >= FAKE_ROOMS, 20, "every fake room shown")
        await pilot.pause(0.2)  # the table redraws and sorts
        assert app.is_running
        first = table.get_row_at(0)[0]
        assert first.plain == "fake-000"
        text = screen_text(app)
        assert "[/] · [link=http://evil.example]x" in text
        assert "[bold red]calm[/" in text
        assert set(app.rows) == {f"fake-{i:03}" for i in range(FAKE_ROOMS)}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_state_with_times_that_are_no_numbers_is_unreadable_not_a_traceback(
    value: float,
) -> None:
    """JSON as Python writes it may hold NaN and Infinity, which the state's floats would
    take (and the time cells could not show): the overview reads a state as the room's
    console does (`controller.untrusted`), so such a state is unreadable."""
    phase = PHASE | {"elapsed_s": value}
    payload = {"room": "a", "engine_version": "0", "updated": "2026-01-01T00:00:00Z",
               "phase": phase, "emergency": {"active": True}}  # fmt: skip
    assert read_state(json.dumps(payload).encode()) is None


def test_a_state_whose_text_holds_escape_sequences_is_shown_as_their_pictures() -> None:
    """A retained state of a hostile client cannot set the terminal's title or clear it."""
    session = SESSION | {"participant": "P\x1b]0;owned\x07", "plan": "a\x9b2J"}
    payload = {"room": "a", "engine_version": "0", "updated": "2026-01-01T00:00:00Z",
               "session": session}  # fmt: skip
    read = read_state(json.dumps(payload).encode())
    assert read is not None
    assert summarise("a", "online", read).session == "P␛]0;owned␇ · a�2J"


def test_an_unreadable_state_does_not_show_the_room_as_calm() -> None:
    """A state that cannot be read (spoofed, broken, or from an engine the overview does not
    understand) says so, and the emergency is unknown rather than blank (which reads: none)."""
    row = summarise("a", "online", None, unreadable=True)
    assert (row.session, row.emergency) == ("state unreadable", "unknown")
    assert summarise("a", "online", None).emergency == ""


@pytest.mark.mosquitto
async def test_a_room_whose_retained_state_is_spoiled_is_not_shown_calm(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Through the broker: a room whose state holds a NaN time, was overwritten with
    something that is no state, or with a calm state that says it is another room's, is
    listed (not dropped by a traceback) with its emergency unknown."""
    emergency = state(phase=PHASE, emergency={"active": True}).model_dump()
    emergency["phase"]["elapsed_s"] = math.nan
    calm_elsewhere = state(phase=PHASE).model_dump_json()
    assert json.loads(calm_elsewhere)["room"] != "borrowed"
    messages: list[Any] = [
        ("sessionroom/nan/state", json.dumps(emergency), 1, True),
        ("sessionroom/spoiled/state", '{"room": "spoiled"}', 1, True),
        ("sessionroom/borrowed/state", calm_elsewhere, 1, True),
    ]
    await asyncio.to_thread(
        publish.multiple, messages, hostname="127.0.0.1", port=private_mosquitto.port
    )
    settings = BrokerSettings(mode="external", host="127.0.0.1", port=private_mosquitto.port)
    app = OverviewApp(settings, root=tmp_path)
    async with app.run_test(size=(140, 20)):
        rooms = ("nan", "spoiled", "borrowed")
        await eventually(lambda: set(app.rows) == set(rooms), 20, "every room shown")
        assert [app.rows[room].emergency for room in rooms] == ["unknown"] * 3


async def publish_retained(broker: Mosquitto, messages: list[tuple[str, str]]) -> None:
    await asyncio.to_thread(
        publish.multiple,
        [(topic, payload, 1, True) for topic, payload in messages],
        hostname="127.0.0.1",
        port=broker.port,
    )


@pytest.mark.mosquitto
async def test_rooms_beyond_the_cap_are_ignored_and_the_overview_says_so(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A flood of made-up rooms (anyone may publish on a broker without an ACL) stops at
    `MAX_ROOMS` rows, so every key stays quick; a room given with `--rooms` is still listed."""
    made_up = MAX_ROOMS + 50
    await publish_retained(
        private_mosquitto, [(f"sessionroom/x{i:04}/status", "online") for i in range(made_up)]
    )
    settings = BrokerSettings(mode="external", host="127.0.0.1", port=private_mosquitto.port)
    app = OverviewApp(settings, root=tmp_path, consoles={"known": tmp_path / "config.yaml"})
    async with app.run_test(size=(140, 20)) as pilot:
        table: DataTable[Text] = app.query_one(DataTable)
        await eventually(lambda: app.sub_title == ROOMS_IGNORED, 20, "rooms beyond the cap")
        await publish_retained(private_mosquitto, [("sessionroom/known/status", "online")])
        await eventually(lambda: "known" in app.rows, 20, "the known room listed")
        await pilot.pause(0.2)  # the table redraws
        assert len(app.rows) == len(table.rows) == MAX_ROOMS + 1
        assert len(app.statuses) == MAX_ROOMS + 1
        assert ROOMS_IGNORED in screen_text(app)


@pytest.mark.mosquitto
async def test_a_room_whose_retained_messages_are_cleared_is_no_longer_listed(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A retired room's status and state are cleared (empty retained messages): its row goes."""
    room_state = state(session=SESSION, phase=PHASE).model_dump_json()
    await publish_retained(
        private_mosquitto,
        [(f"sessionroom/{room}/{part}", payload) for room in ("gone", "stays")
         for part, payload in (("status", "online"), ("state", room_state))],
    )  # fmt: skip
    settings = BrokerSettings(mode="external", host="127.0.0.1", port=private_mosquitto.port)
    app = OverviewApp(settings, root=tmp_path)
    async with app.run_test(size=(140, 20)):
        table: DataTable[Text] = app.query_one(DataTable)
        await eventually(lambda: set(table.rows) == {"gone", "stays"}, 20, "both rooms shown")
        await publish_retained(
            private_mosquitto, [("sessionroom/gone/status", ""), ("sessionroom/gone/state", "")]
        )
        await eventually(lambda: set(table.rows) == {"stays"}, 20, "the cleared room gone")
        assert set(app.rows) == {"stays"}
