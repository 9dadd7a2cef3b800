"""A session ended while its disk refused the end marker, its engine stopped before the disk
took it: the note beside its journal (`<id>.ending`) says it ended, and the next start closes
it. Until then the listing says how it ended, not that it is open."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.journal import Event, list_sessions
from controller.journal.writer import Ending, keep_pending_end
from tests.journal.conftest import JournalFactory
from tests.journal.support import START_NS


@pytest.mark.xfail(
    strict=True,
    reason="the listing reads the journal's meta only: a session whose end is noted beside it "
    "is listed open, as one still running or crashed, until the next engine start closes it",
)
def test_a_session_whose_end_is_noted_beside_its_journal_is_listed_as_ended(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    journal = new_journal()
    journal.append(Event("session", {"event": "start"}), t=0.0, wall_ns=START_NS)
    assert journal.flush()
    keep_pending_end(journal.path, Ending(wall_ns=START_NS + 60 * 10**9, cleanly=True))

    [info] = list_sessions(data_dir)

    assert not info.is_open
    assert info.ended_cleanly
