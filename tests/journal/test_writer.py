"""The writer thread: appends never wait for the disk, commits are grouped, nothing is ever lost."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from pathlib import Path

import pytest

from controller.journal import Event, Journal, JournalError, read_events
from controller.journal import writer as writer_module
from controller.journal.writer import Ending, pending_end
from tests.journal.conftest import JournalFactory
from tests.journal.support import (
    START_NS,
    AlertLog,
    LimitedDisk,
    ReadOnlyDisk,
    TracedConnections,
    eventually,
)

BUFFERED = re.compile(r"^journal: (?P<problem>.+) — (?P<count>\d+) events? buffered in memory$")


BIGGER_THAN_A_PAGE = 5000
"""Each such event needs new pages, so none fits into a full file."""


def note(n: int, size: int = 0) -> Event:
    return Event("note", {"n": n, "text": "x" * size})


def stored_count(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        count: int = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    return count


def stored_numbers(path: Path) -> list[tuple[int, int]]:
    """(seq, the event's own number) for every stored event, in seq order."""
    numbers = []
    for event in read_events(path):
        assert isinstance(event.payload, dict)
        numbers.append((event.seq, event.payload["n"]))
    return numbers


def test_append_returns_while_the_writer_waits_for_a_write_lock_held_elsewhere(
    new_journal: JournalFactory,
) -> None:
    traced = TracedConnections()
    journal = new_journal(connect=traced.connect)
    journal.append(note(0), t=0.0, wall_ns=START_NS)
    assert journal.flush()
    blocker = sqlite3.connect(journal.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
    journal.append(note(1), t=0.1, wall_ns=START_NS)
    eventually(lambda: traced.count("BEGIN IMMEDIATE") == 2)  # the writer is stuck on the lock

    seqs = [journal.append(note(n), t=n / 10, wall_ns=START_NS) for n in range(2, 1002)]

    assert seqs == list(range(3, 1003))
    assert traced.count("COMMIT") == 1  # all those appends returned while nothing more was written
    assert journal.unwritten == 1001
    blocker.execute("ROLLBACK")
    eventually(lambda: journal.unwritten == 0)
    assert stored_numbers(journal.path) == [(n + 1, n) for n in range(1002)]


def test_events_appended_together_are_committed_together(new_journal: JournalFactory) -> None:
    traced = TracedConnections()
    journal = new_journal(connect=traced.connect)

    for n in range(2000):
        journal.append(note(n), t=0.0, wall_ns=START_NS)
    eventually(lambda: journal.unwritten == 0)

    assert stored_count(journal.path) == 2000
    # A group is committed once COMMIT_BATCH events wait or COMMIT_INTERVAL_S has passed.
    assert 1 <= traced.count("COMMIT") <= 20


def test_a_full_batch_is_committed_at_once_without_waiting_out_the_interval(
    new_journal: JournalFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "COMMIT_INTERVAL_S", 60.0)
    traced = TracedConnections()
    journal = new_journal(connect=traced.connect)

    for n in range(writer_module.COMMIT_BATCH):
        journal.append(note(n), t=0.0, wall_ns=START_NS)

    eventually(lambda: journal.unwritten == 0)  # long before the 60 s interval
    assert traced.count("COMMIT") == 1


def test_events_queued_while_a_commit_waits_go_into_the_next_single_commit(
    new_journal: JournalFactory,
) -> None:
    traced = TracedConnections()
    journal = new_journal(connect=traced.connect)
    blocker = sqlite3.connect(journal.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    journal.append(note(0), t=0.0, wall_ns=START_NS)
    eventually(lambda: traced.count("BEGIN IMMEDIATE") == 1)
    for n in range(1, 3000):
        journal.append(note(n), t=0.0, wall_ns=START_NS)

    blocker.execute("ROLLBACK")
    eventually(lambda: journal.unwritten == 0)

    assert traced.count("COMMIT") == 2  # the stuck first event, then the 2999 queued behind it


def test_a_lone_event_reaches_the_disk_without_a_flush(new_journal: JournalFactory) -> None:
    journal = new_journal()

    journal.append(note(1), t=0.0, wall_ns=START_NS)

    eventually(lambda: stored_count(journal.path) == 1)


def test_appends_from_many_threads_get_unique_seqs_stored_in_seq_order(
    new_journal: JournalFactory,
) -> None:
    journal = new_journal()
    seqs: list[list[int]] = [[] for _ in range(4)]

    def append_many(worker: int) -> None:
        for n in range(500):
            seqs[worker].append(
                journal.append(Event("state", {"worker": worker, "n": n}), t=0.0, wall_ns=START_NS)
            )

    threads = [threading.Thread(target=append_many, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close(ended_cleanly=True)
    events = list(read_events(journal.path))

    assert sorted(seq for mine in seqs for seq in mine) == list(range(1, 2001))
    assert [event.seq for event in events] == list(range(1, 2001))
    for worker, mine in enumerate(seqs):
        assert [events[seq - 1].payload for seq in mine] == [
            {"worker": worker, "n": n} for n in range(500)
        ]


async def test_append_from_the_event_loop_keeps_the_loop_running(
    new_journal: JournalFactory,
) -> None:
    journal = new_journal()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    for n in range(200):
        journal.append(note(n), t=0.0, wall_ns=START_NS)
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.to_thread(journal.close, ended_cleanly=True)

    assert ticks >= 199
    assert stored_count(journal.path) == 200


@pytest.mark.usefixtures("fast_retries")
def test_a_full_disk_keeps_every_event_in_memory_and_writes_them_in_order_when_space_returns(
    new_journal: JournalFactory, alert_log: AlertLog
) -> None:
    disk = LimitedDisk(full=True)
    journal = new_journal(connect=disk.connect)

    for n in range(100):
        journal.append(note(n, size=BIGGER_THAN_A_PAGE), t=n, wall_ns=START_NS + n)
    eventually(lambda: alert_log.alerts)
    for n in range(100, 150):  # the room goes on while the disk is full
        journal.append(note(n, size=BIGGER_THAN_A_PAGE), t=n, wall_ns=START_NS + n)
    eventually(lambda: disk.connections >= 4)  # it has retried a few times

    full = BUFFERED.match(alert_log.alerts[0] or "")
    assert full is not None
    assert full["problem"] == "disk full"
    assert 1 <= int(full["count"]) <= 100  # what was waiting when the first commit failed
    assert alert_log.alerts == [alert_log.alerts[0]]  # once, not per event or per retry
    assert journal.unwritten == 150
    assert stored_count(journal.path) == 0

    disk.full = False
    eventually(lambda: journal.unwritten == 0)
    journal.close(ended_cleanly=True)

    assert alert_log.alerts == [full.string, None]
    assert stored_numbers(journal.path) == [(n + 1, n) for n in range(150)]


@pytest.mark.usefixtures("fast_retries")
def test_a_read_only_disk_buffers_and_recovers_the_same_way(
    new_journal: JournalFactory, alert_log: AlertLog
) -> None:
    disk = ReadOnlyDisk(read_only=True)
    journal = new_journal(connect=disk.connect)

    for n in range(10):
        journal.append(note(n), t=n, wall_ns=START_NS + n)
    eventually(lambda: alert_log.alerts)
    disk.read_only = False
    eventually(lambda: journal.unwritten == 0)
    journal.close(ended_cleanly=True)

    assert alert_log.alerts == ["journal: disk read-only — 10 events buffered in memory", None]
    assert stored_numbers(journal.path) == [(n + 1, n) for n in range(10)]


@pytest.mark.usefixtures("fast_retries")
def test_a_vanished_sessions_folder_buffers_until_it_is_back(
    new_journal: JournalFactory, alert_log: AlertLog, data_dir: Path
) -> None:
    journal = new_journal()
    folder = data_dir / "sessions"
    folder.rename(data_dir / "unmounted")  # e.g. the disk holding it went away

    journal.append(note(0), t=0.0, wall_ns=START_NS)
    eventually(lambda: alert_log.alerts)
    (data_dir / "unmounted").rename(folder)
    eventually(lambda: journal.unwritten == 0)
    journal.close(ended_cleanly=True)

    assert alert_log.alerts == [
        "journal: journal file unreachable — 1 event buffered in memory",
        None,
    ]
    assert stored_numbers(journal.path) == [(1, 0)]


@pytest.mark.usefixtures("fast_retries")
def test_a_new_problem_is_a_new_alert(new_journal: JournalFactory, alert_log: AlertLog) -> None:
    disk = LimitedDisk(full=True)
    journal = new_journal(connect=disk.connect)
    for n in range(50):
        journal.append(note(n, size=BIGGER_THAN_A_PAGE), t=n, wall_ns=START_NS + n)
    eventually(lambda: alert_log.alerts)

    folder = journal.path.parent
    folder.rename(folder.with_name("gone"))
    eventually(lambda: len(alert_log.alerts) == 2)
    folder.with_name("gone").rename(folder)
    disk.full = False
    eventually(lambda: len(alert_log.alerts) == 3)

    assert [BUFFERED.match(a)["problem"] for a in alert_log.alerts[:2]] == [  # type: ignore[arg-type, index]
        "disk full",
        "journal file unreachable",
    ]
    assert alert_log.alerts[2] is None


def forty_events_on_a_full_disk(new_journal: JournalFactory) -> tuple[Journal, LimitedDisk]:
    """A journal whose disk is full, holding 40 events too big for the file's free space."""
    disk = LimitedDisk(full=True)
    journal = new_journal(connect=disk.connect)
    for n in range(40):
        journal.append(note(n, size=BIGGER_THAN_A_PAGE), t=n, wall_ns=START_NS + n)
    return journal, disk


@pytest.mark.usefixtures("fast_retries")
def test_close_on_a_full_disk_says_so_and_a_later_close_writes_everything(
    new_journal: JournalFactory,
) -> None:
    journal, disk = forty_events_on_a_full_disk(new_journal)

    with pytest.raises(
        JournalError, match=r"40 events not yet written \(disk full\); still retrying"
    ):
        journal.close(ended_cleanly=True, timeout_s=0.2)
    disk.full = False
    journal.close(ended_cleanly=True)

    assert stored_numbers(journal.path) == [(n + 1, n) for n in range(40)]
    with sqlite3.connect(journal.path) as connection:
        assert connection.execute("SELECT ended_cleanly FROM meta").fetchone() == (1,)


@pytest.mark.usefixtures("fast_retries")
def test_an_alert_callback_that_raises_does_not_stop_the_writer(
    new_journal: JournalFactory,
) -> None:
    def broken_alert(message: str | None) -> None:
        raise RuntimeError("console gone")

    disk = ReadOnlyDisk(read_only=True)
    journal = new_journal(connect=disk.connect, on_alert=broken_alert)
    journal.append(note(0), t=0.0, wall_ns=START_NS)
    eventually(lambda: disk.connections >= 2)
    disk.read_only = False

    journal.close(ended_cleanly=True)

    assert stored_numbers(journal.path) == [(1, 0)]


@pytest.mark.usefixtures("fast_retries")
def test_an_end_the_disk_refuses_is_noted_beside_the_journal_until_it_is_written(
    new_journal: JournalFactory,
) -> None:
    journal, disk = forty_events_on_a_full_disk(new_journal)
    noted = journal.path.with_suffix(".ending")

    with pytest.raises(JournalError, match="still retrying"):
        journal.close(ended_cleanly=True, wall_ns=START_NS + 99, timeout_s=0.2)
    assert pending_end(journal.path) == Ending(wall_ns=START_NS + 99, cleanly=True)
    assert noted.stat().st_mode & 0o777 == 0o600
    disk.full = False

    eventually(lambda: not noted.exists())
    with sqlite3.connect(journal.path) as connection:
        assert connection.execute("SELECT ended_wall_ns, ended_cleanly FROM meta").fetchone() == (
            START_NS + 99,
            1,
        )
    assert pending_end(journal.path) is None


def test_a_clean_close_leaves_no_end_note(new_journal: JournalFactory) -> None:
    journal = new_journal()
    journal.append(note(0), t=0.0, wall_ns=START_NS)
    journal.close(ended_cleanly=True)
    assert sorted(p.name for p in journal.path.parent.iterdir()) == [journal.path.name]


def test_a_long_refusal_sheds_device_traffic_then_everything_but_memory_stays_bounded(
    new_journal: JournalFactory, alert_log: AlertLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/robustness.md#journal: never unbounded memory; what is shed is counted and said."""
    monkeypatch.setattr(writer_module, "SHED_FROM", 20)
    monkeypatch.setattr(writer_module, "MAX_UNWRITTEN", 30)
    disk = ReadOnlyDisk(read_only=True)
    journal = new_journal(connect=disk.connect)
    state = Event("state", {"on": True}, device="lamp")
    kept = []
    for n in range(20):
        kept.append(journal.append(note(n), t=n, wall_ns=START_NS + n))
    eventually(lambda: alert_log.alerts)
    assert journal.append(state, t=20, wall_ns=START_NS + 20) is None  # device traffic first
    for n in range(20, 35):
        kept.append(journal.append(note(n), t=n, wall_ns=START_NS + n))
    assert kept[:30] == list(range(1, 31)) and kept[30:] == [None] * 5
    assert journal.unwritten == 30
    assert alert_log.alerts[1] == (
        "journal: disk read-only — 20 events held in memory; further device states and "
        "commands are shed, and beyond 30 events everything"
    )

    disk.read_only = False
    eventually(lambda: journal.unwritten == 0)
    assert journal.take_shed() == {"state": 1, "note": 5}
    assert journal.take_shed() == {}
    journal.append(note(99), t=99, wall_ns=START_NS + 99)  # writing normally again
    journal.close(ended_cleanly=True)
    assert stored_numbers(journal.path) == [(n + 1, n) for n in range(30)] + [(31, 99)]


def started_on_disk(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        (started,) = connection.execute("SELECT started_wall_ns FROM meta").fetchone()
    return int(started)


def test_a_later_start_time_is_written_with_the_next_events_and_flushed_alone_too(
    new_journal: JournalFactory,
) -> None:
    """A session whose journal was created before it started (opened away from the engine)
    keeps the time it started: on its own, a flush writes it; with events, it goes with them."""
    alone = new_journal()
    alone.start_at(START_NS + 2 * 10**9)
    assert alone.flush(timeout_s=5)
    assert started_on_disk(alone.path) == START_NS + 2 * 10**9
    assert alone.meta.started_wall_ns == START_NS + 2 * 10**9

    with_events = new_journal()
    with_events.start_at(START_NS + 3 * 10**9)
    with_events.append(note(0), t=0.0, wall_ns=START_NS + 3 * 10**9)
    with_events.close(ended_cleanly=True)
    assert started_on_disk(with_events.path) == START_NS + 3 * 10**9
    assert stored_numbers(with_events.path) == [(1, 0)]


@pytest.mark.usefixtures("fast_retries")
def test_a_start_time_the_disk_refuses_is_written_once_it_takes_writes_again(
    new_journal: JournalFactory, alert_log: AlertLog
) -> None:
    disk = ReadOnlyDisk(read_only=True)
    journal = new_journal(connect=disk.connect)

    journal.start_at(START_NS + 10**9)
    journal.append(note(0), t=0.0, wall_ns=START_NS + 10**9)
    eventually(lambda: alert_log.alerts)
    assert not journal.flush(timeout_s=0.05)
    assert started_on_disk(journal.path) == START_NS
    disk.read_only = False
    assert journal.flush(timeout_s=5)
    journal.close(ended_cleanly=True)

    assert started_on_disk(journal.path) == START_NS + 10**9
    assert stored_numbers(journal.path) == [(1, 0)]
