"""The service's tick pacing against every deadline the engine keeps on its tick.

`RoomService` ticks 20 times a second only while something moves; otherwise it waits for
an input, the engine's next work (`Engine.seconds_to_work`) or IDLE_TICK_S, whichever comes
first (`service.idle_wait_s`). This file drives the engine on a manual clock exactly as that
loop would, inputs arriving at random real times, and checks that no deadline is late by more
than one fast tick (TICK_S): the next cue and automatic advance (docs/safety.md#advance-guard
measures in session time, so a rehearsal's time scale is part of the draw), a vitals check
falling due or missed (docs/safety.md#vitals-checks), a BLS set's end and its device's stop
half a second later (docs/safety.md#bls-set-length), the emergency's
second lights-up one real second after the first (docs/emergency.md#first-press), a
dimmed light's safe target while latched, at most a second after the last one
(docs/emergency.md#nothing-darker-nothing-louder), and the safe targets again for a broker
or a light back (docs/emergency.md#offline-devices-and-console). The deadlines are read from the
session's plan and state, not from `seconds_to_work`, which is what is under test.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from controller.api.commands import parse_command
from controller.cli.common import Overrides, apply_overrides
from controller.config import Room, load_room
from controller.engine.clock import ManualClock
from controller.engine.engine import CONFIRM_AFTER_S, FLOOR_RESEND_S, Engine
from controller.engine.phases import CommandRefused
from controller.engine.service import TICK_S, idle_wait_s
from tests.conftest import REPO

LATE_S = TICK_S + 1e-6
"""How late a deadline may be met: one tick at the full rate (and float rounding)."""
CEILING_STATE = "zigbee2mqtt/ceiling_light"
CEILING_SET = "zigbee2mqtt/ceiling_light/set"
SAFE_BRIGHTNESS = 203
"""The ceiling at the safe scene's 80 % (zigbee2mqtt brightness of 254)."""

SECONDS = st.integers(0, 900).map(lambda ms: ms / 1000) | st.integers(0, 4000).map(
    lambda ms: ms / 1000
)
"""A delay between two inputs (whole milliseconds: no input lands on the idle pace's grid)."""

SCALES = st.sampled_from([0.5, 1.0, 4.0, 10.0])
"""Time scales: a slowed rehearsal, real time and faster ones."""
PACED = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

INPUTS: dict[str, tuple[str, dict[str, object]] | str] = {
    "emergency": ("emergency", {}),
    "clear": ("clear_emergency", {}),
    "hold": ("hold", {}),
    "release": ("release", {}),
    "extend": ("extend", {"seconds": 7}),
    "next": ("next", {}),
    "bls passes": ("bls", {"op": "start", "speed_hz": 1.5, "passes": 3}),
    "bls seconds": ("bls", {"op": "start", "speed_hz": 1.0, "seconds": 2.5}),
    "reading": "reading",
    "dimmed": "dimmed",
    "broker back": "broker back",
    "ceiling back": "ceiling back",
}


def paced_room(data_dir: Path, scale: float) -> Room:
    """The shipped room at `scale`, its rehearsal wanting the oximeter's reading every minute."""
    room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=data_dir))
    room.settings = room.settings.model_validate(
        {**room.settings.model_dump(), "time_scale": scale}
    )
    plan = room.plans["rehearsal"]
    phases = [
        phase.model_copy(update={"measure_every": {"oximeter": 60.0}}) for phase in plan.phases
    ]
    room.plans["rehearsal"] = plan.model_copy(update={"phases": phases})
    return room


