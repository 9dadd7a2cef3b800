"""The session clock: monotonic seconds, driven by hand in tests or scaled for rehearsals."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the engine's time: monotonic seconds as a float."""

    def now(self) -> float:
        """The current time in seconds; never smaller than an earlier answer."""
        ...


class ManualClock:
    """A clock that only moves when told to: tests step it tick by tick."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = _finite("start", start)

    def now(self) -> float:
        """The time the clock was last moved to."""
        return self._now

    def advance(self, dt: float) -> float:
        """Move the clock `dt` seconds forward and return the new time."""
        if not dt >= 0 or math.isinf(dt):
            raise ValueError(f"a clock advances by a finite number of seconds ≥ 0, not {dt!r}")
        self._now += dt
        return self._now

    def set(self, t: float) -> None:
        """Move the clock to time `t`, which may not lie before the current time."""
        t = _finite("time", t)
        if t < self._now:
            raise ValueError(f"a monotonic clock cannot go back from {self._now:g} s to {t:g} s")
        self._now = t


class ScaledClock:
    """A clock whose seconds run `scale` times faster than its source (rehearsals).

    It starts at `start` when created and then follows `source` (by default
    `time.monotonic`), so with `scale=60` one real second is one session minute.
    """

    def __init__(
        self,
        scale: float,
        source: Callable[[], float] = time.monotonic,
        *,
        start: float = 0.0,
    ) -> None:
        if not scale > 0 or math.isinf(scale):
            raise ValueError(f"a time scale is a finite number above 0, not {scale!r}")
        self._scale = scale
        self._source = source
        self._origin = source()
        self._start = _finite("start", start)

    @property
    def scale(self) -> float:
        """How many session seconds pass per second of the source."""
        return self._scale

    def now(self) -> float:
        """Session seconds: `start` plus the source's elapsed seconds times the scale."""
        return self._start + (self._source() - self._origin) * self._scale


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"the clock's {name} must be a finite number of seconds, not {value!r}")
    return value
