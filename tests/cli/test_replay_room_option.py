"""`replay --target sim --replay-room ID` names a replay's room, never a live room's.

The simulated room publishes its state and status (its birth and will) under that id. Given
a live room's id (the recorded room's own, say), it wrote a state without the room's
emergency over the latched room's and left `offline` retained as the live engine's status
(Home Assistant then shows the room's emergency button as unavailable); a wildcard ended in
a traceback.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main
from controller.journal import Event
from tests.conftest import REPO
from tests.research.support import write_journal

CONFIG = str(REPO / "config.yaml")
SIM = ["replay", "--config", CONFIG, "session-1", "--target", "sim", "--replay-room"]


@pytest.mark.parametrize("replay_room", ["room-a", "room-b", "+", "#", "a/b", "", "x-replay\n"])
def test_a_replay_room_that_is_no_replays_id_is_a_usage_error(replay_room: str) -> None:
    result = CliRunner().invoke(main, [*SIM, replay_room])

    assert result.exit_code == 2, result.output
    assert "is not a replay's room id" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_replays_id_is_taken() -> None:
    result = CliRunner().invoke(main, [*SIM, "room-a-2-replay"])

    assert "replay's room id" not in result.stderr
    assert "no session session-1" in result.stderr  # it went on to find the session


@pytest.mark.parametrize("room", ["room-a/#", "+", "room-a/../room-b"])
def test_a_journals_room_that_is_no_room_id_needs_a_replay_room_given(
    tmp_path: Path, room: str
) -> None:
    journal = write_journal(tmp_path / "data", [(0.0, Event("phase", {"to": "centering"}))])
    with sqlite3.connect(journal) as connection:
        connection.execute("UPDATE meta SET room = ?", (room,))

    result = CliRunner().invoke(
        main, ["replay", "--config", CONFIG, str(journal), "--target", "sim", "--speed", "0"]
    )

    assert result.exit_code == 2, result.output
    assert f"the session's room {room!r} is no room id" in result.stderr
    assert "--replay-room" in result.stderr
    assert "Replaying" not in result.output
