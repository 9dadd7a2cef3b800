"""Listing recorded sessions, finding the open one to resume, and reading a journal back."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.journal import (
    Event,
    JournalError,
    SessionInfo,
    find_open_session,
    list_sessions,
    newest_per_device,
    read_events,
    room_journals,
)
from tests.journal.conftest import DAY_NS, JournalFactory
from tests.journal.support import START_NS


def test_sessions_are_listed_newest_first_with_their_summary(
    three_sessions: dict[str, str], data_dir: Path
) -> None:
    sessions = list_sessions(data_dir)

    assert [info.session_id for info in sessions] == [
        three_sessions["running"],
        three_sessions["crashed"],
        three_sessions["finished"],
    ]
    running, crashed, finished = sessions
    assert finished == SessionInfo(
        session_id="room-a-20261121T173000Z",
        path=data_dir / "sessions" / "room-a-20261121T173000Z.sqlite",
        room="room-a",
        plan="standard",
        participant="P-017",
        time_scale=1.0,
        started=datetime(2026, 11, 21, 17, 30, tzinfo=UTC),
        ended=datetime(2026, 11, 21, 19, 0, tzinfo=UTC),
        duration_s=5400.0,
        phases=("centering", "peak", "return"),
        ended_cleanly=True,
        resumed=False,
    )
    assert (crashed.room, crashed.is_open, crashed.ended_cleanly, crashed.resumed) == (
        "room-b",
        False,
        False,
        True,
    )
    assert (running.is_open, running.ended, running.duration_s, running.phases) == (
        True,
        None,
        300.0,  # so far: up to the newest event
        ("centering",),
    )


def test_the_listing_can_be_limited_to_one_room(
    three_sessions: dict[str, str], data_dir: Path
) -> None:
    assert [info.session_id for info in list_sessions(data_dir, "room-b")] == [
        three_sessions["crashed"]
    ]
    assert list_sessions(data_dir, "room-z") == []


def test_the_open_session_of_a_room_is_found_for_resuming(
    three_sessions: dict[str, str], data_dir: Path
) -> None:
    found = find_open_session(data_dir, "room-a")

    assert found is not None
    assert found.session_id == three_sessions["running"]
    assert find_open_session(data_dir, "room-b") is None


def test_a_missing_data_dir_has_no_sessions(tmp_path: Path) -> None:
    assert list_sessions(tmp_path / "nowhere") == []


def test_files_that_are_not_readable_journals_are_reported_and_skipped(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    good = new_journal()
    good.append(Event("note", "x" * 3000), t=0.0, wall_ns=START_NS)
    good.close(ended_cleanly=True)
    folder = data_dir / "sessions"
    (folder / "garbage.sqlite").write_text("not a database at all " * 200)
    with sqlite3.connect(folder / "other-app.sqlite") as connection:
        connection.execute("CREATE TABLE things (x)")
    shutil.copy(good.path, folder / "future.sqlite")
    with sqlite3.connect(folder / "future.sqlite") as connection:
        connection.execute("UPDATE meta SET schema_version = 99")
    shutil.copy(good.path, folder / "no-meta.sqlite")
    with sqlite3.connect(folder / "no-meta.sqlite") as connection:
        connection.execute("DELETE FROM meta")
    problems: list[tuple[str, str]] = []

    sessions = list_sessions(
        data_dir, on_unreadable=lambda path, why: problems.append((path.name, why))
    )

    assert [info.session_id for info in sessions] == [good.session_id]
    assert sorted(problems) == [
        (
            "future.sqlite",
            "written by a newer Sessionroom (journal schema 99, this version reads up to 1)",
        ),
        ("garbage.sqlite", "not a readable SQLite file (file is not a database)"),
        ("no-meta.sqlite", "damaged journal (no session metadata)"),
        ("other-app.sqlite", "not a Sessionroom journal"),
    ]


@pytest.mark.parametrize(
    ("column", "value", "why"),
    [
        ("wall_ns", "'later'", "damaged journal (an event's wall time is not a number)"),
        ("phase", "X'41'", "damaged journal (an event's phase is not text)"),
    ],
)
def test_a_journal_with_a_damaged_event_is_reported_and_the_listing_goes_on(
    new_journal: JournalFactory, data_dir: Path, column: str, value: str, why: str
) -> None:
    good = new_journal()
    good.close(ended_cleanly=True)
    damaged = new_journal(wall_ns=START_NS + DAY_NS)
    damaged.append(Event("phase", {"to": "centering"}, phase="centering"), t=0.0, wall_ns=START_NS)
    damaged.flush()
    with sqlite3.connect(damaged.path) as connection:
        connection.execute(f"UPDATE events SET {column} = {value}")
    problems: list[tuple[Path, str]] = []

    sessions = list_sessions(data_dir, on_unreadable=lambda path, why: problems.append((path, why)))

    assert [info.session_id for info in sessions] == [good.session_id]
    assert problems == [(damaged.path, why)]


def test_a_damaged_journal_is_reported_when_read(
    new_journal: JournalFactory, tmp_path: Path
) -> None:
    journal = new_journal()
    for n in range(200):
        journal.append(Event("note", f"{n} " + "words " * 100), t=n, wall_ns=START_NS)
    journal.close(ended_cleanly=True)
    damaged = tmp_path / "damaged.sqlite"
    content = bytearray(journal.path.read_bytes())
    content[3 * 4096 : 40 * 4096] = b"\xff" * (37 * 4096)  # scribble over event pages
    damaged.write_bytes(bytes(content))

    with pytest.raises(JournalError, match="damaged journal"):
        list(read_events(damaged))


def test_read_events_streams_instead_of_loading_the_whole_session(
    new_journal: JournalFactory,
) -> None:
    journal = new_journal()
    for n in range(10_000):
        journal.append(Event("state", {"n": n, "padding": "p" * 800}), t=n, wall_ns=START_NS + n)
    journal.close(ended_cleanly=True)  # about 9 MB of events

    tracemalloc.start()
    try:
        events = read_events(journal.path)
        first = next(events)
        after_first = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        count = 1 + sum(1 for _ in events)
        while_iterating = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert first.seq == 1
    assert count == 10_000
    assert after_first < 1_000_000
    assert while_iterating < 1_000_000


def test_events_can_be_read_by_kind_and_the_newest_of_each_device(
    new_journal: JournalFactory,
) -> None:
    """What a resumed engine reads of its vitals checks, without a long session's readings."""
    journal = new_journal()
    events = [
        Event("vitals", {"hr": 70}, device="oximeter"),
        Event("check", {"check": "baseline"}),
        Event("vitals", {"sys": 120}, device="bp-cuff"),
        Event("phase", {"to": "peak"}),
        Event("vitals", {"hr": 71}, device="oximeter"),
        Event("note", "words"),
    ]
    for n, event in enumerate(events):
        journal.append(event, t=float(n), wall_ns=START_NS + n)
    journal.close(ended_cleanly=True)
    by_kind = read_events(journal.path, kinds=("check", "phase"))
    assert [(e.kind, e.t) for e in by_kind] == [("check", 1.0), ("phase", 3.0)]
    assert list(read_events(journal.path, kinds=())) == []
    newest = newest_per_device(journal.path, "vitals")
    assert [(e.device, e.payload) for e in newest] == [
        ("bp-cuff", {"sys": 120}),
        ("oximeter", {"hr": 71}),
    ]


