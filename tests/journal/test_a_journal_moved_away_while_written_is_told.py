"""A data folder replaced while a session runs (renamed away, a new one made in its place, as
a restore from a backup does) left the session's journal outside the folder the room reads:
the writer went on writing where the file went, without a word, and the next engine, the
listing and the exports of the room's data folder never saw the session. The journal is
written again at its path, in the folder the room reads, from the open connection: the whole
session is there."""

from __future__ import annotations

from pathlib import Path

from controller.journal import Event, list_sessions, read_events
from tests.journal.conftest import JournalFactory
from tests.journal.support import START_NS


def test_a_data_folder_replaced_while_a_session_runs_keeps_the_session_in_its_place(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    journal = new_journal()
    journal.append(Event("note", "before"), t=1.0, wall_ns=START_NS + 10**9)
    assert journal.flush()

    data_dir.rename(data_dir.with_name("data.old"))
    data_dir.mkdir()
    journal.append(Event("note", "after"), t=2.0, wall_ns=START_NS + 2 * 10**9)
    assert journal.flush()
    journal.close(ended_cleanly=True)

    [info] = list_sessions(data_dir)
    assert info.session_id == journal.session_id and info.ended_cleanly
    assert [e.payload for e in read_events(journal.path) if e.kind == "note"] == [
        "before",
        "after",
    ]
