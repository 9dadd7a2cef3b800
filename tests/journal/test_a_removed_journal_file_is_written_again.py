"""A journal file removed while its session runs (the data folder deleted by hand or by a
clean-up script) is written again at its path from the open journal, so no event is lost;
while it cannot be, the events wait in memory and the alert says so."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from controller.journal import Event, Journal, list_sessions, read_events
from tests.journal.conftest import JournalFactory
from tests.journal.support import START_NS, AlertLog, eventually


def notes(path: Path) -> list[str]:
    return [str(event.payload) for event in read_events(path) if event.kind == "note"]


def written_across_the_folder_removed(new_journal: JournalFactory, data_dir: Path) -> Journal:
    """A journal given a note, its data folder removed, another note, then closed."""
    journal = new_journal()
    journal.append(Event("note", "before"), t=1.0, wall_ns=START_NS + 10**9)
    assert journal.flush()

    shutil.rmtree(data_dir)
    journal.append(Event("note", "after"), t=2.0, wall_ns=START_NS + 2 * 10**9)
    assert journal.flush()
    journal.close(ended_cleanly=True)
    return journal


def test_events_before_and_after_the_data_folder_was_removed_are_all_in_the_journal(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    journal = written_across_the_folder_removed(new_journal, data_dir)

    assert notes(journal.path) == ["before", "after"]
    [info] = list_sessions(data_dir)
    assert info.session_id == journal.session_id and info.ended_cleanly
    assert journal.path.stat().st_mode & 0o777 == 0o600


def test_a_removed_journal_that_cannot_be_written_again_is_an_alert_until_it_can(
    new_journal: JournalFactory, data_dir: Path, alert_log: AlertLog
) -> None:
    journal = new_journal()
    journal.append(Event("note", "before"), t=1.0, wall_ns=START_NS + 10**9)
    assert journal.flush()

    shutil.rmtree(data_dir)
    data_dir.write_text("a file where the data folder was")  # no folder can be made there
    journal.append(Event("note", "meanwhile"), t=2.0, wall_ns=START_NS + 2 * 10**9)
    eventually(lambda: alert_log.alerts)
    assert alert_log.alerts[0] is not None and "removed" in alert_log.alerts[0]
    assert journal.unwritten == 1
    data_dir.unlink()
    eventually(lambda: journal.unwritten == 0, timeout=10.0)
    journal.append(Event("note", "after"), t=3.0, wall_ns=START_NS + 3 * 10**9)
    journal.close(ended_cleanly=True)

    assert alert_log.alerts[-1] is None
    assert notes(journal.path) == ["before", "meanwhile", "after"]


def test_a_removed_journal_is_written_again_on_a_file_system_without_hard_links(
    new_journal: JournalFactory, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data folder on a FAT stick, where `link` is refused (EPERM): no such file system can
    be made here, so `os.link` is made to refuse as FAT's does (the rest is real)."""

    def no_hard_links(*_: object, **__: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    journal = written_across_the_folder_removed(new_journal, data_dir)

    assert sorted(p.name for p in journal.path.parent.iterdir()) == [journal.path.name]
    assert notes(journal.path) == ["before", "after"]
