"""Vitals checks around a session: a baseline before it, timed readings in it, recovery after.

The software never decides anything clinical (docs/safety.md#vitals-checks): it shows the
latest readings against the room's pre-session thresholds, reminds when a reading is due
(and asks a sensor that measures on demand, through the one output path), and journals what
the therapist confirmed, as `check` events:

* `baseline`: at the start, the readings judged, whether the therapist confirmed them and
  any reason given; a start refused for its baseline is journaled in the session that then
  starts for the same participant (`baseline refused`), since no journal is open before it;
  another participant's refusals never go into a session's journal;
* `due`, `taken`, `missed`: a timed reading of a phase's `measure_every`;
* `recovery`: the checklist before `end`, or the reason for ending without it.

A therapist's reasons are private words, like a note's: they go into the journal only,
never onto the events topic, the state or a reply (`public_check`).

An engine resuming a crashed session reads its checks back from the journal
(`CheckHistory`): the baseline, a recovery check already recorded, the readings missed, when
the peak ended and each sensor's last reading, so a reading due before the crash is due at
once, not an interval later.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import ValidationError

from controller.api.commands import Recovery, Start
from controller.api.state import (
    BaselineInfo,
    BaselineReading,
    ChecksInfo,
    RecoveryInfo,
    TimedCheck,
    VitalsInfo,
)
from controller.config import Room
from controller.config.durations import format_duration
from controller.config.models import Phase
from controller.config.settings import BaselineThresholds
from controller.engine.output import Record, RoomOutput
from controller.engine.phases import CommandRefused
from controller.journal import Event

PEAK = "peak"
REFUSALS_KEPT = 20
"""How many starts refused for their baseline the next session journals (the latest)."""
PRIVATE_WORDS = "(given; in the journal)"
"""What the events topic shows in place of a therapist's reason."""


def baseline_problems(values: Mapping[str, Any], limits: BaselineThresholds) -> list[str]:
    """What in one reading lies outside the pre-session thresholds, in plain words."""
    problems = []
    hr, spo2 = values.get("hr"), values.get("spo2")
    systolic, diastolic = values.get("sys"), values.get("dia")
    if hr is not None and hr >= limits.hr_below:
        problems.append(f"HR {hr:g} is not under {limits.hr_below:g} bpm")
    if hr is not None and hr < limits.hr_low:
        problems.append(f"HR {hr:g} is under {limits.hr_low:g} bpm")
    if spo2 is not None and spo2 < limits.spo2_low:
        problems.append(f"SpO2 {spo2:g} % is under {limits.spo2_low:g} %")
    high_sys = systolic is not None and systolic >= limits.sys_below
    high_dia = diastolic is not None and diastolic >= limits.dia_below
    if high_sys or high_dia:
        shown = "/".join("–" if v is None else f"{v:g}" for v in (systolic, diastolic))
        problems.append(f"BP {shown} is not under {limits.sys_below:g}/{limits.dia_below:g} mmHg")
    return problems


MEASURED = {"BP": ("sys", "dia"), "SpO2": ("spo2",), "HR": ("hr",)}
"""A timed check's name by what its sensor reports, and the readings that answer it; the
first that fits names it (a cuff that reports the pulse too is checked for its BP, which the
pulse alone does not answer)."""
MEASUREMENTS = frozenset(key for keys in MEASURED.values() for key in keys)


def check_label(reported: Iterable[str] | None, fallback: str) -> str:
    """What a timed check is called on the console: by what the sensor has reported."""
    keys = set(reported or ())
    return next((label for label, wanted in MEASURED.items() if keys & set(wanted)), fallback)


def public_check(payload: Any) -> Any:
    """A `check` event's payload as the events topic carries it: reasons left out."""
    if not isinstance(payload, dict):
        return payload
    shown = dict(payload)
    if shown.get("reason") is not None:
        shown["reason"] = PRIVATE_WORDS
    items = shown.get("items")
    if isinstance(items, dict):
        shown["items"] = {k: v if v is True else PRIVATE_WORDS for k, v in items.items()}
    return shown


CHECK_HISTORY_KINDS = ("session", "phase", "check")
"""The journal's kinds a resumed engine reads its checks from (and each sensor's last reading)."""


