"""Recorded sessions: list them, find the open one of a room, and stream a journal's events."""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from controller.journal.events import Event
from controller.journal.store import (
    EVENT_COLUMNS,
    JOURNAL_SUFFIX,
    JournalError,
    SessionMeta,
    check_seq_is_the_key,
    reading,
    row_event,
    sessions_dir,
)
from controller.journal.writer import ENDING_SUFFIX, Ending, pending_end

logger = logging.getLogger(__name__)

SESSION_NAME = re.compile(r"(?P<room>.+)-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<number>\d+))?")
"""A journal's file name (without `.sqlite`): `<room>-<UTC start>`, `-2`, `-3`, … if taken."""

UnreadableCallback = Callable[[Path, str], None]
"""Told about a file in the sessions folder that is not a readable journal: its path, why."""


@dataclass(frozen=True)
class SessionInfo:
    """A recorded session as listings show it."""

    session_id: str
    path: Path
    room: str
    plan: str
    participant: str
    time_scale: float
    started: datetime
    ended: datetime | None
    """None while the session is open (running, or its engine crashed)."""
    duration_s: float
    """Start to end; for an open session, start to its newest event."""
    phases: tuple[str, ...]
    """The phases the session reached, in the order it first reached them."""
    ended_cleanly: bool
    resumed: bool
    """The session was continued after a crash at least once (it holds a `resume` event)."""

    @property
    def is_open(self) -> bool:
        return self.ended is None


def list_sessions(
    data_dir: Path, room: str | None = None, *, on_unreadable: UnreadableCallback | None = None
) -> list[SessionInfo]:
    """The sessions recorded in `data_dir` (of `room` only, if given), newest first.

    A file that is not a readable journal is passed to `on_unreadable` (by default logged)
    and left out; it never stops the listing.
    """
    report = on_unreadable or _log_unreadable
    folder = sessions_dir(data_dir)
    if not folder.is_dir():
        return []
    sessions = []
    for path in sorted(folder.glob(f"*{JOURNAL_SUFFIX}")):
        try:
            info = session_info(path)
        except JournalError as error:
            report(path, str(error).removeprefix(f"{path}: "))
            continue
        if room is None or info.room == room:
            sessions.append(info)
    sessions.sort(key=lambda info: (info.started, info.session_id), reverse=True)
    return sessions


@dataclass(frozen=True)
class OpenSession:
    """A session whose journal has not been marked ended."""

    path: Path
    meta: SessionMeta
    ending: Ending | None
    """Set when the session was ended but the end marker did not reach the journal before its
    engine stopped (e.g. the disk refused writes): it is to be closed, not resumed."""

    @property
    def session_id(self) -> str:
        return self.meta.session_id


def room_journals(data_dir: Path, room: str) -> list[Path]:
    """The journal files of `room`'s sessions, newest start first, by their names alone.

    No file is opened: the name holds the room and the UTC start (`Journal.create`).
    """
    folder = sessions_dir(data_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"{glob.escape(room)}-*{JOURNAL_SUFFIX}"):
        name = SESSION_NAME.fullmatch(path.name.removesuffix(JOURNAL_SUFFIX))
        if name is not None and name["room"] == room:
            found.append((name["stamp"], int(name["number"] or 1), path))
    return [path for *_, path in sorted(found, reverse=True)]


def find_open_session(
    data_dir: Path, room: str, *, on_unreadable: UnreadableCallback | None = None
) -> OpenSession | None:
    """The session of `room` left open (running, or its engine crashed), or None.

    Only one session of a room can be open: a session starts only when none is, one engine
    runs a room at a time, and a session that cannot be resumed is closed as abandoned. It
    is most often the newest, so the journals are looked at newest first (by name) and the
    first readable one answers when it is open. Its name holds the wall clock's time at its
    start, though, and a clock put back (a room PC that started a day ahead) names a session
    older than one before it: so after the first readable one, ended, only the journals with
    room kept for an end note beside them are looked at (`reserve_end_note`: from a session's
    start until its end is written), and how many sessions were recorded before does not
    matter. A file that is not a readable journal of the room is passed to `on_unreadable`
    (by default logged) and the next one looked at.
    """
    report = on_unreadable or _log_unreadable
    answered = False
    for path in room_journals(data_dir, room):
        if answered and not _end_not_written(path):
            continue
        # past the newest, one found unreadable was told when it was the newest: logged only
        told = _log_unreadable if answered else report
        try:
            with reading(path) as (_, meta):
                pass
        except JournalError as error:
            told(path, str(error).removeprefix(f"{path}: "))
            continue
        if meta.room != room:
            told(path, f"holds a session of room {meta.room}, not {room}")
            continue
        if meta.ended_wall_ns is None:
            return OpenSession(path, meta, pending_end(path))
        answered = True
    return None


