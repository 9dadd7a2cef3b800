"""A room latched in an emergency whose engine is not running (docs/emergency.md#crash-and-
resume: its marker file latches the room, and the engine that starts while it exists starts
latched) gets no live replay, whatever its retained state says (a broker restarted without
persistence keeps none)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main
from tests.conftest import REPO
from tests.research.conftest import Wire
from tests.research.test_live_replay_guard import CEILING_SET, dimming_journal
from tests.support.mosquitto import Mosquitto


@pytest.mark.parametrize("marker", ['{"since": "2026-12-07T10:00:00Z"}', "not json"])
def test_a_room_latched_by_its_emergency_marker_gets_no_live_replay(
    mosquitto: Mosquitto, tmp_path: Path, marker: str
) -> None:
    room = f"live-{uuid.uuid4().hex[:6]}"
    data_dir = tmp_path / "room"
    data_dir.mkdir()
    (data_dir / f"{room}.emergency").write_text(marker)
    path = dimming_journal(tmp_path / "recorded")
    wire = Wire(mosquitto, CEILING_SET)
    try:
        result = CliRunner().invoke(
            main,
            [
                "replay", str(path), "--target", "live", "--yes",
                "--config", str(REPO / "config.yaml"), "--broker", mosquitto.url,
                "--room", room, "--data-dir", str(data_dir),
            ],
            catch_exceptions=False,
        )  # fmt: skip
    finally:
        wire.close()
    assert (result.exit_code, wire.messages) == (2, []), result.output
    assert f"room {room} gets no replay now: it is latched in an emergency" in result.output
