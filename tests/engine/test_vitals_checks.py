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
from controller.engine.checks import REFUSALS_KEPT, CheckHistory
from controller.engine.resume import read_resume_point
from controller.engine.service import public_event
from controller.journal import Event, read_events
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


def crash_and_resume(first: Room, tmp_path: Path) -> Room:
    """A second engine carries on the session the first one left open (as after a crash)."""
    session = first.engine.session
    assert session is not None
    session.journal.flush()
    point = read_resume_point(session.journal.path)
    second = Room(tmp_path)
    second.clock.advance(first.clock.now())
    second.engine.resume(session.journal, point)
    return second


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
        (
            {"action": "start", "plan": "standard", "participant": "P014", "reason": " \t\n "},
            "reason: should have words",
        ),
        ({"action": "end", "reason": "\u3000"}, "reason: should have words"),
        ({"action": "recovery", "items": {"oriented": "  "}}, "should have words"),
        (
            {"action": "start", "plan": "standard", "participant": "P014", "reason": "\ud800"},
            "lone UTF-16 surrogate",  # refused as the command is read, before its fields
        ),
        (
            {
                "action": "start",
                "plan": "standard",
                "participant": "P014",
                "baseline_confirmed": "no",
            },
            "baseline_confirmed",
        ),
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
    second = crash_and_resume(first, tmp_path)
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


def test_starts_refused_for_another_participant_stay_out_of_this_session(room: Room) -> None:
    reading(room, CUFF, sys=170, dia=95)
    room.refused("start", plan="standard", participant="P014")
    room.refused("start", plan="standard", participant="P020")
    room.refused("start", plan="standard", participant="P014")
    room.do("start", plan="standard", participant="P020", reason="rechecked by hand")
    journaled = checks(room)
    assert [c["check"] for c in journaled] == ["baseline refused", "baseline"]
    assert "participant" not in journaled[0], "the journal names its participant once, at start"
    room.do("end", reason="test")
    room.do("start", plan="standard", participant="P014", reason="rechecked by hand")
    assert [c["check"] for c in checks(room)] == ["baseline"], "journaled in no later session"


def test_a_resumed_session_keeps_its_baseline_recovery_check_and_missed_readings(
    tmp_path: Path,
) -> None:
    first = Room(tmp_path)
    fine_readings(first)
    first.do("start", plan="standard", participant="P014", baseline_confirmed=True)
    first.tick(2.0)
    first.do("goto", phase="peak")
    first.tick(950.0)
    first.do("goto", phase="integration")
    answers = {"oriented": True, "walks unaided": True, "escort present": "taxi booked"}
    first.do("recovery", items=answers)
    before = first.engine.snapshot().checks

    second = crash_and_resume(first, tmp_path)
    after = second.engine.snapshot().checks
    assert after.baseline == before.baseline
    assert after.recovery == before.recovery
    assert after.recovery is not None and after.recovery.done
    assert after.recovery.peak_ended_t == 952.0
    second.do("end")
    assert checks(first)[-1]["check"] == "recovery"
    assert checks(first)[-1]["done"] is True, "the recovery check recorded before the crash"


def test_a_reading_due_before_a_crash_is_still_due_after_the_resume(tmp_path: Path) -> None:
    first = Room(tmp_path)
    fine_readings(first)
    into_peak(first)
    assert first.tick(950.0)[MEASURE] == ['{"measure":true}']
    second = crash_and_resume(first, tmp_path)
    assert second.tick(0.0)[MEASURE] == ['{"measure":true}'], "asked again, not 15 min later"
    [check] = second.engine.snapshot().checks.timed
    assert (check.due, check.last_t) == (True, 0.0)


def test_a_resumed_session_counts_the_interval_from_the_last_reading_in_the_journal(
    tmp_path: Path,
) -> None:
    first = Room(tmp_path)
    fine_readings(first)
    into_peak(first)
    first.tick(500.0)
    reading(first, CUFF, sys=128, dia=84)
    reading(first, OXIMETER, hr=70, spo2=97)
    first.tick(100.0)
    [check] = crash_and_resume(first, tmp_path).engine.snapshot().checks.timed
    assert (check.last_t, check.due_t, check.due) == (502.0, 1402.0, False)


@pytest.mark.parametrize(
    "payload",
    [
        {"check": "baseline", "readings": {"bp-cuff": {"sys": "high", "age_s": []}}},
        {"check": "baseline", "readings": ["bp-cuff"], "thresholds": {"hr_below": "x"}},
        {"check": "baseline", "readings": {"bp-cuff": {"sys": 120, "age_s": None}}},
        {"check": "recovery", "done": "yes"},
        {"check": "missed"},
        "baseline",
        None,
    ],
)
def test_odd_check_events_in_a_resumed_journal_are_passed_over(payload: Any) -> None:
    history = CheckHistory()
    history.feed(Event("check", payload, t=5.0))
    assert not history.recovery_done
    assert history.seen == {}
    assert all(r.problems == [] for r in history.baseline.sensors)


def test_after_a_long_stall_each_check_it_skipped_is_missed_and_the_cuff_is_asked_once(
    room: Room,
) -> None:
    fine_readings(room)
    room.do("start", plan="standard", participant="P014")
    room.tick(2.0)
    room.do("goto", phase="return")  # manual: it lasts as long as the therapist wants
    asked = room.tick(3600.0).get(MEASURE, [])
    for _ in range(8):
        asked += room.tick(0.05).get(MEASURE, [])
    assert asked == ['{"measure":true}'], "one request, not one per tick while catching up"
    journaled = [(c["check"], c.get("due_t")) for c in checks(room)][1:]
    assert journaled == [("missed", 900.0), ("missed", 1800.0), ("missed", 2700.0), ("due", 3600.0)]
    [check] = room.engine.snapshot().checks.timed
    assert (check.due, check.due_t, check.missed) == (True, 3600.0, 3)


