"""How times, levels and wall clocks read on the console."""

from __future__ import annotations

from datetime import datetime
from typing import Any

_SHOWN_AS = (
    {code: 0x2400 + code for code in range(0x20)}  # control pictures: ␛ ␤ ␀ …
    | {0x7F: 0x2421}
    | {code: 0xFFFD for code in (*range(0x80, 0xA0), *range(0xD800, 0xE000))}
)


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


def shown(text: str) -> str:
    """`text` safe to draw: a control character as its picture (`\x1b` → `␛`, a line break
    → `␤`), a C1 control or a lone surrogate as `�`, one character for one, so no note,
    title or reason drives the terminal (an escape sequence) or breaks a line."""
    return text.translate(_SHOWN_AS)


def shown_tree(value: Any) -> Any:
    """A JSON value read from outside with every string in it (keys too) `shown`."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, list):
        return [shown_tree(item) for item in value]
    if isinstance(value, dict):
        return {shown(str(key)): shown_tree(item) for key, item in value.items()}
    return value
