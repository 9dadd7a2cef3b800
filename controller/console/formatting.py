"""How times, levels and wall clocks read on the console."""

from __future__ import annotations

from datetime import datetime


def clock_time(seconds: float) -> str:
    """`75` → `01:15`, `3725` → `1:02:05`; negative times keep their sign."""
    sign = "-" if seconds < 0 else ""
    whole = int(abs(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return f"{sign}{minutes:02d}:{secs:02d}"


def percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{round(fraction * 100)}%"


def parse_wall(text: str) -> datetime | None:
    """An ISO 8601 time from the engine, or None when it is not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def local_time(text: str) -> str:
    """The engine's ISO 8601 UTC time as local HH:MM:SS, or the text itself when unreadable."""
    moment = parse_wall(text)
    return text if moment is None else moment.astimezone().strftime("%H:%M:%S")


def age_text(seconds: float) -> str:
    """`4` → `4 s`, `200` → `3 min`, `7300` → `2 h`."""
    if seconds < 60:
        return f"{max(round(seconds), 0)} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"