def test_an_offline_cuff_is_not_asked_and_is_asked_when_it_comes_back_while_due(
    room: Room,
) -> None:
    fine_readings(room)
    into_peak(room)
    room.device(f"{CUFF}/availability", "offline")
    assert MEASURE not in room.tick(898.0), "a request is not retained: it would never arrive"
    [check] = room.engine.snapshot().checks.timed
    assert (check.due, check.asked) == (True, False)
    assert checks(room)[-1]["asked"] is False
    room.device(f"{CUFF}/availability", "online")
    assert room.tick(0.0)[MEASURE] == ['{"measure":true}']
    [check] = room.engine.snapshot().checks.timed
    assert (check.due, check.asked) == (True, True)
    room.device(f"{CUFF}/availability", "online")
    assert MEASURE not in room.tick(0.0), "asked once"


def test_a_bp_check_is_answered_by_a_bp_reading_not_by_the_pulse_alone(room: Room) -> None:
    """A monitor that streams its pulse on the cuff's topic between blood pressures."""
    fine_readings(room)
    into_peak(room)
    room.tick(500.0)
    reading(room, CUFF, hr=80)
    room.tick(398.0)
    [check] = room.engine.snapshot().checks.timed
    assert (check.label, check.due, check.last_t, check.due_t) == ("BP", True, 0.0, 900.0)
    reading(room, CUFF, hr=82)
    [check] = room.engine.snapshot().checks.timed
    assert (check.label, check.due) == ("BP", True), "the pulse alone takes no BP reading"
    room.tick(10.0)
    reading(room, CUFF, sys=128, dia=84)
    [check] = room.engine.snapshot().checks.timed
    assert (check.due, check.last_t) == (False, 910.0)
    assert [c["check"] for c in checks(room)] == ["baseline", "due", "taken"]


def test_the_baseline_judges_the_last_blood_pressure_though_the_pulse_came_after_it(
    room: Room,
) -> None:
    reading(room, OXIMETER, hr=72, spo2=97)
    reading(room, CUFF, sys=170, dia=95, hr=80)
    room.tick(60.0)
    reading(room, CUFF, hr=74)
    [cuff] = [r for r in room.engine.snapshot().checks.baseline.sensors if r.sensor == "bp-cuff"]
    assert cuff.reading is not None and (cuff.reading.sys, cuff.reading.hr) == (170, 74)
    assert cuff.age_s == 60.0, "as old as its oldest value"
    assert "bp-cuff: BP 170/95 is not under 160/90 mmHg" in room.refused(
        "start", plan="standard", participant="P014"
    )


def test_a_retained_reading_is_an_old_one_and_never_a_baseline(room: Room) -> None:
    """The broker keeps a retained message for as long as it likes: it hands one over on
    every (re)connect, so it would pass for a reading just taken."""
    room.engine.device_message(CUFF, b'{"sys": 124, "dia": 80}', retained=True)
    [cuff] = [r for r in room.engine.snapshot().checks.baseline.sensors if r.sensor == "bp-cuff"]
    assert cuff.reading is None
    assert "bp-cuff" not in room.engine.snapshot().vitals
    [error] = [e for e in room.engine.take_events() if e["kind"] == "error"]
    assert error["device"] == "bp-cuff" and "retained" in error["payload"]["error"]
    room.engine.device_message(f"{CUFF}/availability", b"online", retained=True)
    assert room.engine.snapshot().devices["bp-cuff"].available == "online", "availability may be"


@pytest.mark.parametrize(
    "garbage",
    [
        b'{"sys": NaN, "dia": 80}',
        b'{"sys": 1e999}',
        b'{"ts": 1764800000}',
        b'{"sys": "120"}',
        b"\xff",
    ],
)
def test_a_cuff_answering_with_garbage_takes_no_reading(room: Room, garbage: bytes) -> None:
    fine_readings(room)
    into_peak(room)
    room.tick(898.0)
    room.device(CUFF, garbage)
    [check] = room.engine.snapshot().checks.timed
    assert (check.due, check.last_t) == (True, 0.0)
    assert checks(room)[-1]["check"] == "due"
    room.tick(900.0)
    assert room.engine.snapshot().checks.timed[0].missed == 1


def test_once_the_session_ends_its_checks_leave_the_state(room: Room) -> None:
    """docs/safety.md#privacy: the retained state holds no vitals of the session that ended."""
    fine_readings(room)
    into_peak(room)
    room.tick(950.0)
    reading(room, CUFF, sys=131, dia=85)
    room.do("end", reason="test")
    checks_state = room.engine.snapshot().checks
    assert [r.reading for r in checks_state.baseline.sensors] == [None, None]
    assert (checks_state.timed, checks_state.recovery) == ([], None)
    assert "131" not in room.engine.snapshot().model_dump_json()


def test_a_reading_due_when_the_next_phase_wants_it_too_stays_due_and_is_not_asked_again(
    room: Room,
) -> None:
    fine_readings(room)
    into_peak(room)
    assert room.tick(898.0)[MEASURE] == ['{"measure":true}']
    room.tick(5.0)
    room.do("goto", phase="return")  # also wants BP every 15 min: the check goes on
    assert MEASURE not in room.run_for(2.0), "the cuff is measuring already"
    [check] = room.engine.snapshot().checks.timed
    assert (check.due, check.asked, check.due_t, check.interval_s) == (True, True, 900.0, 900.0)
    reading(room, CUFF, sys=128, dia=84)
    assert [c["check"] for c in checks(room)] == ["baseline", "due", "taken"]
