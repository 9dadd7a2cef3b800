"""Fades on an injected clock and when a fading device reports, with exact values."""

from __future__ import annotations

from controller.sim.fade import Fade, ProgressReports


def test_a_fade_from_0_to_250_over_5_s_passes_50_100_150_200_250() -> None:
    fade = Fade((0.0,), (250.0,), begins=0.0, duration_s=5.0)
    assert [fade.at(t)[0] for t in (1, 2, 3, 4, 5)] == [50, 100, 150, 200, 250]


def test_before_the_start_and_long_after_the_end() -> None:
    fade = Fade((10.0, 0.0), (20.0, 100.0), begins=100.0, duration_s=10.0)
    assert fade.at(50.0) == (10.0, 0.0)
    assert fade.at(1e9) == (20.0, 100.0)
    assert fade.finished(110.0) and not fade.finished(109.0)


def test_a_zero_second_fade_is_at_its_target_at_once() -> None:
    fade = Fade((0.0,), (7.0,), begins=3.0, duration_s=0.0)
    assert fade.at(3.0) == (7.0,)


def test_a_new_fade_starts_where_the_old_one_is() -> None:
    fade = Fade((0.0,), (100.0,), begins=0.0, duration_s=10.0).towards(
        (0.0,), now=5.0, duration_s=5.0
    )
    assert [fade.at(t)[0] for t in (5.0, 7.5, 10.0)] == [50.0, 25.0, 0.0]


def test_progress_is_reported_each_interval_and_once_at_the_end() -> None:
    reports = ProgressReports(interval_s=0.5)
    reports.begin(now=0.1)
    due = [t for t in (0.2, 0.4, 0.6, 0.7, 1.0, 1.1, 1.3, 1.4) if reports.due(t, fade_ends=1.3)]
    assert due == [0.6, 1.1, 1.3]
    assert not reports.active
