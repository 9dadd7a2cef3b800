"""A session's journal: create or continue its SQLite file and append events without blocking."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sqlite3
import time
from pathlib import Path

from controller.journal.events import Event, event_problem
from controller.journal.store import (
    APPLICATION_ID,
    CREATE_TABLES,
    EVENT_COLUMNS,
    INSERT_META,
    SCHEMA_VERSION,
    JournalError,
    SessionMeta,
    connect_for_writing,
    event_fields,
    reading,
    row_event,
    sessions_dir,
)
from controller.journal.writer import (
    AlertCallback,
    Connect,
    Ending,
    JournalWriter,
    reserve_end_note,
)

FILE_MODE = 0o600
FOLDER_MODE = 0o700

logger = logging.getLogger(__name__)


class Journal:
    """The journal of one session: one SQLite file, `<data_dir>/sessions/<session-id>.sqlite`.

    `append()` is safe from any thread (the asyncio thread included) and never waits for the
    disk; a writer thread commits in groups. `on_alert` is called from that thread with a
    message when the disk refuses writes (events stay in memory) and with None when writing
    works again; hand it to the event loop with `loop.call_soon_threadsafe` if needed.
    """

    def __init__(
        self,
        path: Path,
        meta: SessionMeta,
        *,
        last_event: Event | None,
        on_alert: AlertCallback,
        connect: Connect,
    ) -> None:
        self.path = path
        self.meta = meta
        self.last_event = last_event
        """The newest event stored when the journal was opened (for resuming a session)."""
        self._last_wall_ns = last_event.wall_ns if last_event else meta.started_wall_ns
        reserve_end_note(path)  # its end is noted beside it even once the disk is full
        self._writer = JournalWriter(
            path,
            last_seq=last_event.seq if last_event else 0,
            on_alert=on_alert,
            connect=connect,
        )

    @classmethod
    def create(
        cls,
        data_dir: Path,
        *,
        room: str,
        plan: str,
        participant: str,
        time_scale: float,
        wall_ns: int,
        on_alert: AlertCallback,
        connect: Connect = connect_for_writing,
    ) -> Journal:
        """Start the journal of a new session that began at `wall_ns` (UTC ns).

        The session id is `<room>-<UTC start, e.g. 20261121T173000Z>`, with `-2`, `-3`, …
        appended when that id is taken; it never contains the participant's code. The file
        (and its -wal/-shm companions) are readable by the owner only. Raises JournalError
        if the file cannot be created, ValueError for a room that is not a valid id.
        """
        # here, not at the top: reading journals (`sessions`, exports) needs no room models
        from controller.config.models import identifier_problem

        problem = identifier_problem(room)
        if problem:
            raise ValueError(f"room {problem}")
        folder = sessions_dir(data_dir)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall_ns // 1_000_000_000))
        try:
            folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
            path = _create_unique_file(folder, f"{room}-{stamp}")
        except OSError as error:
            raise JournalError(f"cannot create a journal in {folder}: {error.strerror}") from None
        meta = SessionMeta(
            session_id=path.stem,
            room=room,
            plan=plan,
            participant=participant,
            time_scale=time_scale,
            started_wall_ns=wall_ns,
            ended_wall_ns=None,
            ended_cleanly=False,
        )
        try:
            _write_schema(path, meta)
        except sqlite3.Error as error:
            _remove_files(path)
            raise JournalError(f"cannot create {path}: {error}") from None
        return cls(path, meta, last_event=None, on_alert=on_alert, connect=connect)

    @classmethod
    def reopen(
        cls, path: Path, *, on_alert: AlertCallback, connect: Connect = connect_for_writing
    ) -> Journal:
        """Continue the open session in `path` (after a crash); seq goes on from the last one.

        Raises JournalError if the file is not a journal or its session has already ended.
        """
        with reading(path) as (connection, meta):
            if meta.ended_wall_ns is not None:
                raise JournalError(f"session {meta.session_id} has already ended")
            row = connection.execute(
                f"SELECT {EVENT_COLUMNS} FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            last_event = None if row is None else row_event(row)
        return cls(path, meta, last_event=last_event, on_alert=on_alert, connect=connect)

    @property
    def session_id(self) -> str:
        return self.meta.session_id

    @property
    def unwritten(self) -> int:
        """How many appended events are still in memory only."""
        return self._writer.unwritten

    def append(self, event: Event, *, t: float, wall_ns: int) -> int | None:
        """Journal `event` at session time `t` and wall time `wall_ns`; return its seq.

        Never waits for the disk. None when the event was shed: the disk has refused writes
        for so long that the events held in memory reached their bound (`take_shed` counts
        them; controller.journal.writer). Raises ValueError for an event that cannot be journaled
        (unknown kind, a payload that is not a dict, string or None) and JournalError after
        `close()`.
        """
        problem = event_problem(event)
        if problem:
            raise ValueError(problem)
        seq = self._writer.put(event_fields(event, t=t, wall_ns=wall_ns))
        self._last_wall_ns = wall_ns
        return seq

    def start_at(self, wall_ns: int) -> None:
        """The session started at `wall_ns` (UTC ns), not when the journal was created: a start
        whose journal was opened away from the engine's thread starts once it is carried out,
        up to seconds later on a slow disk. Written to `meta` with the next events; the
        session id (and file name) keep the creation's time. Never waits for the disk."""
        self._writer.start_at(wall_ns)
        self.meta = dataclasses.replace(self.meta, started_wall_ns=wall_ns)
        self._last_wall_ns = max(self._last_wall_ns, wall_ns)

    def take_shed(self) -> dict[str, int]:
        """How many events of each kind were shed since the last call."""
        return self._writer.take_shed()

    def flush(self, *, timeout_s: float = 10.0) -> bool:
        """Wait until every event appended so far is on disk; False if not within `timeout_s`.

        Blocks: call it from a worker thread, not from the event loop.
        """
        return self._writer.flush(timeout_s)

    def close(
        self, *, ended_cleanly: bool, wall_ns: int | None = None, timeout_s: float = 30.0
    ) -> None:
        """Write every event, mark the session ended (at `wall_ns`, by default the last event's
        wall time) and stop the writer. Blocks until done.

        Raises JournalError if the disk still refuses writes after `timeout_s`; the events stay
        in memory, the writer keeps retrying, and `close` may be called again.
        """
        ending = Ending(
            wall_ns=self._last_wall_ns if wall_ns is None else wall_ns, cleanly=ended_cleanly
        )
        if not self._writer.finish(ending, timeout_s):
            unwritten = self._writer.unwritten
            raise JournalError(
                f"journal {self.session_id}: {unwritten} events not yet written "
                f"({self._writer.problem or 'the disk is too slow'}); still retrying"
            )

    def discard(self) -> None:
        """End a journal nothing was appended to and remove its files: a start refused once its
        journal was open leaves no session behind. Blocks. A disk that refuses is logged, not
        raised: the journal is left ended, or open (closed as abandoned at the next start)."""
        try:
            self.close(ended_cleanly=False)
            _remove_files(self.path)
        except (JournalError, OSError) as error:
            logger.warning("journal %s of a start refused: not removed: %s", self.session_id, error)