def test_reading_a_foreign_file_is_a_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("hello")

    with pytest.raises(JournalError, match=r"notes\.sqlite: not a readable SQLite file"):
        list(read_events(path))
    with pytest.raises(JournalError, match="cannot open"):
        list(read_events(tmp_path / "missing.sqlite"))


def test_finding_the_open_session_looks_at_the_newest_journal_only(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    """1,000 older sessions of the room lie beside it, every one a file that would be reported
    as unreadable if it were opened: none is, so start-up does not grow with their number."""
    running = new_journal(wall_ns=START_NS + DAY_NS)
    assert running.flush()
    folder = data_dir / "sessions"
    for day in range(1000):
        stamp = datetime.fromtimestamp(START_NS / 1e9 - day * 86400, UTC)
        (folder / f"room-a-{stamp:%Y%m%dT%H%M%SZ}.sqlite").write_text("old, never opened")
    (folder / "room-a-x-29991231T000000Z.sqlite").write_text("another room's newer session")
    opened: list[str] = []

    found = find_open_session(
        data_dir, "room-a", on_unreadable=lambda p, _why: opened.append(p.name)
    )

    assert found is not None and found.session_id == running.session_id
    assert opened == []
    assert [p.name for p in room_journals(data_dir, "room-a")[:2]] == [
        running.path.name,
        f"room-a-{datetime.fromtimestamp(START_NS / 1e9, UTC):%Y%m%dT%H%M%SZ}.sqlite",
    ]


def test_a_same_second_session_number_counts_as_newer(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    first = new_journal()
    first.close(ended_cleanly=True)
    second = new_journal()
    assert second.session_id == f"{first.session_id}-2"
    assert second.flush()
    found = find_open_session(data_dir, "room-a")
    assert found is not None and found.session_id == second.session_id


def test_an_unreadable_newest_journal_is_reported_and_the_next_one_answers(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    ended = new_journal()
    ended.close(ended_cleanly=True)
    damaged = data_dir / "sessions" / "room-a-29991231T000000Z.sqlite"
    damaged.write_bytes(b"\xff" * 4096)
    reported: list[tuple[str, str]] = []

    found = find_open_session(
        data_dir, "room-a", on_unreadable=lambda p, why: reported.append((p.name, why))
    )

    assert found is None
    assert reported == [(damaged.name, "not a readable SQLite file (file is not a database)")]


def test_a_named_pipe_or_a_loop_of_links_among_the_journals_is_reported_not_waited_on(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    """Opening a FIFO blocks until something writes to it: the engine's start waited forever
    (deaf to SIGTERM, its room locked). A loop of links raised RuntimeError."""
    ended = new_journal()
    ended.close(ended_cleanly=True)
    sessions = data_dir / "sessions"
    fifo = sessions / "room-a-29991231T000000Z.sqlite"
    os.mkfifo(fifo)
    loop = sessions / "room-a-29991230T000000Z.sqlite"
    loop.symlink_to(loop)
    reported: list[tuple[str, str]] = []

    found = find_open_session(
        data_dir, "room-a", on_unreadable=lambda p, why: reported.append((p.name, why))
    )

    assert found is None
    assert [name for name, _ in reported] == [fifo.name, loop.name]
    assert reported[0][1] == "not a regular file"
    assert reported[1][1].startswith("cannot open (")


@pytest.mark.parametrize("time_scale", [0.0, -1.0, 1e308, float("inf")])
def test_a_journal_of_a_time_scale_no_session_runs_at_is_reported_as_damaged(
    new_journal: JournalFactory, data_dir: Path, time_scale: float
) -> None:
    """A replay into a simulated room divided by a time scale of 0 (ZeroDivisionError) and
    turned a set's length at 1e308 into infinity (OverflowError); a live replay runs at most
    at the journal's time scale."""
    journal = new_journal()
    journal.close(ended_cleanly=True)
    with sqlite3.connect(journal.path) as connection:
        connection.execute("UPDATE meta SET time_scale = ?", (time_scale,))
    connection.close()
    problems: list[str] = []

    assert list_sessions(data_dir, on_unreadable=lambda path, why: problems.append(why)) == []
    assert problems == [f"damaged journal (its time scale, {time_scale:g}, is outside 0.01–1000)"]
    with pytest.raises(JournalError, match="its time scale"):
        list(read_events(journal.path))
