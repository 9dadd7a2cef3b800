"""End to end: `sessionroom console` in a real terminal (tmux), driven by keys as a person would.

The engine is the stand-in (`standin_engine.py`) on the real Mosquitto until the real
engine lands; the console is the installed command in its own process.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.console import sample_states as states
from tests.console.polling import eventually
from tests.console.standin_engine import StandInEngine
from tests.support.mosquitto import Mosquitto
from tests.support.requirements import missing

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

DEADLINE_S = 15.0


class Terminal:
    """A tmux server of its own with one window running a command."""

    def __init__(self, name: str) -> None:
        binary = shutil.which("tmux")
        if binary is None:
            missing("tmux", "apt-get install tmux")
        self.base = [binary, "-L", name]

    def start(self, command: list[str], width: int, height: int) -> None:
        size = ["-x", str(width), "-y", str(height)]
        subprocess.run(
            [*self.base, "new-session", "-d", "-s", "console", *size, *command], check=True
        )

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", "console", *keys], check=True)

    def screen(self) -> str:
        shown = subprocess.run(
            [*self.base, "capture-pane", "-p", "-t", "console"], capture_output=True, text=True
        )
        return shown.stdout

    def running(self) -> bool:
        probe = [*self.base, "has-session", "-t", "console"]
        return subprocess.run(probe, capture_output=True).returncode == 0

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


async def test_a_therapist_starts_a_session_steers_it_and_quits_leaving_the_room_running(
    engine: StandInEngine, mosquitto: Mosquitto, room: str, example_config: Path
) -> None:
    terminal = Terminal(f"sessionroom-{room}")
    sessionroom = str(Path(sys.executable).with_name("sessionroom"))
    await engine.publish_state(states.made_now(states.setup_state(room)))
    command = [sessionroom, "console", "--config", str(example_config)]
    command += ["--broker", mosquitto.url, "--room", room, "--stale-after", "300"]
    try:
        terminal.start(command, width=100, height=32)
        await eventually(lambda: "Before the session" in terminal.screen(), DEADLINE_S)
        terminal.keys("P014")
        await eventually(lambda: "✓ ready" in terminal.screen(), DEADLINE_S)
        terminal.keys("Enter")
        await eventually(lambda: engine.actions() == ["start"], DEADLINE_S)
        assert (engine.commands[0]["plan"], engine.commands[0]["participant"]) == (
            "standard",
            "P014",
        )

        await engine.publish_state(states.made_now(states.live_state(room, "peak")))
        await eventually(lambda: "next return · auto" in terminal.screen(), DEADLINE_S)
        assert "● PEAK" in terminal.screen() and "P014" in terminal.screen()
        terminal.keys("n")
        await eventually(lambda: engine.actions() == ["start", "next"], DEADLINE_S)
        await eventually(lambda: "✓ next phase" in terminal.screen(), DEADLINE_S)
        terminal.keys("Escape")
        await eventually(lambda: engine.actions()[-1:] == ["emergency"], DEADLINE_S)

        terminal.keys("C-q")
        await eventually(lambda: "The session goes on" in terminal.screen(), DEADLINE_S)
        terminal.keys("y")
        await eventually(lambda: not terminal.running(), DEADLINE_S, what="the console quits")
    finally:
        terminal.close()
    assert "end" not in engine.actions()
