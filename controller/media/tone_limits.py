"""Bounds checks for bilateral tones and sets, with errors that name the bound they break."""

from __future__ import annotations

import math
from typing import Final

EDGE_MS_MIN: Final = 1.0
"""The shortest raised-cosine edge a tone burst may have (the room's tone_edge_ms floor)."""

TONE_MS_MIN: Final = 20.0
"""The shortest tone burst: shorter ones are heard as clicks, not tones (4 cycles at 200 Hz)."""

SAMPLE_RATE_MIN: Final = 8000
SAMPLE_RATE_MAX: Final = 192000

HARD_LIMIT: Final = "the hard limit"
ROOM_LIMIT: Final = "the room's limit"
ROOM_CAP: Final = "the room's cap"


class ToneParameterError(ValueError):
    """A tone or set parameter outside docs/safety.md's hard bounds or the room's limits."""


class UnconfirmedLongSetError(ToneParameterError):
    """A set beyond the room's soft limit, which docs/safety.md allows only when confirmed."""


def check_range(
    name: str, value: float, low: float, high: float, *, unit: str = "", source: str = HARD_LIMIT
) -> None:
    """Raise ToneParameterError naming the broken bound unless `low <= value <= high`."""
    if not math.isfinite(value):
        raise ToneParameterError(f"{name} {value} is not a finite number")
    if value > high:
        raise ToneParameterError(
            f"{name} {quantity(value, unit)} is above {source} {quantity(high, unit)}"
        )
    if value < low:
        raise ToneParameterError(
            f"{name} {quantity(value, unit)} is below {source} {quantity(low, unit)}"
        )


def quantity(value: float, unit: str) -> str:
    """`440 Hz`, `0.5` (a unitless level): numbers as people write them."""
    return f"{value:g} {unit}" if unit else f"{value:g}"