@dataclass
class PacedLoop:
    """The engine driven as `RoomService._tick_forever` drives it, on real seconds `now`."""

    engine: Engine
    clock: ManualClock
    scale: float
    now: float = 0.0
    lateness: list[tuple[str, float]] = field(default_factory=list)
    ceiling_owed: float | None = None
    """Real time by which the ceiling's safe target must go out again (it reported a dimming)."""

    def move_to(self, real_t: float) -> None:
        self.now = real_t
        self.clock.set(real_t * self.scale)

    def deadlines(self) -> list[tuple[str, float]]:
        """What the engine must do, and by when (real seconds), from the plan and the state."""
        engine, scale = self.engine, self.scale
        found: list[tuple[str, float]] = []
        emergency = engine.emergency
        if emergency is not None and not emergency.confirmed:
            found.append(("second lights-up", emergency.since / scale + CONFIRM_AFTER_S))
        for device_id, bls_set in engine.bls.sets.items():
            found.append(
                (f"end of the set on {device_id}", (bls_set.started + bls_set.length_s) / scale)
            )
        for device_id, due in engine.bls.stops_owed.items():
            found.append((f"the stop owed to {device_id}", due / scale))
        session = engine.session
        if session is not None:
            run, origin = session.run, session.origin
            started = origin + run.phase_started
            for index, cue in enumerate(run.phase.cues):
                if index not in run.fired_cues:
                    at = cue.at if cue.at >= 0 else run.planned_s + cue.at
                    found.append((f"cue {cue.label}", (started + at) / scale))
            last = run.phase_index + 1 == len(run.plan.phases)
            if run.phase.advance == "auto" and not run.held and not last:
                found.append(("automatic advance", (started + run.planned_s) / scale))
            checks = engine.checks._session
            for schedule in checks.schedules.values() if checks is not None else ():
                at = schedule.due_t + (schedule.interval_s if schedule.due else 0.0)
                found.append((f"{schedule.sensor} check", (origin + at) / scale))
        if self.ceiling_owed is not None:
            found.append(("ceiling's safe target again", self.ceiling_owed))
        return found

    def tick(self) -> None:
        """One tick at `now`: each deadline passed by now is met now; how late is noted."""
        for what, at in self.deadlines():
            if at <= self.now:
                self.lateness.append((what, self.now - at))
        self.engine.tick()
        self.take()

    def take(self) -> None:
        for message in self.engine.take_outgoing():
            if message.topic == CEILING_SET:
                brightness = json.loads(message.payload).get("brightness")
                if brightness == SAFE_BRIGHTNESS:
                    self.ceiling_owed = None

    def owe_the_ceiling(self, by: float) -> None:
        """While latched, the ceiling's safe target must go out again by `by` (real s)."""
        latch = self.engine.output.latch
        if latch is not None and "ceiling" in latch.floors:
            self.ceiling_owed = min(by, self.ceiling_owed or math.inf)

    def input(self, name: str, count: int) -> None:
        """An input at `now`, handled as the service handles it (a command ticks at once)."""
        what = INPUTS[name]
        if what == "reading":
            payload = json.dumps({"spo2": 97, "hr": 70})
            self.engine.device_message("vitals/oximeter", payload.encode())
        elif what == "dimmed":
            last = self.engine._floor_reasserted.get("ceiling", -math.inf)
            self.owe_the_ceiling(max(self.now, last + FLOOR_RESEND_S))
            payload = json.dumps({"state": "ON", "brightness": 20})
            self.engine.device_message(CEILING_STATE, payload.encode())
        elif what == "broker back":  # docs/emergency.md: a broker back gets the safe targets
            self.engine.broker_changed(False, "gone", None)
            self.engine.broker_changed(True, None, 1.0)
            self.owe_the_ceiling(self.now)
        elif what == "ceiling back":  # and so does a device back online
            for state in ("offline", "online"):
                availability = json.dumps({"state": state}).encode()
                self.engine.device_message(f"{CEILING_STATE}/availability", availability)
            self.owe_the_ceiling(self.now)
        else:
            action, fields = what
            command = {"id": f"c{count}", "action": action, **fields}
            try:
                self.engine.command(parse_command(json.dumps(command).encode()))
            except CommandRefused:
                return
            self.take()
            if action == "clear_emergency":
                self.ceiling_owed = None
            self.tick()
        self.take()

    def run(self, inputs: list[tuple[float, str]], until: float) -> None:
        """Tick as the service does until `until`; `inputs` are (real time, name), in order."""
        pending = list(inputs)
        count = 0
        self.tick()
        while self.now < until:
            tick_at = self.now + TICK_S
            woken = False
            while pending and pending[0][0] <= tick_at:  # inputs during the sleep
                at, name = pending.pop(0)
                self.move_to(max(at, self.now))
                count += 1
                self.input(name, count)
                woken = True
            self.move_to(tick_at)
            if not woken:
                wait_s = idle_wait_s(self.engine.seconds_to_work(), math.inf)
                if wait_s > TICK_S:
                    wake_at = tick_at - TICK_S + wait_s
                    if pending and pending[0][0] <= wake_at:
                        at, name = pending.pop(0)
                        self.move_to(max(at, self.now))
                        count += 1
                        self.input(name, count)
                    else:
                        self.move_to(wake_at)
            self.tick()


@example(scale=0.5, steps=[(0.0, "emergency"), (0.0, "broker back")])
@settings(PACED, max_examples=100)
@given(
    scale=SCALES,
    steps=st.lists(st.tuples(SECONDS, st.sampled_from(sorted(INPUTS))), max_size=14),
)
def test_every_deadline_on_the_tick_is_met_within_one_fast_tick(
    tmp_path_factory: pytest.TempPathFactory, scale: float, steps: list[tuple[float, str]]
) -> None:
    assert_met_in_time(tmp_path_factory.mktemp("room"), scale, steps)


@settings(PACED, max_examples=60)
@given(
    scale=SCALES,
    latched_after=SECONDS,
    gaps=st.lists(st.integers(0, 1500).map(lambda ms: ms / 1000), min_size=1, max_size=6),
)
def test_a_dimmed_light_gets_its_safe_target_within_the_second_while_latched(
    tmp_path_factory: pytest.TempPathFactory,
    scale: float,
    latched_after: float,
    gaps: list[float],
) -> None:
    """docs/emergency.md: a light that reports itself below its safe level while latched
    gets its safe target again, at most once a second: a dimming reported sooner than a
    second after the last re-send is put right when that second is over, not a whole idle
    tick later, nor never."""
    steps = [(latched_after, "emergency"), (CONFIRM_AFTER_S + 0.001, "dimmed")]
    steps += [(gap, "dimmed") for gap in gaps]
    assert_met_in_time(tmp_path_factory.mktemp("room"), scale, steps)


def assert_met_in_time(data_dir: Path, scale: float, steps: list[tuple[float, str]]) -> None:
    """Start the rehearsal, give the inputs after their delays, tick on as the service does
    for 8 s more, and find every deadline met within LATE_S."""
    clock = ManualClock()
    engine = Engine(paced_room(data_dir, scale), clock=clock)
    loop = PacedLoop(engine, clock, scale)
    engine.command(
        parse_command(b'{"id":"s","action":"start","plan":"rehearsal","participant":"P014"}')
    )
    inputs: list[tuple[float, str]] = []
    at = 0.0
    for delay, name in steps:
        at += delay
        inputs.append((at, name))
    try:
        loop.run(inputs, until=at + 8.0)
    finally:
        if engine.session is not None:
            engine.session.journal.close(ended_cleanly=True)
    late: dict[str, float] = {}
    for what, by in loop.lateness:
        if by > LATE_S:
            late[what] = max(late.get(what, 0.0), round(by, 3))
    assert not late, f"deadlines met late, at worst by (real seconds): {late}"
    assert loop.ceiling_owed is None, "the ceiling's safe target never went out again"