class Measured(NamedTuple):
    """A sensor's last value of one measurement, and when it came (engine or session time)."""

    value: float
    at: float


def measured(values: Mapping[str, Any], at: float) -> dict[str, Measured]:
    """The measurements of one reading (`ts` and anything but a number left out)."""
    return {
        key: Measured(float(value), at)
        for key, value in values.items()
        if key in MEASUREMENTS and isinstance(value, int | float) and not isinstance(value, bool)
    }


@dataclass
class CheckHistory:
    """What a session's journal holds of its vitals checks, read back for a resumed engine."""

    baseline: BaselineInfo = field(default_factory=BaselineInfo)
    recovery_done: bool = False
    missed: dict[str, int] = field(default_factory=dict)
    peak_ended_t: float | None = None
    seen: dict[str, dict[str, Measured]] = field(default_factory=dict)
    """Each sensor's last value of each measurement (`sys`, `hr`, ...) at its session time
    (the baseline's before the start, which came before the journal)."""
    time_scale: float = 1.0

    def feed(self, event: Event) -> None:
        """Take in the journal's next event (a journal is data: odd payloads are passed over)."""
        payload = event.payload
        if not isinstance(payload, dict):
            return
        if event.kind == "session" and isinstance(payload.get("time_scale"), int | float):
            self.time_scale = float(payload["time_scale"])
        elif event.kind == "vitals" and event.device is not None:
            self._saw(event.device, event.t, payload)
        elif event.kind == "phase" and payload.get("from") == PEAK and payload.get("to") != PEAK:
            self.peak_ended_t = event.t
        elif event.kind == "check" and payload.get("check") == "baseline":
            self.baseline = _journaled_baseline(payload)
            for reading in self.baseline.sensors:
                if reading.reading is not None and reading.age_s is not None:
                    read_t = event.t - reading.age_s * self.time_scale
                    self._saw(reading.sensor, read_t, reading.reading.model_dump(exclude_none=True))
        elif event.kind == "check" and payload.get("check") == "recovery":
            self.recovery_done = payload.get("done") is True
        elif event.kind == "check" and payload.get("check") == "missed":
            sensor = str(payload.get("sensor"))
            self.missed[sensor] = self.missed.get(sensor, 0) + 1

    def _saw(self, sensor: str, t: float, values: Mapping[str, Any]) -> None:
        self.seen.setdefault(sensor, {}).update(measured(values, t))


def _journaled_baseline(payload: Mapping[str, Any]) -> BaselineInfo:
    """The baseline as the state showed it, from its `check` event (what `started` wrote)."""
    readings = payload.get("readings")
    sensors = []
    for sensor, journaled in (readings if isinstance(readings, dict) else {}).items():
        if not isinstance(journaled, dict):
            continue
        values = {k: v for k, v in journaled.items() if k in VitalsInfo.model_fields}
        try:
            sensors.append(
                BaselineReading(
                    sensor=sensor,
                    reading=VitalsInfo.model_validate(values) if values else None,
                    age_s=journaled.get("age_s"),
                    problems=journaled.get("problems") or [],
                )
            )
        except ValidationError:
            continue
    try:
        thresholds = BaselineInfo(thresholds=payload.get("thresholds") or {}).thresholds
    except ValidationError:
        thresholds = {}
    return BaselineInfo(
        sensors=sensors,
        thresholds=thresholds,
        needs_reason=any(reading.problems for reading in sensors),
        confirmed=payload.get("confirmed") is True,
    )


@dataclass
class _Schedule:
    sensor: str
    interval_s: float
    due_t: float
    due: bool = False
    asked: bool = False


@dataclass
class _Session:
    baseline: BaselineInfo
    origin: float
    """Engine clock time at session time 0."""
    schedules: dict[str, _Schedule] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)
    recovery_done: bool = False
    peak_ended_t: float | None = None


