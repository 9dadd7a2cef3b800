"""The journal's writer thread: group commits off the event loop, riding out a full or lost disk."""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from controller.config.yamlsource import read_room_file
from controller.journal.store import (
    INSERT_EVENT,
    MARK_ENDED,
    MARK_STARTED,
    EventFields,
    JournalError,
    Row,
)

COMMIT_INTERVAL_S = 0.05
"""The longest an event waits in memory before its group is committed (while the disk is fine)."""
COMMIT_BATCH = 500
"""A group this large is committed at once, without waiting out the interval."""
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
"""Backoff between attempts while the disk refuses writes: doubling from first to max."""

SHED_FROM = 20_000
"""Unwritten rows held in memory beyond which device traffic (`SHEDDABLE`) is shed."""
MAX_UNWRITTEN = 50_000
"""Unwritten rows held in memory at most: beyond this every new row is shed (a few tens of
megabytes: device states and commands are small, a note at most 4,000 characters)."""
SHEDDABLE = frozenset({"state", "command"})
"""The kinds shed first: device reports and the messages sent to devices, which the scene,
phase and operator events around them describe again."""

EXIT_FLUSH_S = 2.0
"""How long a process that exits without closing its journal waits for queued rows."""

ENDING_SUFFIX = ".ending"
"""Beside `<id>.sqlite`, `<id>.ending` says the session ended while its end marker is not yet
in the journal (the disk refused writes); the next engine closes the session, never resumes it."""

Connect = Callable[[Path], sqlite3.Connection]
"""Opens the journal file for the writer (tests pass one that limits the file's size)."""
AlertCallback = Callable[[str | None], None]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ending:
    """How the session ended, written to `meta` with the last events."""

    wall_ns: int
    cleanly: bool


