"""The room's emergency marker is on the disk once written, not in the page cache only.

Outside a session the marker is all that keeps a room latched across a restart: a power cut
in the seconds after an emergency, before the file system writes out the new file and its
name, started the room unlatched. A power cut cannot be made in a test: the marker is
written to a real file, and `os.fsync` is wrapped (the real call still made) to see which
files and folders were synced.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.engine.clock import ManualClock
from controller.engine.safety import FLASH_WINDOW_S
from tests.engine.test_resume import command, engine_on, the_room


def test_an_emergency_s_marker_and_its_name_are_synced_to_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock()
    engine = engine_on(the_room(tmp_path), clock)
    clock.advance(FLASH_WINDOW_S)
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)

    command(engine, "emergency")

    assert engine.latch_file.exists()
    assert str(engine.latch_file) in synced, "the marker's content"
    assert str(engine.latch_file.parent) in synced, "the marker's name in its folder"
