"""End to end: `sessionroom console` in a real terminal (tmux), driven by keys as a person would.

The engine is the real one (`RoomService`) with the simulated room on its own Mosquitto;
the console is the installed command in its own process.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from controller.api.state import RoomState
from tests.console.live_room import live_engine
from tests.console.polling import eventually
from tests.support.mosquitto import Mosquitto
from tests.support.terminal import Terminal

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

DEADLINE_S = 15.0


async def test_a_therapist_starts_a_session_steers_it_and_quits_leaving_the_room_running(
    private_mosquitto: Mosquitto, example_config: Path, tmp_path: Path
) -> None:
    async with live_engine(private_mosquitto, tmp_path) as service:
        room = service.room.room_id
        terminal = Terminal(f"sessionroom-{room}")
        sessionroom = str(Path(sys.executable).with_name("sessionroom"))
        command = [sessionroom, "console", "--config", str(example_config)]
        command += ["--broker", private_mosquitto.url, "--room", room]

        def state() -> RoomState:
            assert service.engine is not None
            return service.engine.snapshot()

        try:
            terminal.start(command, width=100, height=32)
            await eventually(lambda: "Before the session" in terminal.screen(), DEADLINE_S)
            terminal.keys("P014")
            await eventually(lambda: "✓ ready" in terminal.screen(), DEADLINE_S)
            terminal.keys("Enter")
            await eventually(lambda: "Confirm the baseline" in terminal.screen(), DEADLINE_S)
            terminal.keys("Enter")
            await eventually(lambda: state().session is not None, DEADLINE_S, what="started")
            session = state().session
            assert session is not None and (session.plan, session.participant) == (
                "standard",
                "P014",
            )
            await eventually(lambda: "● CENTERING" in terminal.screen(), DEADLINE_S)
            await asyncio.sleep(0.3)  # the 2 s guard after a phase change, at time scale 10
            terminal.keys("n")
            await eventually(lambda: "● PEAK" in terminal.screen(), DEADLINE_S, what="peak")
            assert state().phase is not None and state().phase.name == "peak"  # type: ignore[union-attr]
            terminal.keys("Escape")
            await eventually(lambda: state().emergency.active, DEADLINE_S, what="emergency")
            await eventually(lambda: "EMERGENCY since" in terminal.screen(), DEADLINE_S)

            terminal.keys("C-q")
            await eventually(lambda: "The session goes on" in terminal.screen(), DEADLINE_S)
            terminal.keys("y")
            await eventually(lambda: not terminal.running(), DEADLINE_S, what="console quits")
        finally:
            terminal.close()
        assert state().session is not None, "quitting the console leaves the session running"
