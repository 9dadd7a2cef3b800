"""Journal events: the kinds of thing a session records, and one recorded event."""

from __future__ import annotations

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
