"""Straight-line fades of a device's output channels on an injected clock, and their reports."""

from __future__ import annotations

from dataclasses import dataclass

from controller.sim.model import EPSILON_S, REPORT_INTERVAL_S


@dataclass(frozen=True)
class Fade:
    """Channels moving in a straight line from `start` to `target` in `duration_s` from `begins`."""

    start: tuple[float, ...]
    target: tuple[float, ...]
    begins: float = 0.0
    duration_s: float = 0.0

    @classmethod
    def steady(cls, values: tuple[float, ...]) -> Fade:
        """Channels that stay where they are."""
        return cls(values, values)

    @property
    def ends(self) -> float:
        return self.begins + self.duration_s

    def at(self, now: float) -> tuple[float, ...]:
        """The channels' values at `now`."""
        if self.duration_s <= 0 or now >= self.ends:
            return self.target
        if now <= self.begins:
            return self.start
        progress = (now - self.begins) / self.duration_s
        return tuple(a + (b - a) * progress for a, b in zip(self.start, self.target, strict=True))

    def finished(self, now: float) -> bool:
        return now >= self.ends - EPSILON_S

    def towards(self, target: tuple[float, ...], now: float, duration_s: float) -> Fade:
        """A new fade from wherever the channels are at `now` to `target`."""
        return Fade(self.at(now), target, now, max(0.0, duration_s))


class ProgressReports:
    """When a fading device reports: every `interval_s` while the fade runs, and once at its end."""

    def __init__(self, interval_s: float = REPORT_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._next_report: float | None = None

    def begin(self, now: float) -> None:
        self._next_report = now + self.interval_s

    @property
    def active(self) -> bool:
        return self._next_report is not None

    def due(self, now: float, fade_ends: float) -> bool:
        """Whether to report at `now` (once per interval while fading; always once at the end)."""
        if self._next_report is None:
            return False
        if now >= fade_ends - EPSILON_S:
            self._next_report = None
            return True
        if now >= self._next_report - EPSILON_S:
            self._next_report = now + self.interval_s
            return True
        return False
