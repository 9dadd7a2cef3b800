"""The room's lock (`<data_dir>/<room>.lock`) never keeps the room from starting: a full disk
that refuses the pid written into a new lock file, or a FIFO in its place, ended
`sessionroom run` with a traceback before the room (and its emergency) came up."""

from __future__ import annotations

import logging
import os
import textwrap
from pathlib import Path

import pytest

from controller.engine.lock import lock_path, room_lock
from tests.support.small_disk import FILL_THE_DISK, run_on_a_small_disk


def test_a_fifo_in_the_lock_s_place_is_logged_and_the_room_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    os.mkfifo(lock_path(tmp_path, "room-a"))

    with caplog.at_level(logging.ERROR), room_lock(tmp_path, "room-a"):
        entered = True

    assert entered
    assert any("running without it" in record.getMessage() for record in caplog.records)


LOCK_ON_A_FULL_DISK = FILL_THE_DISK + textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from controller.engine.lock import RoomBusy, room_lock
    data = Path(sys.argv[1]) / "data"
    data.mkdir()
    fill_the_disk(data.parent)
    with room_lock(data, "room-a"):
        try:
            with room_lock(data, "room-a"):
                print("a second engine got in")
        except RoomBusy as busy:
            print("held:", busy)  # RoomBusy
    """
)


def test_a_new_lock_on_a_full_disk_is_held_all_the_same(tmp_path: Path) -> None:
    ran_stdout = run_on_a_small_disk(tmp_path, LOCK_ON_A_FULL_DISK, timeout_s=60)
    assert ran_stdout.startswith("held: room room-a already has an engine running"), ran_stdout
