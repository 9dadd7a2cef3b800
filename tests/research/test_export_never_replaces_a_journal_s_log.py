"""An export's output named as a journal's write-ahead log (`<journal>-wal`) is refused as the
journal itself is: a session whose engine stopped without closing its journal has its newest
events there, and an export written over it lost them and left the journal unreadable."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from controller.journal import Event
from tests.research.support import write_journal
from tests.support.cli_process import sessionroom

EVENTS_IN_THE_LOG = 50

CRASHED_WRITER = """
import os, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA journal_mode = WAL")
connection.execute("PRAGMA wal_autocheckpoint = 0")
connection.execute("BEGIN")
for t in range(int(sys.argv[2])):
    connection.execute(
        "INSERT INTO events (wall_ns, t, phase, kind, payload)"
        " VALUES (1795282200000000000, ?, 'centering', 'note', '\\"words\\"')",
        (t,),
    )
connection.execute("COMMIT")
os._exit(0)  # stopped as a power cut stops it: the log is never folded into the journal
"""


def event_count(journal: Path) -> int:
    connection = sqlite3.connect(f"{journal.as_uri()}?mode=ro", uri=True)
    try:
        count: int = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        connection.close()
    return count


def test_an_export_over_a_journal_s_write_ahead_log_is_refused_and_loses_nothing(
    tmp_path: Path,
) -> None:
    journal = write_journal(tmp_path / "data", [(0.0, Event("phase", {"to": "centering"}))])
    subprocess.run(
        [sys.executable, "-c", CRASHED_WRITER, str(journal), str(EVENTS_IN_THE_LOG)],
        check=True,
        timeout=60,
    )
    log = journal.with_name(journal.name + "-wal")
    assert log.stat().st_size > 0
    assert event_count(journal) == 1 + EVENTS_IN_THE_LOG
    before = log.read_bytes()

    result = sessionroom("export", journal, "-o", log)

    assert result.returncode == 2, result.stderr
    assert f"cannot write {log}: " in result.stderr
    assert log.read_bytes() == before
    assert event_count(journal) == 1 + EVENTS_IN_THE_LOG
