"""The schedule of bilateral stimulation sets: the pass playing at a given time, pauses, stop.

A set is limited by passes or by seconds (one pass is one full left-right cycle); a set
limited by seconds plays the whole passes that fit in it, so both sides always get the same
number of stimuli. When the set repeats, a pause separates the sets, as EMDR kits do.
The schedule is pure: it is asked about a time `now` (seconds since the first set started,
on the engine's clock) and never reads a clock itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from controller.config import limits
from controller.config.settings import SafetyLimits
from controller.media.tone_limits import (
    ROOM_LIMIT,
    ToneParameterError,
    UnconfirmedLongSetError,
    check_range,
)

SetStatus = Literal["running", "paused", "done"]

TIME_TOLERANCE_S = 1e-9
"""Times this close to a pass boundary count as on it (absorbs float rounding like 0.1 * 3)."""


@dataclass(frozen=True)
class SetProgress:
    """Where a schedule stands at one moment."""

    status: SetStatus
    set_number: int
    """The set running, pausing after it, or the last one played; counted from 1."""
    pass_number: int
    """The pass in progress within the set, from 1; while paused or done, the passes it played."""


@dataclass(frozen=True)
class SetSchedule:
    """One or more BLS sets at `speed_hz`, each `passes` long or the whole passes in `seconds`."""

    speed_hz: float
    passes: int | None = None
    seconds: float | None = None
    """When both are given the set ends at whichever limit comes first."""
    sets: int = 1
    pause_s: float = 0.0
    """Silence between two sets when the set repeats."""
    stopped_at: float | None = None
    """When `stop` was called; from then on the schedule is done."""

    def __post_init__(self) -> None:
        check_range(
            "speed",
            self.speed_hz,
            limits.BLS_SPEED_MIN_HZ,
            limits.BLS_SPEED_MAX_HZ,
            unit="Hz",
        )
        if self.passes is None and self.seconds is None:
            raise ToneParameterError("a set needs a length: passes or seconds")
        if self.passes is not None:
            _check_count("passes", self.passes)
        if self.seconds is not None:
            check_range("set length", self.seconds, 0, math.inf, unit="s")
            if self.seconds * self.speed_hz + TIME_TOLERANCE_S < 1:
                raise ToneParameterError(
                    f"a set of {self.seconds:g} s is shorter than one pass "
                    f"({1 / self.speed_hz:g} s at {self.speed_hz:g} Hz)"
                )
        check_range(
            "set length",
            self.requested_s,
            0,
            limits.BLS_SET_MAX_SECONDS + TIME_TOLERANCE_S,
            unit="s",
        )
        _check_count("sets", self.sets)
        check_range("pause", self.pause_s, 0, math.inf, unit="s")

    @property
    def requested_s(self) -> float:
        """The set length asked for, before it is cut to whole passes."""
        by_passes = math.inf if self.passes is None else self.passes / self.speed_hz
        by_seconds = math.inf if self.seconds is None else self.seconds
        return min(by_passes, by_seconds)

    @property
    def passes_per_set(self) -> int:
        fitting = (
            None
            if self.seconds is None
            else math.floor(self.seconds * self.speed_hz + TIME_TOLERANCE_S)
        )
        return min(limit for limit in (self.passes, fitting) if limit is not None)

    @property
    def set_s(self) -> float:
        """How long one set plays: its whole passes."""
        return self.passes_per_set / self.speed_hz

    @property
    def total_s(self) -> float:
        """All sets and the pauses between them."""
        return self.sets * self.set_s + (self.sets - 1) * self.pause_s

    def check_room_limits(self, safety: SafetyLimits, *, confirm_long_set: bool = False) -> None:
        """Raise ToneParameterError when the room's limits refuse this schedule.

        The speed must lie inside the room's range; a set beyond the room's soft limit
        (passes or seconds) raises UnconfirmedLongSetError unless `confirm_long_set`.
        """
        check_range(
            "speed",
            self.speed_hz,
            safety.bls_speed_min_hz,
            safety.bls_speed_max_hz,
            unit="Hz",
            source=ROOM_LIMIT,
        )
        beyond_soft_limit = (
            self.passes_per_set > safety.bls_set_max_passes
            or self.set_s > safety.bls_set_max_seconds + TIME_TOLERANCE_S
        )
        if beyond_soft_limit and not confirm_long_set:
            raise UnconfirmedLongSetError(
                f"a set of {self.passes_per_set} passes ({self.set_s:g} s) is beyond the room's "
                f"soft limit of {safety.bls_set_max_passes} passes / "
                f"{safety.bls_set_max_seconds:g} s and needs an explicit confirmation"
            )

    def stop(self, now: float) -> SetSchedule:
        """This schedule stopped at `now`: done from that moment on (an earlier stop stands)."""
        _check_now(now)
        if self.stopped_at is not None and self.stopped_at <= now:
            return self
        return replace(self, stopped_at=now)

    def progress(self, now: float) -> SetProgress:
        """Running, paused or done at `now`, and the set and pass it has reached."""
        _check_now(now)
        if self.stopped_at is not None and now >= self.stopped_at:
            reached = self._planned_progress(self.stopped_at)
            return SetProgress("done", reached.set_number, reached.pass_number)
        return self._planned_progress(now)

    def _planned_progress(self, now: float) -> SetProgress:
        if now + TIME_TOLERANCE_S >= self.total_s:
            return SetProgress("done", self.sets, self.passes_per_set)
        period = self.set_s + self.pause_s
        set_index = math.floor((now + TIME_TOLERANCE_S) / period)
        into_set = max(0.0, now - set_index * period)
        pass_number = math.floor((into_set + TIME_TOLERANCE_S) * self.speed_hz) + 1
        if pass_number > self.passes_per_set:
            return SetProgress("paused", set_index + 1, self.passes_per_set)
        return SetProgress("running", set_index + 1, pass_number)


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ToneParameterError(f"{name} {value} must be a whole number of at least 1")


def _check_now(now: float) -> None:
    if not math.isfinite(now) or now < 0:
        raise ValueError(f"now {now:g} s is not a time since the set started")
