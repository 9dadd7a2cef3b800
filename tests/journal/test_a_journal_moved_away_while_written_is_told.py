"""A data folder replaced while a session runs (renamed away, a new one made in its place, as
a restore from a backup does) leaves the session's journal outside the folder the room reads:
the writer went on writing where the file went, without a word, and the next engine, the
listing and the exports of the room's data folder never saw the session. The journal alert
says where it went, and its events wait in memory until it is back."""

from __future__ import annotations

from pathlib import Path

from controller.journal import Event, list_sessions, read_events
from tests.journal.conftest import JournalFactory
from tests.journal.support import START_NS, AlertLog, eventually


def test_a_data_folder_replaced_while_a_session_runs_raises_the_journal_alert(
    new_journal: JournalFactory, data_dir: Path, alert_log: AlertLog
) -> None:
    journal = new_journal()
    journal.append(Event("note", "before"), t=1.0, wall_ns=START_NS + 10**9)
    assert journal.flush()

    data_dir.rename(data_dir.with_name("data.old"))
    data_dir.mkdir()
    journal.append(Event("note", "after"), t=2.0, wall_ns=START_NS + 2 * 10**9)
    eventually(lambda: alert_log.alerts)
    assert journal.unwritten == 1
    assert alert_log.alerts[0] is not None and "moved away" in alert_log.alerts[0]
    assert "data.old" in alert_log.alerts[0]

    data_dir.rmdir()  # the folder put back
    data_dir.with_name("data.old").rename(data_dir)
    eventually(lambda: journal.unwritten == 0, timeout=10.0)
    journal.close(ended_cleanly=True)

    assert alert_log.alerts[-1] is None
    [info] = list_sessions(data_dir)
    assert info.ended_cleanly
    assert [e.payload for e in read_events(journal.path) if e.kind == "note"] == [
        "before",
        "after",
    ]
