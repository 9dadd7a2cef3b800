"""Vitals history, gathered by the console from successive states, and sparklines of it."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

from controller.api.state import VitalsInfo
from controller.untrusted import finite_number

TREND_LENGTH = 40
"""Readings kept per sensor and measure."""
MEASURES = ("hr", "spo2", "sys", "dia")
SPARK_BARS = "▁▂▃▄▅▆▇█"


class VitalsTrends:
    """The last readings of every sensor; a reading counts once however many states repeat it."""

    def __init__(self, length: int = TREND_LENGTH) -> None:
        self._length = length
        self._series: dict[tuple[str, str], deque[float]] = {}
        self._last_reading: dict[str, VitalsInfo] = {}

    def add(self, vitals: Mapping[str, VitalsInfo]) -> None:
        """The readings of a state; a sensor it does not have is forgotten (states that each
        named new sensors grew these without bound)."""
        gone = self._last_reading.keys() - vitals.keys()
        if gone:
            for sensor in gone:
                del self._last_reading[sensor]
            self._series = {key: kept for key, kept in self._series.items() if key[0] in vitals}
        for sensor, reading in vitals.items():
            if self._last_reading.get(sensor) == reading:
                continue
            self._last_reading[sensor] = reading
            for measure in MEASURES:
                value = finite_number(getattr(reading, measure))
                if value is not None:
                    key = (sensor, measure)
                    self._series.setdefault(key, deque(maxlen=self._length)).append(value)

    def series(self, sensor: str, measure: str) -> tuple[float, ...]:
        return tuple(self._series.get((sensor, measure), ()))


def sparkline(values: Sequence[float], width: int) -> str:
    """The last `width` values as bars scaled between their own minimum and maximum (halved
    first, so that no difference of two floats overflows to infinity)."""
    shown = list(values)[-width:] if width > 0 else []
    if not shown:
        return ""
    low, high = min(shown) / 2, max(shown) / 2
    if high == low:
        return SPARK_BARS[len(SPARK_BARS) // 2 - 1] * len(shown)
    top = len(SPARK_BARS) - 1
    return "".join(
        SPARK_BARS[min(round((value / 2 - low) / (high - low) * top), top)] for value in shown
    )
