"""Human durations in room files: `90s`, `15m`, `1h30m`, `1:30:00`, with an optional sign."""

import math
import re

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_UNITS = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)$")


def parse_duration(text: str) -> float:
    """Return the seconds that `text` names; raise ValueError with a plain message otherwise
    (nan, inf, or more seconds than a float holds, are no length of time)."""
    raw = text.strip().lower()
    sign = -1.0 if raw.startswith("-") else 1.0
    try:
        seconds = _seconds(raw.lstrip("+-").strip())
    except (ValueError, OverflowError):  # OverflowError: 400 digits of hours
        seconds = math.nan
    if not math.isfinite(seconds):
        raise ValueError(
            f"{text!r} is not a duration (write e.g. 90s, 15m, 1h30m, 1:30:00 or seconds)"
        )
    return sign * seconds


def _seconds(body: str) -> float:
    """The seconds of an unsigned duration; nan when it is none."""
    clock = _CLOCK.fullmatch(body)
    if clock:
        hours, minutes, seconds = clock.groups()
        if float(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
            return math.nan  # `1:75:00`, `0:90`: a slip of the keys, not 2h15m or 1m30s
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    try:
        return float(body)
    except ValueError:
        pass
    parts = _UNITS.findall(body)
    if not parts or _UNITS.sub("", body).strip():
        return math.nan
    return sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)


def format_duration(seconds: float) -> str:
    """Format seconds as `1h30m`, `15m`, `45s` or `2m30s` for summaries."""
    total = round(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(
        f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value
    )
    return ("-" if seconds < 0 else "") + (text or "0s")