class JournalWriter:
    """Commits queued rows to one journal file from a thread of its own.

    `put()` assigns the next seq and queues the row under a lock that is never held during
    I/O, so callers (the asyncio thread among them) never wait for the disk. The thread
    commits everything queued in one transaction at most `COMMIT_INTERVAL_S` after the first
    of it arrived, or as soon as `COMMIT_BATCH` rows are waiting.

    When a commit fails (disk full, read-only, the file unreachable) every row stays in memory
    in order, `on_alert` gets one message per change of problem, and the thread retries with
    backoff on a fresh connection; once a commit succeeds it writes the backlog in order and
    calls `on_alert(None)`. `on_alert` runs on the writer thread.

    Memory stays bounded: with more than `SHED_FROM` rows unwritten, `put` sheds the rows of
    device traffic (`SHEDDABLE`), and with `MAX_UNWRITTEN` every row; a shed row gets no seq
    (the seqs stay contiguous), is counted by kind (`take_shed`), and the first of them calls
    `on_alert` (from the caller's thread) to say so.
    """

    def __init__(
        self, path: Path, *, last_seq: int, on_alert: AlertCallback, connect: Connect
    ) -> None:
        self._path = path
        self._on_alert = on_alert
        self._connect = connect
        self._condition = threading.Condition()
        self._queue: list[Row] = []
        self._queued_at = 0.0
        self._last_seq = last_seq
        self._committed_seq = last_seq
        self._hurry = False
        self._ending: Ending | None = None
        self._ended = False
        self._started_wall_ns: int | None = None
        """A start time to write to `meta` (`start_at`), until it is committed."""
        self._problem: str | None = None
        self._shed: dict[str, int] = {}
        # Used by the writer thread only:
        self._backlog: list[Row] = []
        self._connection: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None
        """The device and inode of the file the connection writes: the journal's path naming
        no file, or another, says that file was removed or moved (SQLite in WAL mode goes on
        committing into a file no longer there). Kept as numbers, not as an open descriptor:
        a room's process holds one file less per journal."""
        self._thread = threading.Thread(
            target=self._run, name=f"journal writer {path.name}", daemon=True
        )
        self._thread.start()
        atexit.register(self._flush_at_exit)

    def put(self, fields: EventFields) -> int | None:
        """Queue one row under the next seq and return that seq; never touches the disk.

        None when the row was shed (see the class).
        """
        with self._condition:
            if self._ending is not None:
                raise JournalError(f"{self._path.name}: the journal is closed")
            unwritten = self._last_seq - self._committed_seq
            kind = fields[3]
            if unwritten < SHED_FROM or (unwritten < MAX_UNWRITTEN and kind not in SHEDDABLE):
                seq = self._last_seq + 1
                self._last_seq = seq
                self._queue.append((seq, *fields))
                if len(self._queue) == 1:
                    self._queued_at = time.monotonic()
                    self._condition.notify()
                elif len(self._queue) == COMMIT_BATCH:
                    self._condition.notify()
                return seq
            first = not self._shed
            self._shed[kind] = self._shed.get(kind, 0) + 1
            problem = self._problem or "the disk is slow"
        if first:
            self._alert(
                f"journal: {problem} — {unwritten} events held in memory; further device "
                f"states and commands are shed, and beyond {MAX_UNWRITTEN} events everything"
            )
        return None

    def start_at(self, wall_ns: int) -> None:
        """Write `wall_ns` as the session's start to `meta`, with the next rows committed."""
        with self._condition:
            if self._ending is not None:
                raise JournalError(f"{self._path.name}: the journal is closed")
            self._started_wall_ns = wall_ns
            if not self._queue:
                self._queued_at = time.monotonic()
            self._condition.notify()

    def flush(self, timeout_s: float) -> bool:
        """Commit everything put so far now; False if it is not on disk within `timeout_s`."""
        with self._condition:
            target = self._last_seq
            self._hurry = True
            self._condition.notify_all()
            return self._condition.wait_for(
                lambda: self._committed_seq >= target and self._started_wall_ns is None,
                timeout_s,
            )

    def finish(self, ending: Ending, timeout_s: float) -> bool:
        """Refuse further rows, commit the rest with `ending` and stop the thread.

        False if that has not happened within `timeout_s`; the thread then keeps retrying
        and `finish` may be called again.
        """
        with self._condition:
            first = self._ending is None
        if first:
            keep_pending_end(self._path, ending)
        with self._condition:
            if self._ending is None:
                self._ending = ending
            self._hurry = True
            self._condition.notify_all()
            if not self._condition.wait_for(lambda: self._ended, timeout_s):
                return False
        self._thread.join()
        atexit.unregister(self._flush_at_exit)
        return True

    def take_shed(self) -> dict[str, int]:
        """How many rows of each kind were shed since the last call."""
        with self._condition:
            shed, self._shed = self._shed, {}
        return shed

    @property
    def unwritten(self) -> int:
        """How many rows are held in memory, not yet committed."""
        with self._condition:
            return self._last_seq - self._committed_seq

    @property
    def problem(self) -> str | None:
        """Why the disk refuses writes right now, or None while commits succeed."""
        with self._condition:
            return self._problem

    def _flush_at_exit(self) -> None:
        """At interpreter exit (the thread is a daemon) write what is queued, not lose it."""
        if not self.flush(EXIT_FLUSH_S):
            logger.error(
                "journal %s: %d events could not be written before exit", self._path, self.unwritten
            )

    def _run(self) -> None:
        retry_s = RETRY_FIRST_S
        while True:
            ending, started = self._take_queue(retry_after=retry_s if self._problem else None)
            if not self._commit(ending, started):
                retry_s = min(retry_s * 2, RETRY_MAX_S)
                continue
            retry_s = RETRY_FIRST_S
            if ending is not None:
                self._drop_connection()
                for note in (self._path.with_suffix(ENDING_SUFFIX), _note_partial(self._path)):
                    with contextlib.suppress(OSError):
                        note.unlink(missing_ok=True)
                return

    def _take_queue(self, *, retry_after: float | None) -> tuple[Ending | None, int | None]:
        """Wait for work (or for the retry time), move the queue to the backlog; the ending
        and the start time to write, if any."""
        with self._condition:
            if retry_after is not None:
                self._condition.wait_for(lambda: self._hurry, retry_after)
            else:
                self._condition.wait_for(
                    lambda: self._queue or self._hurry or self._started_wall_ns is not None
                )
                linger_s = self._queued_at + COMMIT_INTERVAL_S - time.monotonic()
                self._condition.wait_for(
                    lambda: self._hurry or len(self._queue) >= COMMIT_BATCH, max(linger_s, 0.0)
                )
            self._backlog.extend(self._queue)
            self._queue = []
            self._hurry = False
            return self._ending, self._started_wall_ns

    def _commit(self, ending: Ending | None, started: int | None) -> bool:
        """Commit the backlog (and the start time, the ending) in one transaction; False if
        the disk refused."""
        rows = self._backlog
        if not rows and ending is None and started is None:
            return True
        try:
            if self._connection is None:
                self._connection = self._connect(self._path)
                # never through a link put in the journal's place: not outside its folder
                self._file = _identity(self._path)
            self._connection.execute("BEGIN IMMEDIATE")
            if started is not None:
                self._connection.execute(MARK_STARTED, (started,))
            self._connection.executemany(INSERT_EVENT, rows)
            if ending is not None:
                self._connection.execute(MARK_ENDED, (ending.wall_ns, int(ending.cleanly)))
            self._connection.execute("COMMIT")
        except (sqlite3.Error, OSError) as error:
            self._drop_connection()
            self._report(failure_reason(error))
            return False
        if gone := self._file_gone():
            self._report(gone)  # committed into the file gone, kept in memory till written
            return False
        self._backlog = []
        self._report(None)
        with self._condition:
            if rows:
                self._committed_seq = rows[-1][0]
            if self._started_wall_ns == started:
                self._started_wall_ns = None
            self._ended = ending is not None
            self._condition.notify_all()
        return True

    def _file_gone(self) -> str | None:
        """None while the connection's file is at its path. A file no longer at its path (its
        data folder deleted, renamed away or its disk unmounted) is written again there from
        the open connection, which still reads it: the engine, the listing and the exports
        look there. A path that names another file (a folder put in the data folder's place)
        is not written over: the events wait in memory until the connection's file is back.
        Why it is not at its path, while it is not (tried again at each retry, the
        connection kept)."""
        assert self._connection is not None
        try:
            here = _identity(self._path)
        except FileNotFoundError:
            here = None
        except OSError as error:
            return f"journal file cannot be looked at ({error})"
        if here == self._file:
            return None
        if here is not None:
            return "journal file replaced at its path by another file: not written over"
        try:
            restoring = self._path.with_name(self._path.name + ".restoring")
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            restoring.unlink(missing_ok=True)
            os.close(
                os.open(restoring, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            )
            with contextlib.closing(sqlite3.connect(restoring)) as copy:
                self._connection.backup(copy)
            _put_in_place(restoring, self._path)
        except (sqlite3.Error, OSError) as error:
            return f"journal file removed, cannot write it again ({error})"
        logger.warning("journal %s: its file was no longer at its path; written again", self._path)
        self._drop_connection()  # the next commit writes to the file written again
        return None

    def _drop_connection(self) -> None:
        """Close the connection (rolling back anything unfinished); the next commit opens anew."""
        self._file = None
        if self._connection is None:
            return
        with contextlib.suppress(sqlite3.Error):
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")
        with contextlib.suppress(sqlite3.Error):
            self._connection.close()
        self._connection = None

    def _report(self, problem: str | None) -> None:
        """Tell `on_alert` when the problem changes (not on every retry)."""
        with self._condition:
            if problem == self._problem:
                return
            self._problem = problem
            buffered = self._last_seq - self._committed_seq
        if problem is None:
            logger.info("journal %s: writing again", self._path.name)
            message = None
        else:
            noun = "event" if buffered == 1 else "events"
            message = f"journal: {problem} — {buffered} {noun} buffered in memory"
            logger.warning("%s (%s)", message, self._path)
        self._alert(message)

    def _alert(self, message: str | None) -> None:
        try:
            self._on_alert(message)
        except Exception:
            logger.exception("journal %s: the alert callback failed", self._path.name)


NOTE_RESERVE_BYTES = 256
"""The room kept for the end note while the session runs (the note is some 60 bytes)."""


def _note_partial(path: Path) -> Path:
    marker = path.with_suffix(ENDING_SUFFIX)
    return marker.with_name(marker.name + ".partial")


def _open_note_partial(path: Path) -> int:
    """The end note's partial file, opened for writing (made owner-only if missing): not
    through a link put in its place, nor waiting on a FIFO there; OSError if it is no plain
    file."""
    descriptor = os.open(
        _note_partial(path), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600
    )
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError(f"{_note_partial(path)} is not a plain file")
    return descriptor


def _write_whole(descriptor: int, data: bytes) -> None:
    """Write `data` from the file's start, all of it, and sync; OSError if it does not fit."""
    if os.pwrite(descriptor, data, 0) != len(data):
        raise OSError(errno.ENOSPC, "the note was written in part")
    os.fsync(descriptor)


def reserve_end_note(path: Path) -> None:
    """Keep room on the disk for the session's end note (`keep_pending_end`), while the disk
    has some: a session ended on a full disk is then still noted as ended. Best effort."""
    with contextlib.suppress(OSError):
        kept = os.lstat(_note_partial(path))
        if stat.S_ISREG(kept.st_mode) and kept.st_size >= NOTE_RESERVE_BYTES:
            return  # kept already (a session resumed), even on a disk now read-only
    try:
        descriptor = _open_note_partial(path)
        try:
            if os.fstat(descriptor).st_size < NOTE_RESERVE_BYTES:
                _write_whole(descriptor, b" " * NOTE_RESERVE_BYTES)
        finally:
            os.close(descriptor)
    except OSError as error:
        logger.warning("journal %s: cannot keep room for its end note: %s", path.name, error)


def _identity(path: Path) -> tuple[int, int]:
    """The device and inode of the file at `path` itself, never what a link there names:
    OSError if it is a link (ELOOP), FileNotFoundError if nothing is there."""
    found = os.lstat(path)
    if stat.S_ISLNK(found.st_mode):
        raise OSError(errno.ELOOP, "a link in the journal's place", str(path))
    return found.st_dev, found.st_ino


def _put_in_place(written: Path, path: Path) -> None:
    """Name `written` `path`, never over a file put there meanwhile (FileExistsError)."""
    try:
        os.link(written, path)
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        if os.path.lexists(path):  # a file system without hard links (FAT): a look first
            raise FileExistsError(errno.EEXIST, "a file is in its place", str(path)) from None
        os.rename(written, path)
    else:
        written.unlink()


def keep_pending_end(path: Path, ending: Ending) -> None:
    """Note beside the journal that its session ended (owner-only, replaced atomically).

    Written over the room `reserve_end_note` kept (padded with spaces), so a full disk takes
    it. Best effort: a disk that refuses even this small file is logged; the writer's own
    alert already says the disk refuses writes.
    """
    marker = path.with_suffix(ENDING_SUFFIX)
    text = json.dumps({"wall_ns": ending.wall_ns, "cleanly": ending.cleanly}).encode()
    try:
        descriptor = _open_note_partial(path)
        try:
            _write_whole(descriptor, text.ljust(NOTE_RESERVE_BYTES))
        finally:
            os.close(descriptor)
        os.replace(_note_partial(path), marker)
    except OSError as error:
        logger.warning("journal %s: cannot note its end beside it: %s", path.name, error)


MAX_NOTE_BYTES = 4096
"""An end note is a few dozen bytes; more is no note of ours (a link to /dev/zero never ends)."""


def pending_end(path: Path) -> Ending | None:
    """The ending noted beside the journal by `keep_pending_end`, or None."""
    marker = path.with_suffix(ENDING_SUFFIX)
    try:
        noted = json.loads(read_room_file(marker, MAX_NOTE_BYTES))  # not blocking on a FIFO
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("journal %s: unreadable end note %s: %s", path.name, marker, error)
        return None
    wall_ns = noted.get("wall_ns") if isinstance(noted, dict) else None
    cleanly = noted.get("cleanly") if isinstance(noted, dict) else None
    if type(wall_ns) is not int or not isinstance(cleanly, bool):
        logger.warning("journal %s: end note %s holds no ending", path.name, marker)
        return None
    return Ending(wall_ns=wall_ns, cleanly=cleanly)


def failure_reason(error: sqlite3.Error | OSError) -> str:
    """A short reason for a failed commit, as the alert shows it."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return "disk full"
    if code == sqlite3.SQLITE_READONLY:
        return "disk read-only"
    if code == sqlite3.SQLITE_CANTOPEN:
        return "journal file unreachable"
    return f"cannot write ({error})"
