"""The BLS set schedule, driven tick by tick on an injected clock with exact expected passes."""

from __future__ import annotations

import pytest

from controller.config.settings import SafetyLimits
from controller.media.tone_limits import UnconfirmedLongSetError
from controller.media.tones import (
    SetProgress,
    SetSchedule,
    ToneParameterError,
)


def ticks(schedule: SetSchedule, step_s: float, until_s: float) -> list[tuple[float, SetProgress]]:
    """Ask the schedule at every tick of a clock stepping by `step_s` (as the engine does)."""
    count = round(until_s / step_s)
    return [(index * step_s, schedule.progress(index * step_s)) for index in range(count + 1)]


def test_a_set_counts_each_pass_from_its_first_moment_and_is_done_after_the_last() -> None:
    schedule = SetSchedule(speed_hz=0.5, passes=3)

    observed = [(now, p.status, p.pass_number) for now, p in ticks(schedule, 0.5, 7.0)]

    assert observed == [
        (0.0, "running", 1),
        (0.5, "running", 1),
        (1.0, "running", 1),
        (1.5, "running", 1),
        (2.0, "running", 2),
        (2.5, "running", 2),
        (3.0, "running", 2),
        (3.5, "running", 2),
        (4.0, "running", 3),
        (4.5, "running", 3),
        (5.0, "running", 3),
        (5.5, "running", 3),
        (6.0, "done", 3),
        (6.5, "done", 3),
        (7.0, "done", 3),
    ]


def test_repeated_sets_pause_between_sets_and_restart_the_pass_count() -> None:
    schedule = SetSchedule(speed_hz=1.0, passes=2, sets=3, pause_s=1.5)

    observed = [
        (now, p.status, p.set_number, p.pass_number) for now, p in ticks(schedule, 0.5, 10.0)
    ]

    assert observed == [
        (0.0, "running", 1, 1),
        (0.5, "running", 1, 1),
        (1.0, "running", 1, 2),
        (1.5, "running", 1, 2),
        (2.0, "paused", 1, 2),
        (2.5, "paused", 1, 2),
        (3.0, "paused", 1, 2),
        (3.5, "running", 2, 1),
        (4.0, "running", 2, 1),
        (4.5, "running", 2, 2),
        (5.0, "running", 2, 2),
        (5.5, "paused", 2, 2),
        (6.0, "paused", 2, 2),
        (6.5, "paused", 2, 2),
        (7.0, "running", 3, 1),
        (7.5, "running", 3, 1),
        (8.0, "running", 3, 2),
        (8.5, "running", 3, 2),
        (9.0, "done", 3, 2),
        (9.5, "done", 3, 2),
        (10.0, "done", 3, 2),
    ]
    assert schedule.total_s == 9.0


def test_sets_without_a_pause_follow_each_other_directly() -> None:
    schedule = SetSchedule(speed_hz=2.0, passes=1, sets=2)

    observed = [
        (now, p.status, p.set_number, p.pass_number) for now, p in ticks(schedule, 0.25, 1.0)
    ]

    assert observed == [
        (0.0, "running", 1, 1),
        (0.25, "running", 1, 1),
        (0.5, "running", 2, 1),
        (0.75, "running", 2, 1),
        (1.0, "done", 2, 1),
    ]


def test_a_clock_ticking_in_steps_that_floats_cannot_hold_lands_on_pass_boundaries() -> None:
    """0.3 s ticks: 29 x 0.3 is 8.7 only after rounding, yet pass 2 of set 2 starts there."""
    schedule = SetSchedule(speed_hz=0.5, passes=3, sets=2, pause_s=0.7)

    observed = [(p.status, p.set_number, p.pass_number) for _, p in ticks(schedule, 0.3, 12.9)]

    assert observed == (
        [("running", 1, 1)] * 7  # 0.0 - 1.8 s
        + [("running", 1, 2)] * 7  # 2.1 - 3.9 s
        + [("running", 1, 3)] * 6  # 4.2 - 5.7 s
        + [("paused", 1, 3)] * 3  # 6.0 - 6.6 s
        + [("running", 2, 1)] * 6  # 6.9 - 8.4 s
        + [("running", 2, 2)] * 7  # 8.7 - 10.5 s
        + [("running", 2, 3)] * 7  # 10.8 - 12.6 s
        + [("done", 2, 3)]  # 12.9 s
    )


def test_passes_whose_length_floats_cannot_hold_are_all_played() -> None:
    """3 passes at 0.7 Hz last 3 / 0.7 s, and 3 / 0.7 * 0.7 is 2.9999999999999996."""
    schedule = SetSchedule(speed_hz=0.7, passes=3)

    assert schedule.passes_per_set == 3
    assert schedule.progress(schedule.set_s - 0.01) == SetProgress("running", 1, 3)


