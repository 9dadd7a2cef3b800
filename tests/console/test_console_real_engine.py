"""The console against the real engine (`RoomService`) and the simulated room, on a real Mosquitto.

Every key is judged by what the engine then does: its own state, not a recorded command.
The engine runs the shipped room at time scale 10 with VLC music and tones on headless outputs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.pilot import Pilot

from controller.api.state import RoomState
from controller.config import Room
from controller.console.app import ConsoleApp
from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from controller.engine.service import RoomService
from controller.journal import list_sessions, read_events
from tests.console.live_room import live_engine
from tests.console.polling import confirm_baseline, eventually, screen_text
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

DEADLINE_S = 10.0


@dataclass
class LiveRoom:
    room: Room
    service: RoomService
    app: ConsoleApp
    pilot: Pilot[None]

    def state(self) -> RoomState:
        assert self.service.engine is not None
        return self.service.engine.snapshot()

    async def until(self, check: Callable[[RoomState], object], what: str) -> None:
        await eventually(lambda: check(self.state()), timeout=DEADLINE_S, what=what)

    async def press(self, control: str) -> None:
        await self.pilot.press(DEFAULT_KEYMAP.key(control))

    async def confirm(self, control: str) -> None:
        await self.press(control)
        await eventually(lambda: "(y)" in screen_text(self.app), what=f"{control} asks first")
        await self.pilot.press("y")


@pytest.fixture
async def live(private_mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[LiveRoom]:
    async with live_engine(private_mosquitto, tmp_path) as service:
        endpoint = Endpoint(host=private_mosquitto.host, port=private_mosquitto.port)
        app = ConsoleApp(endpoint, service.room.room_id, default_plan="rehearsal")
        async with app.run_test(size=(100, 36)) as pilot:
            await eventually(
                lambda: app.view.engine == "online" and app.view.state is not None,
                timeout=DEADLINE_S,
                what="the console shows the engine",
            )
            yield LiveRoom(service.room, service, app, pilot)


async def start_session(live: LiveRoom) -> None:
    await live.pilot.click("#participant")
    await live.pilot.press(*"P014")
    await eventually(
        lambda: "✓ ready" in screen_text(live.app), timeout=DEADLINE_S, what="start is ready"
    )
    await live.pilot.click("#start")
    await confirm_baseline(live.app, live.pilot)
    await live.until(lambda s: s.session is not None, "the engine started the session")
    await eventually(lambda: "CENTERING" in screen_text(live.app), what="the live screen")
    await asyncio.sleep(0.3)  # the engine's 2 s guard after a phase change, at time scale 10


async def test_a_session_started_from_the_console_runs_on_the_engine(live: LiveRoom) -> None:
    await start_session(live)
    state = live.state()
    assert state.session is not None and state.session.participant == "P014"
    assert state.session.plan == "rehearsal"
    await eventually(lambda: "♪ Still Water" in screen_text(live.app), what="music shown")


async def test_phase_keys_move_the_engine_between_phases(live: LiveRoom) -> None:
    await start_session(live)
    await live.press("next_phase")
    await live.until(lambda s: s.phase is not None and s.phase.name == "peak", "next → peak")
    await asyncio.sleep(0.3)
    await live.confirm("previous_phase")
    await live.until(lambda s: s.phase is not None and s.phase.name == "centering", "back")
    await live.press("hold")
    await live.until(lambda s: s.phase is not None and s.phase.held, "held")
    await live.press("hold")
    await live.until(lambda s: s.phase is not None and not s.phase.held, "released")
    await live.press("extend")
    await live.until(lambda s: s.phase is not None and s.phase.extended_s == 300, "+5 min")


async def test_override_keys_change_lights_volume_music_and_bls(live: LiveRoom) -> None:
    await start_session(live)
    await live.press("lights_up")
    await live.until(lambda s: s.overrides["lights"].get("ceiling", 0) > 0.3, "lights up")
    await live.press("volume_down")
    await live.until(lambda s: s.overrides["volume"] is not None, "volume override")
    await live.press("music_pause")
    await live.until(lambda s: s.music.status == "paused", "music paused")
    await live.press("bls_toggle")
    await live.until(lambda s: s.bls.running, "BLS started")
    await live.press("bls_faster")
    await live.until(lambda s: s.bls.speed_hz is not None and s.bls.speed_hz > 1.0, "BLS faster")
    await live.press("bls_toggle")
    await live.until(lambda s: not s.bls.running, "BLS stopped")


async def test_emergency_and_its_clearing_from_the_console(live: LiveRoom) -> None:
    await start_session(live)
    await live.press("emergency")
    await live.until(lambda s: s.emergency.active and s.scene == "lights-up", "emergency")
    await eventually(lambda: "EMERGENCY since" in screen_text(live.app), what="banner")
    await live.press("emergency")
    await live.until(lambda s: s.emergency.immediate, "second press: immediate")
    await live.confirm("clear_emergency")
    await live.until(lambda s: not s.emergency.active and s.scene == "centering", "cleared")


async def test_a_note_and_the_end_of_the_session_reach_the_journal(live: LiveRoom) -> None:
    await start_session(live)
    await live.press("note")
    await eventually(lambda: "Note for the session timeline" in screen_text(live.app))
    await live.pilot.press(*"calm", "enter")
    await live.until(lambda s: any(e.text == "note added" for e in s.timeline), "note")
    await live.press("end_session")
    await eventually(lambda: "Recovery check before" in screen_text(live.app), what="recovery")
    await live.pilot.click("#skip")
    await eventually(lambda: "Why does the session end" in screen_text(live.app), what="why")
    await live.pilot.press(*"rehearsal only", "enter")
    await live.until(lambda s: s.session is None and s.scene == "idle", "session ended")
    await eventually(lambda: list_sessions(live.room.data_dir)[0].ended is not None)
    [info] = list_sessions(live.room.data_dir)
    notes = [event.payload for event in read_events(info.path) if event.kind == "note"]
    assert notes == ["calm"]
