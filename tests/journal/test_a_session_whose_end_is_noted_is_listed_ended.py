"""A session ended while its disk refused the end marker, its engine stopped before the disk
took it: the note beside its journal (`<id>.ending`) says it ended, and the next start closes
it. Until then the listing, the report and the exports say how it ended, not that it is
open."""

from __future__ import annotations

from pathlib import Path

from controller.journal import Event, list_sessions
from controller.journal.writer import Ending, keep_pending_end
from controller.research.sessions import session_meta
from tests.journal.conftest import JournalFactory
from tests.journal.support import START_NS


def test_a_session_whose_end_is_noted_beside_its_journal_is_listed_as_ended(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    journal = new_journal()
    journal.append(Event("session", {"event": "start"}), t=0.0, wall_ns=START_NS)
    assert journal.flush()
    keep_pending_end(journal.path, Ending(wall_ns=START_NS + 60 * 10**9, cleanly=True))

    [info] = list_sessions(data_dir)
    meta = session_meta(journal.path)  # as the report and the exports read it

    assert not info.is_open
    assert info.ended_cleanly
    assert info.duration_s == 60.0
    assert (meta.ended_wall_ns, meta.ended_cleanly) == (START_NS + 60 * 10**9, True)
