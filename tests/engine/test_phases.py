"""The phase machine, driven tick by tick on session time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from controller.config.models import Plan
from controller.engine.phases import CommandRefused, CueDue, PhaseChange, SessionRun

PLAN = Plan.model_validate(
    {
        "title": "test",
        "phases": [
            {
                "name": "centering",
                "scene": "a",
                "duration": "60s",
                "advance": "auto",
                "cues": [
                    {"at": "+10s", "do": {"action": "note", "text": "ten"}},
                    {"at": "-5s", "do": {"action": "volume", "level": 0.2}},
                ],
            },
            {"name": "peak", "scene": "b", "duration": "120s", "advance": "manual"},
            {"name": "return", "scene": "c", "duration": "30s", "advance": "auto"},
            {"name": "integration", "scene": "d", "duration": "30s", "advance": "auto"},
        ],
    }
)


def started(now: float = 0.0) -> SessionRun:
    run, change = SessionRun.start(PLAN, guard_s=2.0, now=now)
    assert change == PhaseChange(None, 0, now, "start")
    return run


def test_a_session_starts_in_its_first_phase() -> None:
    status = started().status(0.0)
    assert (status.name, status.index, status.planned_s, status.elapsed_s) == (
        "centering",
        0,
        60,
        0,
    )
    assert status.next_phase == "peak"


def test_cues_fire_once_at_their_moment_counted_from_start_or_planned_end() -> None:
    run = started()
    assert run.due(9.9) == []
    assert run.due(10.0) == [CueDue(0, 0, PLAN.phases[0].cues[0])]
    assert run.due(30.0) == []
    assert run.due(55.0) == [CueDue(0, 1, PLAN.phases[0].cues[1])]
    assert run.due(56.0) == []


def test_an_auto_phase_advances_at_its_exact_planned_end() -> None:
    run = started()
    run.due(59.0)
    assert run.due(61.5)[-1] == PhaseChange(0, 1, 60.0, "auto")
    assert run.status(61.5).elapsed_s == 1.5


def test_a_manual_phase_waits_for_the_operator() -> None:
    run = started()
    run.due(60.0)
    assert run.due(10_000.0) == []
    assert run.status(10_000.0).name == "peak"


def test_a_held_phase_does_not_advance_until_released() -> None:
    run = started()
    run.hold()
    assert run.due(100.0) == [
        CueDue(0, 0, PLAN.phases[0].cues[0]),
        CueDue(0, 1, PLAN.phases[0].cues[1]),
    ]
    assert run.status(100.0).held
    run.release(100.0)
    assert run.due(100.0) == [PhaseChange(0, 1, 100.0, "auto")]


def test_the_phase_after_one_held_past_its_end_starts_at_the_release_and_runs_in_full() -> None:
    """Not at the held phase's planned end, in the past: the next phase would have begun
    before anyone saw it, all its early cues would fire in one tick, and it would end early
    by the time held (here, before it even started)."""
    run = started()
    run.goto("return", 5.0)  # 30 s, then integration
    run.hold()
    assert run.due(100.0) == []
    run.release(100.0)
    assert run.status(100.0).extended_s == 65.0
    assert run.due(100.0) == [PhaseChange(2, 3, 100.0, "auto")]
    assert run.status(110.0).elapsed_s == 10.0


def test_a_phase_released_before_its_planned_end_keeps_its_plan() -> None:
    run = started()
    run.hold()
    run.release(20.0)
    assert run.status(20.0).planned_s == 60
    assert run.due(60.0)[-1] == PhaseChange(0, 1, 60.0, "auto")


def test_extending_moves_the_planned_end_and_the_cues_counted_from_it() -> None:
    run = started()
    run.extend(30)
    assert run.status(0).planned_s == 90
    assert run.due(56.0) == [CueDue(0, 0, PLAN.phases[0].cues[0])]
    assert run.due(85.0) == [CueDue(0, 1, PLAN.phases[0].cues[1])]
    assert run.due(90.0) == [PhaseChange(0, 1, 90.0, "auto")]
    assert run.status(90.0).extended_s == 0


def test_next_back_and_goto_move_between_phases() -> None:
    run = started()
    assert run.next(5.0) == PhaseChange(0, 1, 5.0, "next")
    assert run.goto("integration", 10.0) == PhaseChange(1, 3, 10.0, "goto")
    assert run.back(20.0) == PhaseChange(3, 2, 20.0, "back")


def test_a_second_press_within_the_guard_time_is_ignored_and_says_so() -> None:
    run = started()
    run.next(5.0)
    with pytest.raises(
        CommandRefused, match=r"ignored: a phase change 1.5 s after the previous one \(guard 2 s"
    ):
        run.next(6.5)
    assert run.status(6.5).name == "peak"
    assert run.next(7.0).to_index == 2


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda run: run.back(10.0), "centering is the first phase"),
        (lambda run: run.goto("centering", 10.0), "already in centering"),
        (lambda run: run.goto("dessert", 10.0), "the plan has no phase 'dessert'"),
        (lambda run: run.release(10.0), "centering is not held"),
        (lambda run: run.extend(0), "extend takes 1 s to 1 h"),
        (lambda run: run.extend(7200), "extend takes 1 s to 1 h"),
    ],
)
def test_actions_that_make_no_sense_now_are_refused_with_a_reason(
    action: Callable[[SessionRun], object], message: str
) -> None:
    with pytest.raises(CommandRefused, match=message):
        action(started())


def test_the_last_phase_has_no_next() -> None:
    run = started()
    run.goto("integration", 10.0)
    with pytest.raises(CommandRefused, match="integration is the last phase; use end"):
        run.next(20.0)
    assert run.due(10_000.0) == []


def test_after_a_long_gap_every_auto_phase_that_ended_is_passed() -> None:
    run = started()
    run.next(5.0)
    run.next(10.0)
    assert run.due(75.0) == [PhaseChange(2, 3, 40.0, "auto")]
    assert run.status(75.0).elapsed_s == 35.0


def test_a_snapshot_restores_the_same_run() -> None:
    run = started()
    run.due(12.0)
    run.hold()
    run.extend(15)
    restored = SessionRun.restore(PLAN, run.snapshot(), guard_s=2.0)
    assert restored.status(20.0) == run.status(20.0)
    assert restored.due(100.0) == run.due(100.0)
