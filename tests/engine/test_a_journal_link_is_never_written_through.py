"""The engine writes journals inside its data folder only: a session's journal file replaced
by a symbolic link (to a copy elsewhere, or to any SQLite file that passes as a journal) is
not continued through the link, and the room says why."""

from __future__ import annotations

import shutil
from pathlib import Path

from controller.journal import count_events
from tests.engine.test_resume import crashed_session, restart, resume_alert, the_room


def test_a_journal_left_open_that_is_a_link_outside_the_data_folder_is_not_written_through(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    path = crashed_session(data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / path.name
    shutil.move(path, target)
    for companion in ("-wal", "-shm"):
        moved = path.with_name(path.name + companion)
        if moved.exists():
            shutil.move(moved, target.with_name(target.name + companion))
    path.symlink_to(target)
    events_before = count_events(target)

    engine, resumed = restart(the_room(data))

    assert resumed is None
    assert "link" in resume_alert(engine)
    assert count_events(target) == events_before, "nothing written through the link"
    assert path.is_symlink()
