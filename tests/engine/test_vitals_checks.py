"""Vitals checks around a session, tick by tick on the shipped room (docs/safety.md#vitals-checks).

A baseline before the session, readings due on the plan's intervals (the cuff asked through
the one output path), and a recovery check before `end`: each judged by what goes on the
wire, what the state shows and what the journal holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.api.commands import BadCommand, parse_command
from controller.engine.checks import REFUSALS_KEPT
from controller.engine.resume import read_resume_point
from controller.engine.service import public_event
from controller.journal import read_events
from tests.engine.test_engine import Room

CUFF = "vitals/bp-cuff"
OXIMETER = "vitals/oximeter"
MEASURE = "vitals/bp-cuff/set"


@pytest.fixture
def room(tmp_path: Path) -> Room:
    return Room(tmp_path)


def reading(room: Room, topic: str, **values: float) -> None:
    room.device(topic, json.dumps(values))


def fine_readings(room: Room) -> None:
    reading(room, OXIMETER, hr=72, spo2=97)
    reading(room, CUFF, sys=124, dia=80, hr=74)


def into_peak(room: Room) -> None:
    """Start the standard plan and go to its peak (which wants BP every 15 min) at t = 2 s."""
    room.do("start", plan="standard", participant="P014")
    room.tick(2.0)
    room.do("goto", phase="peak")


def checks(room: Room) -> list[dict[str, Any]]:
    """The `check` events of the session journal, in order."""
    session = room.engine.session
    assert session is not None
    session.journal.flush()
    events = read_events(session.journal.path)
    return [e.payload for e in events if e.kind == "check" and isinstance(e.payload, dict)]


def test_a_fresh_baseline_inside_the_thresholds_starts_unconfirmed(room: Room) -> None:
    fine_readings(room)
    baseline = room.engine.snapshot().checks.baseline
    assert not baseline.needs_reason
    assert [(r.sensor, r.problems) for r in baseline.sensors] == [
        ("oximeter", []),
        ("bp-cuff", []),
    ]
    room.do("start", plan="standard", participant="P014")
    [journaled] = checks(room)
    assert journaled["check"] == "baseline"
    assert (journaled["confirmed"], journaled["reason"]) == (False, None)
    assert journaled["readings"]["bp-cuff"]["sys"] == 124
    assert journaled["thresholds"]["sys_below"] == 160


def test_a_confirmed_baseline_is_journaled_as_confirmed(room: Room) -> None:
    fine_readings(room)
    room.do("start", plan="standard", participant="P014", baseline_confirmed=True)
    assert checks(room)[0]["confirmed"] is True
    assert room.engine.snapshot().checks.baseline.confirmed is True


def test_a_baseline_outside_the_thresholds_is_refused_without_a_reason(room: Room) -> None:
    reading(room, OXIMETER, hr=72, spo2=97)
    reading(room, CUFF, sys=165, dia=92, hr=104)
    refusal = room.refused("start", plan="standard", participant="P014")
    assert "bp-cuff: HR 104 is not under 100 bpm" in refusal
    assert "bp-cuff: BP 165/92 is not under 160/90 mmHg" in refusal
    assert room.engine.session is None

    reason = "known hypertensive, physician approved dosing at 165/92"
    room.do("start", plan="standard", participant="P014", baseline_confirmed=True, reason=reason)
    refused, baseline = checks(room)
    assert refused["check"] == "baseline refused"
    assert "bp-cuff: HR 104 is not under 100 bpm" in refused["problems"]
    assert (baseline["check"], baseline["confirmed"], baseline["reason"]) == (
        "baseline",
        True,
        reason,
    )
    assert baseline["readings"]["bp-cuff"]["problems"] == [
        "HR 104 is not under 100 bpm",
        "BP 165/92 is not under 160/90 mmHg",
    ]


def test_a_reading_older_than_the_maximum_age_needs_a_reason(room: Room) -> None:
    fine_readings(room)
    room.tick(600.0)
    assert not room.engine.snapshot().checks.baseline.needs_reason
    room.tick(1.0)
    assert "reading is 10m1s old (more than 10m)" in room.refused(
        "start", plan="standard", participant="P014"
    )


def test_a_sensor_without_a_reading_is_shown_but_does_not_block(room: Room) -> None:
    reading(room, OXIMETER, hr=72, spo2=97)
    baseline = room.engine.snapshot().checks.baseline
    cuff = baseline.sensors[1]
    assert (cuff.sensor, cuff.reading, cuff.problems) == ("bp-cuff", None, [])
    room.do("start", plan="standard", participant="P014")
    assert checks(room)[0]["readings"]["bp-cuff"] == {"age_s": None, "problems": []}


def test_the_reason_stays_off_the_events_topic_and_the_operator_record(room: Room) -> None:
    reading(room, CUFF, sys=170, dia=95)
    room.engine.take_events()
    room.do("start", plan="standard", participant="P014", reason="private words")
    published = [public_event(event) for event in room.engine.take_events()]
    assert "private words" not in json.dumps(published)
    assert any(e["kind"] == "check" and e["payload"]["reason"] for e in published)


def test_at_the_interval_bp_falls_due_and_the_cuff_is_asked_through_the_output_path(
    room: Room,
) -> None:
    fine_readings(room)
    into_peak(room)
    assert room.tick(0.0).get(MEASURE) is None
    timed = room.engine.snapshot().checks.timed
    assert [(c.sensor, c.label, c.interval_s, c.due) for c in timed] == [
        ("bp-cuff", "BP", 900.0, False)
    ]
    assert timed[0].due_t == 900.0, "15 minutes after the baseline reading"
    assert MEASURE not in room.tick(897.0)
    assert room.tick(1.0)[MEASURE] == ['{"measure":true}']
    [check] = room.engine.snapshot().checks.timed
    assert (check.due, check.asked) == (True, True)
    assert MEASURE not in room.tick(10.0), "asked once per check"

    reading(room, CUFF, sys=128, dia=84, hr=80)
    [check] = room.engine.snapshot().checks.timed
    assert (check.due, check.last_t, check.due_t) == (False, 910.0, 1810.0)
    journaled = checks(room)
    assert [c["check"] for c in journaled] == ["baseline", "due", "taken"]
    assert journaled[2]["late_s"] == 10.0
    session = room.engine.session
    assert session is not None
    session.journal.flush()
    sent = [e for e in read_events(session.journal.path) if e.topic == MEASURE]
    assert [(e.kind, e.device) for e in sent] == [("command", "bp-cuff")]


def test_a_check_unanswered_for_a_whole_interval_is_missed(room: Room) -> None:
    into_peak(room)
    room.tick(900.0)
    assert room.tick(900.0)[MEASURE] == ['{"measure":true}'], "asked again for the next check"
    [check] = room.engine.snapshot().checks.timed
    assert (check.due, check.missed, check.due_t) == (True, 1, 1802.0)
    assert [c["check"] for c in checks(room)] == ["baseline", "due", "missed", "due"]


def test_a_check_due_when_the_phase_ends_is_missed_and_the_next_phase_keeps_its_own(
    room: Room,
) -> None:
    into_peak(room)
    room.tick(950.0)
    room.do("goto", phase="integration")
    assert room.engine.snapshot().checks.timed == []
    assert [c["check"] for c in checks(room)] == ["baseline", "due", "missed"]
    recovery = room.engine.snapshot().checks.recovery
    assert recovery is not None and recovery.peak_ended_t == 952.0


def test_the_recovery_check_answers_every_item_and_is_journaled(room: Room) -> None:
    fine_readings(room)
    into_peak(room)
    room.tick(100.0)
    room.do("goto", phase="integration")
    room.tick(60.0)
    assert "not answered" in room.refused("recovery", items={"oriented": True})
    assert "needs the reason" in room.refused(
        "recovery", items={"oriented": True, "walks unaided": True, "escort present": False}
    )
    reading(room, OXIMETER, hr=66, spo2=98)
    answers = {"oriented": True, "walks unaided": True, "escort present": "taxi booked"}
    room.do("recovery", items=answers)
    recovery = room.engine.snapshot().checks.recovery
    assert recovery is not None and recovery.done
    journaled = checks(room)[-1]
    assert journaled["items"] == answers
    assert journaled["since_peak_s"] == 60.0
    assert journaled["readings"]["oximeter"]["hr"] == 66
    assert journaled["baseline"]["oximeter"]["hr"] == 72
    session = room.engine.session
    assert session is not None
    room.do("end")
    events = read_events(session.journal.path)
    assert [e.payload["check"] for e in events if e.kind == "check"][-1] == "recovery"  # type: ignore[index]


def test_an_end_without_the_recovery_check_journals_the_reason(room: Room) -> None:
    room.do("start", plan="standard", participant="P014")
    session = room.engine.session
    assert session is not None
    room.do("end", reason="participant left against advice")
    events = list(read_events(session.journal.path))
    last = [e.payload for e in events if e.kind == "check"][-1]
    assert last == {"check": "recovery", "done": False, "reason": "participant left against advice"}
    operator = [e.payload for e in events if e.kind == "operator"][-1]
    assert "reason" not in operator  # type: ignore[operator]


def test_a_check_falling_due_or_taken_asks_for_the_state_at_once(room: Room) -> None:
    fine_readings(room)
    into_peak(room)
    room.tick(897.0)
    assert not room.engine.checks.take_changed()
    room.tick(1.0)
    assert room.engine.checks.take_changed()
    assert not room.engine.checks.take_changed(), "once per change"
    reading(room, CUFF, sys=128, dia=84)
    assert room.engine.checks.take_changed()
    reading(room, CUFF, sys=128, dia=84)
    assert not room.engine.checks.take_changed(), "a reading not due changes no check"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"action": "start", "plan": "standard", "participant": "P014", "reason": ""}, "reason"),
        (
            {"action": "start", "plan": "standard", "participant": "P014", "reason": "x" * 1001},
            "reason",
        ),
        ({"action": "end", "reason": 7}, "reason"),
        ({"action": "recovery", "items": {}}, "items"),
        ({"action": "recovery", "items": {"oriented": 1}}, "items"),
        ({"action": "recovery", "items": {"oriented": "yes", "x" * 61: True}}, "items"),
        ({"action": "recovery", "items": ["oriented"]}, "items"),
    ],
)
def test_a_malformed_check_command_is_refused_with_a_reason_never_echoing_words(
    fields: dict[str, Any], problem: str
) -> None:
    with pytest.raises(BadCommand) as refused:
        parse_command(json.dumps({"id": "c1", **fields}).encode())
    assert problem in refused.value.reason
    assert "x" * 20 not in refused.value.reason


def test_an_unknown_checklist_item_is_refused_without_echoing_it(room: Room) -> None:
    room.do("start", plan="standard", participant="P014")
    answers = {"oriented": True, "walks unaided": True, "escort present": True, "Anna B.": True}
    refusal = room.refused("recovery", items=answers)
    assert "1 unknown" in refusal and "Anna" not in refusal


def test_a_resumed_session_keeps_its_timed_checks(tmp_path: Path) -> None:
    first = Room(tmp_path)
    into_peak(first)
    first.tick(10.0)
    session = first.engine.session
    assert session is not None
    session.journal.flush()
    point = read_resume_point(session.journal.path)
    second = Room(tmp_path)
    second.clock.advance(first.clock.now())
    second.engine.resume(session.journal, point)
    [check] = second.engine.snapshot().checks.timed
    assert (check.sensor, check.interval_s) == ("bp-cuff", 900.0)
    assert MEASURE in second.run_for(900.0, step=10.0)


def test_a_flood_of_refused_starts_is_journaled_as_its_latest_few(room: Room) -> None:
    reading(room, CUFF, sys=170, dia=95)
    for _ in range(REFUSALS_KEPT + 30):
        room.refused("start", plan="standard", participant="P014")
    room.do("start", plan="standard", participant="P014", reason="rechecked by hand")
    kinds = [c["check"] for c in checks(room)]
    assert kinds == ["baseline refused"] * REFUSALS_KEPT + ["baseline"]