def _end_not_written(path: Path) -> bool:
    """Whether the journal's end note, or the room kept for it, is beside it (its session
    was open when its engine last wrote it)."""
    note = path.with_suffix(ENDING_SUFFIX)
    return any(os.path.lexists(name) for name in (note, note.with_name(note.name + ".partial")))


def session_info(path: Path) -> SessionInfo:
    """Summarise one journal file; JournalError if it is not a readable journal. A session
    whose end its journal does not hold yet, noted beside it (`keep_pending_end`), is listed
    as it ended."""
    with reading(path) as (connection, meta):
        # one pass over the events: per phase, where it first appears, any resume, the newest
        groups = connection.execute(
            "SELECT phase, MIN(seq), MAX(kind = 'resume'), MAX(wall_ns) FROM events GROUP BY phase"
        ).fetchall()
    if problem := _listing_problem(groups):
        raise JournalError(f"{path}: damaged journal ({problem})")
    phases = sorted((first, phase) for phase, first, _, _ in groups if phase is not None)
    resumed = any(resume for _, _, resume, _ in groups)
    newest_wall_ns = max((newest for _, _, _, newest in groups), default=None)
    meta = with_noted_end(meta, path)
    started, ended_wall_ns = meta.started_wall_ns, meta.ended_wall_ns
    until = ended_wall_ns if ended_wall_ns is not None else (newest_wall_ns or started)
    return SessionInfo(
        session_id=meta.session_id,
        path=path,
        room=meta.room,
        plan=meta.plan,
        participant=meta.participant,
        time_scale=meta.time_scale,
        started=utc_datetime(started),
        ended=None if ended_wall_ns is None else utc_datetime(ended_wall_ns),
        duration_s=max(until - started, 0) / 1e9,
        phases=tuple(phase for _, phase in phases),
        ended_cleanly=meta.ended_cleanly,
        resumed=bool(resumed),
    )


def with_noted_end(meta: SessionMeta, path: Path) -> SessionMeta:
    """`meta` of the journal at `path`, with the end noted beside it (`keep_pending_end`) when
    the journal does not hold it yet (the disk refused it, and the engine stopped before the
    disk took it): the session ended then, though its journal says it is open until the
    next engine start closes it."""
    if meta.ended_wall_ns is not None or (noted := pending_end(path)) is None:
        return meta
    return replace(meta, ended_wall_ns=noted.wall_ns, ended_cleanly=noted.cleanly)


def _listing_problem(groups: list[tuple[object, ...]]) -> str | None:
    """What in `session_info`'s phase groups is not as the journal writes it, or None."""
    if any(phase is not None and not isinstance(phase, str) for phase, *_ in groups):
        return "an event's phase is not text"
    if any(type(newest) is not int for *_, newest in groups):
        return "an event's wall time is not a number"
    return None


def read_events(
    path: Path, *, newest_first: bool = False, kinds: Collection[str] | None = None
) -> Iterator[Event]:
    """The events of a journal in seq order (or newest first), read as they are consumed (never
    all at once); only those of `kinds` when given.

    Raises JournalError if the file is not a readable journal (also part-way, if it is damaged).
    """
    order = "DESC" if newest_first else "ASC"
    wanted = list(kinds) if kinds is not None else None
    where = "" if wanted is None else f"WHERE kind IN ({', '.join('?' * len(wanted))})"
    query = f"SELECT {EVENT_COLUMNS} FROM events {where} ORDER BY seq {order}"
    with reading(path) as (connection, _):
        check_seq_is_the_key(connection, path)
        for row in connection.execute(query, wanted or ()):
            yield row_event(row)


def newest_per_device(path: Path, kind: str) -> list[Event]:
    """The newest event of `kind` of each device, in seq order (e.g. each sensor's last
    reading, without reading a long session through)."""
    query = (
        f"SELECT {EVENT_COLUMNS} FROM events WHERE seq IN "
        "(SELECT MAX(seq) FROM events WHERE kind = ? AND device IS NOT NULL GROUP BY device) "
        "ORDER BY seq"
    )
    with reading(path) as (connection, _):
        check_seq_is_the_key(connection, path)
        return [row_event(row) for row in connection.execute(query, (kind,))]


def count_events(path: Path) -> int:
    """How many events a journal holds."""
    with reading(path) as (connection, _):
        count: int = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    return count


def utc_datetime(wall_ns: int) -> datetime:
    """A UTC wall time in nanoseconds as an aware datetime (to the microsecond)."""
    seconds, nanoseconds = divmod(wall_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanoseconds // 1000)


def _log_unreadable(path: Path, reason: str) -> None:
    logger.warning("skipped %s: %s", path, reason)
