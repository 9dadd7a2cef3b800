"""The session clock: a manual clock for tests, a scaled one for rehearsals; nothing sleeps."""

from __future__ import annotations

import math

import pytest

from controller.engine.clock import Clock, ManualClock, ScaledClock


def test_manual_clock_starts_where_told_and_moves_only_when_told() -> None:
    clock = ManualClock(start=5.0)
    assert clock.now() == 5.0
    assert clock.now() == 5.0
    assert clock.advance(0.25) == 5.25
    clock.set(10.0)
    assert clock.now() == 10.0


def test_manual_clock_starts_at_zero_by_default() -> None:
    assert ManualClock().now() == 0.0


def test_manual_clock_may_stand_still_but_never_go_back() -> None:
    clock = ManualClock(start=3.0)
    clock.set(3.0)
    clock.advance(0.0)
    with pytest.raises(ValueError, match="cannot go back from 3 s to 2 s"):
        clock.set(2.0)
    assert clock.now() == 3.0


@pytest.mark.parametrize("step", [-0.1, math.nan, math.inf])
def test_manual_clock_refuses_steps_that_are_not_forward_and_finite(step: float) -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="finite number of seconds ≥ 0"):
        clock.advance(step)
    assert clock.now() == 0.0


@pytest.mark.parametrize("time", [math.nan, math.inf])
def test_manual_clock_refuses_times_that_are_not_finite(time: float) -> None:
    with pytest.raises(ValueError, match="finite number of seconds"):
        ManualClock().set(time)


def test_scaled_clock_runs_scale_times_faster_than_its_source() -> None:
    source = ManualClock(start=1000.0)
    clock = ScaledClock(60, source=source.now)
    assert clock.scale == 60
    assert clock.now() == 0.0
    source.advance(1.5)
    assert clock.now() == 90.0


def test_scaled_clock_can_resume_from_a_session_time() -> None:
    source = ManualClock(start=7.0)
    clock = ScaledClock(2, source=source.now, start=300.0)
    source.advance(10.0)
    assert clock.now() == 320.0


@pytest.mark.parametrize("scale", [0.0, -1.0, math.nan, math.inf])
def test_scaled_clock_refuses_a_scale_that_is_not_positive_and_finite(scale: float) -> None:
    with pytest.raises(ValueError, match="time scale is a finite number above 0"):
        ScaledClock(scale)


def test_scaled_clock_follows_the_monotonic_clock_by_default() -> None:
    clock = ScaledClock(1.0)
    first = clock.now()
    second = clock.now()
    assert 0.0 <= first <= second < 60.0


def test_both_clocks_are_clocks() -> None:
    clocks: list[Clock] = [ManualClock(start=2.0), ScaledClock(1.0, source=lambda: 4.0, start=2.0)]
    assert [clock.now() for clock in clocks] == [2.0, 2.0]
