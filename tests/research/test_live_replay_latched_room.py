"""What `sessionroom replay --target live` finds in the room's data folder before it sends
anything: a room latched in an emergency whose engine is not running (docs/emergency.md#crash-
and-resume: its marker file latches the room, and the engine that starts while it exists
starts latched), or whose newest journal cannot be read (it may hold the session the room is
in), gets no live replay, whatever its retained state says (a broker restarted without
persistence keeps none)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main
from controller.journal import Journal
from tests.conftest import REPO
from tests.research.conftest import Wire
from tests.research.test_live_replay_guard import CEILING_SET, START_NS, dimming_journal
from tests.support.mosquitto import Mosquitto


def refused_live_replay(mosquitto: Mosquitto, journal: Path, room: str, data_dir: Path) -> str:
    """`sessionroom replay --target live` of `journal` into `room`: it must end with exit
    status 2 and no message to the ceiling light; what it printed."""
    wire = Wire(mosquitto, CEILING_SET)
    try:
        result = CliRunner().invoke(
            main,
            [
                "replay", str(journal), "--target", "live", "--yes",
                "--config", str(REPO / "config.yaml"), "--broker", mosquitto.url,
                "--room", room, "--data-dir", str(data_dir),
            ],
            catch_exceptions=False,
        )  # fmt: skip
    finally:
        wire.close()
    assert (result.exit_code, wire.messages) == (2, []), result.output
    return result.output


@pytest.mark.parametrize("marker", ['{"since": "2026-12-07T10:00:00Z"}', "not json"])
def test_a_room_latched_by_its_emergency_marker_gets_no_live_replay(
    mosquitto: Mosquitto, tmp_path: Path, marker: str
) -> None:
    room = f"live-{uuid.uuid4().hex[:6]}"
    data_dir = tmp_path / "room"
    data_dir.mkdir()
    (data_dir / f"{room}.emergency").write_text(marker)
    path = dimming_journal(tmp_path / "recorded")
    output = refused_live_replay(mosquitto, path, room, data_dir)
    assert f"room {room} gets no replay now: it is latched in an emergency" in output


def test_a_room_whose_newest_journal_cannot_be_read_gets_no_live_replay(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The room's newest journal cannot be read (damaged as its engine crashed, or not this
    user's to read): it may hold the session the room is in. An older journal that ended
    says nothing about it; the retained state may have gone with a broker restarted without
    persistence."""
    room = f"live-{uuid.uuid4().hex[:6]}"
    data_dir = tmp_path / "room"
    sessions = data_dir / "sessions"
    sessions.mkdir(parents=True)
    older = Journal.create(
        data_dir, room=room, plan="rehearsal", participant="P-1", time_scale=1.0,
        wall_ns=START_NS, on_alert=lambda problem: None,
    )  # fmt: skip
    older.close(ended_cleanly=True, wall_ns=START_NS + 10**9)
    assert older.path.parent == sessions and older.path.name < f"{room}-20261207T090000Z.sqlite"
    (sessions / f"{room}-20261207T090000Z.sqlite").write_bytes(
        b"SQLite format 3\x00" + b"\xff" * 84
    )
    path = dimming_journal(tmp_path / "recorded")
    output = refused_live_replay(mosquitto, path, room, data_dir)
    assert f"room {room} gets no replay now: its journal" in output
    assert "20261207T090000Z.sqlite" in output