@pytest.mark.parametrize(
    ("speed_hz", "seconds", "passes"),
    [(1.0, 10.0, 10), (0.3, 10.0, 3), (0.7, 10.0, 7), (0.3, 13.0, 3), (2.0, 0.5, 1)],
)
def test_a_set_limited_by_seconds_plays_the_whole_passes_that_fit(
    speed_hz: float, seconds: float, passes: int
) -> None:
    schedule = SetSchedule(speed_hz=speed_hz, seconds=seconds)

    assert schedule.passes_per_set == passes
    assert schedule.set_s == pytest.approx(passes / speed_hz)
    assert schedule.progress(schedule.set_s).status == "done"
    assert schedule.progress(schedule.set_s - 0.01) == SetProgress("running", 1, passes)


def test_with_passes_and_seconds_the_set_ends_at_the_first_limit() -> None:
    assert SetSchedule(speed_hz=1.0, passes=5, seconds=8).passes_per_set == 5
    assert SetSchedule(speed_hz=1.0, passes=12, seconds=8).passes_per_set == 8


def test_stop_is_immediate_and_keeps_the_pass_reached() -> None:
    schedule = SetSchedule(speed_hz=1.0, passes=10)

    stopped = schedule.stop(3.4)

    assert stopped.progress(3.3) == SetProgress("running", 1, 4)
    assert stopped.progress(3.4) == SetProgress("done", 1, 4)
    assert stopped.progress(9.0) == SetProgress("done", 1, 4)
    assert schedule.progress(9.0) == SetProgress("running", 1, 10), "the original is unchanged"


def test_stopping_during_a_pause_reports_the_set_that_was_played() -> None:
    stopped = SetSchedule(speed_hz=1.0, passes=2, sets=3, pause_s=5).stop(4.0)

    assert stopped.progress(4.0) == SetProgress("done", 1, 2)


def test_a_second_stop_keeps_the_first_stop_time() -> None:
    stopped = SetSchedule(speed_hz=1.0, passes=10).stop(2.5).stop(6.0)

    assert stopped.progress(7.0) == SetProgress("done", 1, 3)


def test_asking_before_the_start_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"now -1 s is not a time since the set started"):
        SetSchedule(speed_hz=1.0, passes=2).progress(-1.0)


@pytest.mark.parametrize(("speed_hz", "passes"), [(0.7, 84), (1.1, 132), (2.0, 240), (0.2, 24)])
def test_a_set_of_exactly_the_hard_limit_is_allowed(speed_hz: float, passes: int) -> None:
    """84 / 0.7 is 120.00000000000001 in floats, yet it is 120 s."""
    assert SetSchedule(speed_hz=speed_hz, passes=passes).set_s == pytest.approx(120)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"speed_hz": 2.5, "passes": 2}, r"^speed 2.5 Hz is above the hard limit 2 Hz$"),
        ({"speed_hz": 0.1, "passes": 2}, r"^speed 0.1 Hz is below the hard limit 0.2 Hz$"),
        ({"speed_hz": 1.0}, r"^a set needs a length: passes or seconds$"),
        ({"speed_hz": 1.0, "passes": 0}, r"^passes 0 must be a whole number of at least 1$"),
        ({"speed_hz": 1.0, "passes": 2.5}, r"^passes 2.5 must be a whole number of at least 1$"),
        (
            {"speed_hz": 0.2, "seconds": 4},
            r"^a set of 4 s is shorter than one pass \(5 s at 0.2 Hz\)$",
        ),
        (
            {"speed_hz": 1.0, "seconds": 130},
            r"^set length 130 s is above the hard limit 120 s$",
        ),
        (
            {"speed_hz": 2.0, "passes": 250},
            r"^set length 125 s is above the hard limit 120 s$",
        ),
        ({"speed_hz": 1.0, "passes": 2, "sets": 0}, r"^sets 0 must be a whole number"),
        ({"speed_hz": 1.0, "passes": 2, "pause_s": -1}, r"^pause -1 s is below"),
        ({"speed_hz": float("nan"), "passes": 2}, r"^speed nan is not a finite number$"),
    ],
)
def test_an_invalid_set_is_refused_naming_the_bound(
    arguments: dict[str, float], message: str
) -> None:
    with pytest.raises(ToneParameterError, match=message):
        SetSchedule(**arguments)  # type: ignore[arg-type]


def test_the_rooms_speed_range_applies_when_given() -> None:
    safety = SafetyLimits(bls_speed_min_hz=0.5, bls_speed_max_hz=1.5)

    with pytest.raises(
        ToneParameterError, match=r"^speed 1.8 Hz is above the room's limit 1.5 Hz$"
    ):
        SetSchedule(speed_hz=1.8, passes=2).check_room_limits(safety)
    SetSchedule(speed_hz=1.5, passes=2).check_room_limits(safety)


def test_a_set_beyond_the_rooms_soft_limit_needs_confirmation() -> None:
    safety = SafetyLimits(bls_speed_min_hz=0.2, bls_set_max_passes=24, bls_set_max_seconds=60)
    too_many_passes = SetSchedule(speed_hz=2.0, passes=30)
    too_long = SetSchedule(speed_hz=0.25, passes=20)

    for schedule in (too_many_passes, too_long):
        with pytest.raises(UnconfirmedLongSetError, match="soft limit of 24 passes / 60 s"):
            schedule.check_room_limits(safety)
        schedule.check_room_limits(safety, confirm_long_set=True)
    SetSchedule(speed_hz=0.4, passes=24).check_room_limits(safety)