class VitalsChecks:
    """The checks of one room; the engine feeds it readings, phases and the clock."""

    def __init__(
        self, room: Room, *, output: RoomOutput, record: Record, time_scale: float
    ) -> None:
        self.room = room
        self.thresholds = room.settings.checks.baseline
        self.checklist = list(room.settings.checks.recovery)
        self.sensors = [device.id for device in room.devices_of_kind("sensor")]
        self._output = output
        self._record = record
        self._scale = time_scale
        self._seen: dict[str, dict[str, Measured]] = {}
        """Each sensor's last value of each measurement, at the engine clock time it came: a
        reading of some of them (a monitor's pulse) leaves the others' last values standing."""
        self._session: _Session | None = None
        self._changed = False
        """A timed check fell due, was taken or missed since `take_changed` last asked."""
        self._refused: deque[tuple[str, dict[str, Any]]] = deque(maxlen=REFUSALS_KEPT)
        """Starts refused for their baseline since the last session, by participant, to journal
        in the next session if it is that participant's."""

    # ------------------------------------------------------------------ readings

    def reading(self, sensor: str, values: dict[str, Any], now: float) -> None:
        """A sensor's reading arrived (engine clock `now`); a timed check it answers is taken."""
        self._seen.setdefault(sensor, {}).update(measured(values, now))
        session = self._session
        schedule = session.schedules.get(sensor) if session else None
        if schedule is None or session is None or not self._answers(sensor, values):
            return
        t = now - session.origin
        if schedule.due:
            late = t - schedule.due_t
            self._record(
                "check",
                {"check": "taken", "sensor": sensor, "due_t": schedule.due_t, "late_s": late},
                device=sensor,
                text=f"{self._label(sensor)} taken ({format_duration(late)} after it was due)",
            )
        self._changed = self._changed or schedule.due
        schedule.due, schedule.asked = False, False
        schedule.due_t = t + schedule.interval_s

    def forget_readings(self) -> None:
        """The session ended: its readings leave the state (docs/safety.md#privacy)."""
        self._seen.clear()

    # ------------------------------------------------------------------ baseline

    def baseline(self, now: float) -> BaselineInfo:
        """The last value of each sensor's measurements judged against the pre-session
        thresholds; a reading is as old as its oldest value."""
        limits = self.thresholds
        sensors = []
        for sensor in self.sensors:
            seen = self._seen.get(sensor)
            if not seen:
                sensors.append(BaselineReading(sensor=sensor))
                continue
            age = (now - min(m.at for m in seen.values())) / self._scale
            values = self._values(sensor)
            problems = baseline_problems(values, limits)
            if age > limits.max_age_s:
                problems.append(
                    f"reading is {format_duration(age)} old "
                    f"(more than {format_duration(limits.max_age_s)})"
                )
            sensors.append(
                BaselineReading(
                    sensor=sensor,
                    reading=VitalsInfo.model_validate(values),
                    age_s=age,
                    problems=problems,
                )
            )
        return BaselineInfo(
            sensors=sensors,
            thresholds=limits.model_dump(),
            needs_reason=any(reading.problems for reading in sensors),
        )

    def judge_start(self, command: Start, now: float, wall: str) -> BaselineInfo:
        """The baseline a start finds; CommandRefused when it needs a reason none was given."""
        found = self.baseline(now)
        if found.needs_reason and command.reason is None:
            problems = [f"{r.sensor}: {p}" for r in found.sensors for p in r.problems]
            self._refused.append((command.participant, {"wall": wall, "problems": problems}))
            raise CommandRefused(
                "baseline needs a reason to start: "
                + "; ".join(problems)
                + " (confirm the baseline with a reason, or take new readings)"
            )
        return found.model_copy(update={"confirmed": command.baseline_confirmed})

    def started(self, baseline: BaselineInfo, command: Start, origin: float) -> None:
        """The session opened: journal its participant's refusals before it, then its baseline."""
        for participant, refusal in self._refused:
            if participant != command.participant:
                continue
            self._record(
                "check",
                {"check": "baseline refused", **refusal},
                text="an earlier start was refused for its baseline",
            )
        self._refused.clear()
        self._session = _Session(baseline, origin)
        readings = {
            r.sensor: {
                **(r.reading.model_dump(exclude_none=True) if r.reading else {}),
                "age_s": r.age_s,
                "problems": r.problems,
            }
            for r in baseline.sensors
        }
        confirmed = bool(baseline.confirmed)
        if command.reason is not None:
            words = "baseline accepted with a reason"
        else:
            words = (
                "baseline confirmed" if confirmed else "baseline inside thresholds (unconfirmed)"
            )
        self._record(
            "check",
            {
                "check": "baseline",
                "confirmed": confirmed,
                "reason": command.reason,
                "thresholds": baseline.thresholds,
                "readings": readings,
            },
            text=words,
        )

    def resumed(self, phase: Phase, t: float, origin: float, history: CheckHistory) -> None:
        """A crashed engine resumed the session: its checks as the journal holds them, timed
        checks going on from the current phase and each sensor's last reading."""
        self._session = _Session(
            history.baseline,
            origin,
            missed=dict(history.missed),
            recovery_done=history.recovery_done,
            peak_ended_t=history.peak_ended_t,
        )
        for sensor, seen in history.seen.items():
            self._seen[sensor] = {k: Measured(m.value, origin + m.at) for k, m in seen.items()}
        self.enter_phase(None, phase, t)

    # ------------------------------------------------------------------ timed checks

    def enter_phase(self, previous: str | None, phase: Phase, t: float) -> None:
        """A phase began at session time `t`: its intervals replace the last phase's; a reading
        due that it wants too stays due, one it does not want is missed."""
        session = self._session
        if session is None:
            return
        if previous == PEAK and phase.name != PEAK:
            session.peak_ended_t = t
        for sensor, schedule in list(session.schedules.items()):
            if schedule.due and sensor in phase.measure_every:
                continue  # still wanted: it stays due (a cuff asked is measuring already)
            if schedule.due:
                self._missed(schedule)
            del session.schedules[sensor]
        for sensor, interval in phase.measure_every.items():
            kept = session.schedules.get(sensor)
            if kept is not None:
                kept.interval_s = interval
                continue
            last = self._last_t(sensor)
            due = t + interval if last is None else max(t, last + interval)
            session.schedules[sensor] = _Schedule(sensor, interval, due)

    def next_due(self) -> float:
        """The session time at which `tick` next has something to do (inf without checks)."""
        if self._session is None:
            return math.inf
        return min(
            (
                schedule.due_t + schedule.interval_s if schedule.due else schedule.due_t
                for schedule in self._session.schedules.values()
            ),
            default=math.inf,
        )

    def tick(self, t: float) -> None:
        """Raise the checks that fell due; one unanswered for a whole interval is missed.

        After a stall (a slow tick, a rehearsal's fast clock) every check a whole interval
        old is missed at once, and only the newest falls due: the sensor is asked once.
        """
        if self._session is None:
            return
        for schedule in self._session.schedules.values():
            while t >= schedule.due_t + schedule.interval_s:
                self._missed(schedule)
                schedule.due_t += schedule.interval_s
                schedule.due = False
            if not schedule.due and t >= schedule.due_t:
                self._fall_due(schedule)

    def _fall_due(self, schedule: _Schedule) -> None:
        self._changed = True
        schedule.due = True
        schedule.asked = self._output.measure(schedule.sensor)
        label = self._label(schedule.sensor)
        self._record(
            "check",
            {
                "check": "due",
                "sensor": schedule.sensor,
                "due_t": schedule.due_t,
                "interval_s": schedule.interval_s,
                "asked": schedule.asked,
            },
            device=schedule.sensor,
            text=f"{label} due" + (" (sensor asked to measure)" if schedule.asked else ""),
        )

    def back_online(self, sensor: str) -> None:
        """A sensor came (back) online: a reading due that it could not be asked for (it was
        offline) is asked for now."""
        schedule = self._session.schedules.get(sensor) if self._session else None
        if schedule is None or not schedule.due or schedule.asked:
            return
        schedule.asked = self._output.measure(sensor)
        self._changed = self._changed or schedule.asked

    def _missed(self, schedule: _Schedule) -> None:
        assert self._session is not None
        self._changed = True
        missed = self._session.missed
        missed[schedule.sensor] = missed.get(schedule.sensor, 0) + 1
        self._record(
            "check",
            {
                "check": "missed",
                "sensor": schedule.sensor,
                "due_t": schedule.due_t,
                "interval_s": schedule.interval_s,
            },
            device=schedule.sensor,
            text=f"{self._label(schedule.sensor)} check missed",
        )

    # ------------------------------------------------------------------ recovery

    def recovery(self, command: Recovery, t: float) -> None:
        """Record the recovery check: every checklist item confirmed, or why not."""
        session = self._running()
        unknown = [item for item in command.items if item not in self.checklist]
        missing = [item for item in self.checklist if item not in command.items]
        if unknown or missing:
            raise CommandRefused(
                f"answer each checklist item exactly once ({', '.join(self.checklist)}); "
                f"{len(unknown)} unknown, {len(missing)} not answered"
            )
        if any(answer is False for answer in command.items.values()):
            raise CommandRefused("an item not confirmed needs the reason why, not false")
        session.recovery_done = True
        since = None if session.peak_ended_t is None else t - session.peak_ended_t
        not_done = sum(answer is not True for answer in command.items.values())
        self._record(
            "check",
            {
                "check": "recovery",
                "done": True,
                "items": dict(command.items),
                "since_peak_s": since,
                "readings": {sensor: self._values(sensor) for sensor in self._seen},
                "baseline": {
                    r.sensor: r.reading.model_dump(exclude_none=True)
                    for r in session.baseline.sensors
                    if r.reading is not None
                },
            },
            text="recovery check recorded"
            + (
                f" ({not_done} item{'s' if not_done != 1 else ''} not confirmed)"
                if not_done
                else ""
            ),
        )

    def ending(self, reason: str | None) -> None:
        """The session ends: a check still due is missed; no recovery check is journaled so."""
        session = self._running()
        for schedule in session.schedules.values():
            if schedule.due:
                self._missed(schedule)
        if not session.recovery_done:
            self._record(
                "check",
                {"check": "recovery", "done": False, "reason": reason},
                text="ended without a recovery check"
                + ("" if reason is not None else "; no reason given"),
            )
        self._session = None

    def _running(self) -> _Session:
        if self._session is None:
            raise CommandRefused("no session is running; start one first")
        return self._session

    # ------------------------------------------------------------------ state

    def take_changed(self) -> bool:
        """Whether a timed check changed since the last call: the state is due at once, so a
        reading due (and soon taken) is never missed between two regular publications."""
        changed, self._changed = self._changed, False
        return changed

    def info(self, now: float, t: float | None) -> ChecksInfo:
        session = self._session
        if session is None:
            return ChecksInfo(baseline=self.baseline(now))
        timed = [
            TimedCheck(
                sensor=s.sensor,
                label=self._label(s.sensor),
                interval_s=s.interval_s,
                last_t=self._last_t(s.sensor),
                due_t=s.due_t,
                due=s.due,
                asked=s.asked,
                missed=session.missed.get(s.sensor, 0),
            )
            for s in session.schedules.values()
        ]
        recovery = RecoveryInfo(
            checklist=self.checklist,
            done=session.recovery_done,
            peak_ended_t=session.peak_ended_t,
        )
        return ChecksInfo(baseline=session.baseline, timed=timed, recovery=recovery)

    def _last_t(self, sensor: str) -> float | None:
        """Session time of the sensor's last reading of what its check wants (negative: before
        the start)."""
        seen = self._seen.get(sensor, {})
        times = [seen[key].at for key in MEASURED.get(self._label(sensor), ()) if key in seen]
        if not times or self._session is None:
            return None
        return max(times) - self._session.origin

    def _values(self, sensor: str) -> dict[str, float]:
        return {key: m.value for key, m in self._seen.get(sensor, {}).items()}

    def _answers(self, sensor: str, values: Mapping[str, Any]) -> bool:
        """Whether a reading carries what the sensor's timed check wants (BP: `sys` or `dia`)."""
        return any(key in values for key in MEASURED.get(self._label(sensor), values))

    def _label(self, sensor: str) -> str:
        device = self.room.devices.get(sensor)
        fallback = (device.label if device is not None else None) or sensor
        return check_label(self._seen.get(sensor), fallback)
