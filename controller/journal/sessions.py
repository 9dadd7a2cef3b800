"""Recorded sessions: list them, find the open one of a room, and stream a journal's events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from controller.journal.events import Event
from controller.journal.store import (
    EVENT_COLUMNS,
    JOURNAL_SUFFIX,
    JournalError,
    reading,
    row_event,
    sessions_dir,
)

logger = logging.getLogger(__name__)

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


def find_open_session(data_dir: Path, room: str) -> SessionInfo | None:
    """The newest session of `room` that has not ended (the one to resume), or None."""
    return next((info for info in list_sessions(data_dir, room) if info.is_open), None)


def session_info(path: Path) -> SessionInfo:
    """Summarise one journal file; JournalError if it is not a readable journal."""
    with reading(path) as (connection, meta):
        # one pass over the events: per phase, where it first appears, any resume, the newest
        groups = connection.execute(
            "SELECT phase, MIN(seq), MAX(kind = 'resume'), MAX(wall_ns) FROM events GROUP BY phase"
        ).fetchall()
    phases = sorted((first, phase) for phase, first, _, _ in groups if phase is not None)
    resumed = any(resume for _, _, resume, _ in groups)
    newest_wall_ns = max((newest for _, _, _, newest in groups), default=None)
    started = meta.started_wall_ns
    until = meta.ended_wall_ns if meta.ended_wall_ns is not None else (newest_wall_ns or started)
    return SessionInfo(
        session_id=meta.session_id,
        path=path,
        room=meta.room,
        plan=meta.plan,
        participant=meta.participant,
        time_scale=meta.time_scale,
        started=utc_datetime(started),
        ended=None if meta.ended_wall_ns is None else utc_datetime(meta.ended_wall_ns),
        duration_s=max(until - started, 0) / 1e9,
        phases=tuple(phase for _, phase in phases),
        ended_cleanly=meta.ended_cleanly,
        resumed=bool(resumed),
    )


def read_events(path: Path) -> Iterator[Event]:
    """The events of a journal in seq order, read as they are consumed (never all at once).

    Raises JournalError if the file is not a readable journal (also part-way, if it is damaged).
    """
    with reading(path) as (connection, _):
        for row in connection.execute(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY seq"):
            yield row_event(row)


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