def _remove_files(path: Path) -> None:
    """Remove a journal's file, its -wal and -shm companions and its end note's room, those
    there are."""
    companions = ("-wal", "-shm")
    for leftover in (
        path,
        *(path.with_name(path.name + s) for s in companions),
        path.with_suffix(".ending.partial"),
    ):
        leftover.unlink(missing_ok=True)


def _create_unique_file(folder: Path, base: str) -> Path:
    """Create `<base>.sqlite` (owner-only), or `<base>-2.sqlite`, … if taken; return its path."""
    for number in range(1, 10_000):
        name = base if number == 1 else f"{base}-{number}"
        path = folder / f"{name}.sqlite"
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            continue
        try:
            os.fchmod(descriptor, FILE_MODE)  # exactly 0600, whatever the umask
        finally:
            os.close(descriptor)
        return path
    raise JournalError(f"too many sessions named {base} in {folder}")


def _write_schema(path: Path, meta: SessionMeta) -> None:
    """Turn the new empty file into a journal in WAL mode holding `meta`."""
    with contextlib.closing(connect_for_writing(path)) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute("BEGIN")
        for statement in CREATE_TABLES:
            connection.execute(statement)
        connection.execute(
            INSERT_META,
            (
                SCHEMA_VERSION,
                meta.session_id,
                meta.room,
                meta.plan,
                meta.participant,
                meta.time_scale,
                meta.started_wall_ns,
            ),
        )
        connection.execute("COMMIT")
