"""Journal events: the kinds of thing a session records, one recorded event, and its wall time
as the engine and the exports write it."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

EVENT_KINDS = (
    "session",
    "phase",
    "scene",
    "command",
    "state",
    "availability",
    "operator",
    "note",
    "vitals",
    "alert",
    "safety",
    "broker",
    "resume",
    "error",
    "check",
)

Payload = dict[str, Any] | str | None
"""What an event carries: a JSON object, a plain string (e.g. a note's text) or nothing."""


@dataclass(frozen=True)
class Event:
    """One thing that happened in a session; `seq`, `wall_ns` and `t` are filled in by the journal.

    `wall_ns` is UTC wall time in nanoseconds since the epoch, `t` the session clock in seconds.
    """

    kind: str
    payload: Payload = None
    device: str | None = None
    topic: str | None = None
    phase: str | None = None
    wall_ns: int = 0
    t: float = 0.0
    seq: int = 0


def event_problem(event: Event) -> str | None:
    """Say why `event` cannot be journaled, or None when it can."""
    if event.kind not in EVENT_KINDS:
        return f"unknown event kind {event.kind!r} (one of {', '.join(EVENT_KINDS)})"
    if event.payload is not None and not isinstance(event.payload, dict | str):
        return f"payload must be a dict, a string or None, not {type(event.payload).__name__}"
    for name in ("device", "topic", "phase"):
        value = getattr(event, name)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"{name} must be a string or None, not {type(value).__name__}"
        if not value.isascii() and not _is_valid_unicode(value):
            return f"{name} {value!r} is not valid Unicode text"
    return None


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def iso_wall(wall_ns: int) -> str:
    """UTC wall time in ns as ISO 8601 to the microsecond, e.g. `2026-11-21T17:30:00.123456Z`."""
    seconds, nanoseconds = divmod(wall_ns, 1_000_000_000)
    return f"{iso_second(seconds)}.{nanoseconds // 1000:06d}Z"


@functools.lru_cache(maxsize=4)
def iso_second(seconds: int) -> str:
    """The whole second of `iso_wall`, formatted once for all the events of that second (an
    emergency records hundreds within a few milliseconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
