"""Parts of the retained state (`phase_info`, `plan_phases`, `device_info`) built from a
`SessionRun` of the example room's plans at given session times, and from its devices."""

from __future__ import annotations

import pytest

from controller.api.state import Availability, DeviceInfo, PhaseInfo, PlanPhase
from controller.config import Room
from controller.engine.phases import SessionRun
from controller.engine.snapshot import device_info, phase_info, plan_phases
from tests.engine.room_parts import example_room


@pytest.fixture(scope="module")
def room() -> Room:
    return example_room()


def started(room: Room, plan: str) -> SessionRun:
    run, _ = SessionRun.start(room.plans[plan], guard_s=2.0, now=0.0)
    return run


def centering(**changes: object) -> PhaseInfo:
    """The rehearsal's first phase as the state shows it at its start, with `changes`."""
    info = PhaseInfo(
        name="centering",
        index=0,
        started_t=0.0,
        planned_s=60.0,
        elapsed_s=0.0,
        held=False,
        extended_s=0.0,
        advance="auto",
        next="peak",
    )
    return info.model_copy(update=changes)


def test_the_phase_at_a_session_time(room: Room) -> None:
    run = started(room, "rehearsal")
    assert phase_info(run, 0.0) == centering()
    assert phase_info(run, 30.0) == centering(elapsed_s=30.0)


def test_a_held_and_extended_phase(room: Room) -> None:
    run = started(room, "rehearsal")
    run.hold()
    run.extend(30.0)
    assert phase_info(run, 75.0) == centering(
        planned_s=90.0, elapsed_s=75.0, held=True, extended_s=30.0
    )


def test_the_next_phase_and_the_last(room: Room) -> None:
    run = started(room, "rehearsal")
    run.next(10.0)
    peak = {"name": "peak", "index": 1, "started_t": 10.0, "planned_s": 90.0, "next": "return"}
    assert phase_info(run, 25.0) == centering(**peak, elapsed_s=15.0)
    run.goto("integration", 20.0)
    last = phase_info(run, 20.0)
    assert (last.name, last.index, last.next) == ("integration", 3, None)


def test_a_phase_before_its_start_has_been_going_for_no_time(room: Room) -> None:
    run = started(room, "rehearsal")
    run.next(10.0)
    assert phase_info(run, 9.0).elapsed_s == 0.0


def test_a_manual_phase(room: Room) -> None:
    info = phase_info(started(room, "standard"), 60.0)
    assert (info.name, info.planned_s, info.advance) == ("centering", 900.0, "manual")


def test_the_plans_phases(room: Room) -> None:
    assert plan_phases(room.plans["standard"]) == [
        PlanPhase(name="centering", scene="centering", planned_s=900.0, advance="manual"),
        PlanPhase(name="peak", scene="peak", planned_s=2400.0, advance="auto"),
        PlanPhase(name="return", scene="return", planned_s=1200.0, advance="manual"),
        PlanPhase(name="integration", scene="integration", planned_s=900.0, advance="manual"),
    ]


def test_a_configured_device(room: Room) -> None:
    state = {"on": True, "level": 0.3}
    target = {"level": 0.3, "on": True}
    info = device_info(
        "ceiling", room.devices["ceiling"], available="online", state=state, target=target
    )
    assert info == DeviceInfo(
        kind="light",
        driver="zigbee2mqtt",
        label="Ceiling light",
        available="online",
        essential=True,
        state=state,
        target=target,
    )


@pytest.mark.parametrize(("available", "shown"), [("offline", "offline"), ("gone", "unknown")])
def test_an_unconfigured_device_is_unknown_by_its_id(available: str, shown: Availability) -> None:
    info = device_info("mystery", None, available=available, state={"running": True})
    assert info == DeviceInfo(
        kind="unknown",
        driver="unknown",
        label="mystery",
        available=shown,
        state={"running": True},
    )
