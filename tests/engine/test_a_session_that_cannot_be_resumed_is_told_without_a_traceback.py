"""A session that cannot be resumed for a reason the engine names (its journal lost its
start to a power cut, its plan was edited) is logged as that reason, not as a traceback:
only a fault of the engine's own while resuming is logged with its traceback."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from tests.engine.test_resume import crashed_session, restart, the_room


def test_a_journal_that_lost_its_start_is_logged_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = crashed_session(tmp_path)
    with sqlite3.connect(path) as connection:  # what a -wal cut short by a power cut leaves
        connection.execute("DELETE FROM events")

    with caplog.at_level(logging.INFO):
        _, resumed = restart(the_room(tmp_path))

    assert resumed is None
    told = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert told, "the session that could not be resumed is told"
    assert any("no session start" in record.getMessage() for record in told)
    assert [record.getMessage() for record in told if record.exc_info] == []
