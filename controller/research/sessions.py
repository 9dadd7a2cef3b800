"""Quick looks into a journal without reading every event: its meta, phases and commands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controller.journal import SessionMeta
from controller.journal.sessions import with_noted_end
from controller.journal.store import reading

NUMBERED = "typeof(t) IN ('integer', 'real')"
"""Events whose session time is a number: a damaged one is named when the events are read."""


@dataclass(frozen=True)
class PhaseEntry:
    """A phase the session entered, at session time `t`."""

    name: str
    t: float


def session_meta(path: Path) -> SessionMeta:
    """What the journal's `meta` table says, with an end noted beside the journal that it does
    not hold yet (`with_noted_end`); JournalError if it is not a readable journal."""
    with reading(path) as (_, meta):
        return with_noted_end(meta, path)


def phase_entries(path: Path) -> list[PhaseEntry]:
    """Every phase change of the session, in order."""
    with reading(path) as (connection, _):
        rows = connection.execute(
            f"SELECT phase, t FROM events WHERE kind = 'phase' AND {NUMBERED} ORDER BY seq"
        ).fetchall()
    return [PhaseEntry(str(name), float(t)) for name, t in rows]


def last_event_t(path: Path) -> float:
    """The session time of the newest event (0 for an empty journal)."""
    with reading(path) as (connection, _):
        value = connection.execute(f"SELECT MAX(t) FROM events WHERE {NUMBERED}").fetchone()[0]
    return float(value or 0.0)


def command_counts(
    path: Path, *, start: float | None = None, end: float | None = None
) -> dict[tuple[str, str], int]:
    """How many device commands each (device, topic) got between `start` and `end` (session t)."""
    with reading(path) as (connection, _):
        rows = connection.execute(
            "SELECT device, topic, COUNT(*) FROM events WHERE kind = 'command'"
            " AND topic IS NOT NULL AND t >= ? AND t <= ? GROUP BY device, topic",
            (start if start is not None else float("-inf"), end if end is not None else 1e18),
        ).fetchall()
    return {(str(device), str(topic)): int(count) for device, topic, count in rows}
