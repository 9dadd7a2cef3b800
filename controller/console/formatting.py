"""How times, levels and wall clocks read on the console."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

_REORDERING_OR_HIDDEN = (
    0x061C,  # Arabic letter mark
    0x200B,  # zero-width space
    *range(0x200E, 0x2010),  # left-to-right and right-to-left marks
    *range(0x202A, 0x202F),  # bidirectional embeddings and overrides
    0x2060,  # word joiner
    *range(0x2066, 0x206A),  # bidirectional isolates
    0xFEFF,  # zero-width no-break space
)
"""Characters that reorder the text after them in a terminal laying out bidirectional text
(`lamp` + U+202E + `ENILFFO` reads `lamp OFFLINE`), or that hide between letters."""
_SHOWN_AS = (
    {code: 0x2400 + code for code in range(0x20)}  # control pictures: ␛ ␤ ␀ …
    | {0x7F: 0x2421}
    | {code: 0xFFFD for code in (*range(0x80, 0xA0), *range(0xD800, 0xE000))}
    | {0x2028: 0x2424, 0x2029: 0x2424}  # line and paragraph separators: line breaks too
    | dict.fromkeys(_REORDERING_OR_HIDDEN, 0xFFFD)
)


NO_NUMBER = "–"
"""What a time or level no clock or scale can show (NaN, an infinity) reads as."""


def clock_time(seconds: float) -> str:
    """`75` → `01:15`, `3725` → `1:02:05`; negative times keep their sign; `–` for a number
    that is no time (NaN, an infinity)."""
    if not math.isfinite(seconds):
        return NO_NUMBER
    sign = "-" if seconds < 0 else ""
    whole = int(abs(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return f"{sign}{minutes:02d}:{secs:02d}"


def percent(fraction: float | None) -> str:
    """`0.35` → `35%`; `–` for None or a fraction no percentage shows (NaN, an infinity, one
    whose hundredfold overflows)."""
    if fraction is None or not math.isfinite(fraction * 100):
        return NO_NUMBER
    return f"{round(fraction * 100)}%"


def parse_wall(text: str) -> datetime | None:
    """An ISO 8601 time from the engine, or None when it is not one (also a time whose UTC
    falls outside the calendar's years 1 to 9999: `0001-01-01T00:00:00+01:00`)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            return None
        moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment


def local_time(text: str) -> str:
    """The engine's ISO 8601 UTC time as local HH:MM:SS, or the text itself when unreadable."""
    moment = parse_wall(text)
    if moment is None:
        return text
    try:
        return moment.astimezone().strftime("%H:%M:%S")
    except (ValueError, OverflowError):  # within a day of year 1 or 9999, in local time
        return text


def age_text(seconds: float) -> str:
    """`4` → `4 s`, `200` → `3 min`, `7300` → `2 h`; `–` for NaN or an infinity."""
    if not math.isfinite(seconds):
        return NO_NUMBER
    if seconds < 60:
        return f"{max(round(seconds), 0)} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"


def shown(text: str) -> str:
    """`text` safe to draw: a control character as its picture (`\x1b` → `␛`, a line break
    or separator → `␤`), a C1 control, a lone surrogate, a bidirectional control or a
    zero-width character as `�`, one character for one, so no note, title or reason drives
    the terminal (an escape sequence), breaks a line, or turns what follows around."""
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
