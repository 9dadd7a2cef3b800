"""The phase machine of a session: which phase, how long, holds, extensions, cues and the guard.

Pure logic on session time (`now`, seconds on the engine's clock): the engine calls
`due(now)` on every tick and acts on what it returns. Nothing here sleeps or sends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from controller.config.models import Cue, Phase, Plan


class CommandRefused(Exception):  # noqa: N818 - a refusal, not an error of the program
    """An operator action that is not allowed now; the message says why, in plain words."""


@dataclass(frozen=True)
class PhaseStatus:
    """What the console shows about the current phase."""

    name: str
    index: int
    started: float
    planned_s: float
    elapsed_s: float
    held: bool
    extended_s: float
    advance: str
    next_phase: str | None

    @property
    def remaining_s(self) -> float:
        return self.planned_s - self.elapsed_s


@dataclass(frozen=True)
class PhaseChange:
    """The session moved from one phase to another (`from_index` is None at the start)."""

    from_index: int | None
    to_index: int
    at: float
    reason: str
    """`start`, `next`, `back`, `goto`, `auto` or `resume`."""


@dataclass(frozen=True)
class CueDue:
    """A timed cue whose moment has come."""

    phase_index: int
    cue_index: int
    cue: Cue


@dataclass
class SessionRun:
    """The progress of one session through its plan."""

    plan: Plan
    guard_s: float
    phase_index: int = 0
    phase_started: float = 0.0
    held: bool = False
    extended_s: float = 0.0
    last_change: float | None = None
    fired_cues: set[int] = field(default_factory=set)

    @classmethod
    def start(cls, plan: Plan, *, guard_s: float, now: float) -> tuple[SessionRun, PhaseChange]:
        run = cls(plan=plan, guard_s=guard_s, phase_started=now, last_change=now)
        return run, PhaseChange(None, 0, now, "start")

    @property
    def phase(self) -> Phase:
        return self.plan.phases[self.phase_index]

    @property
    def planned_s(self) -> float:
        return self.phase.duration + self.extended_s

    def status(self, now: float) -> PhaseStatus:
        following = self.phase_index + 1
        return PhaseStatus(
            name=self.phase.name,
            index=self.phase_index,
            started=self.phase_started,
            planned_s=self.planned_s,
            elapsed_s=max(0.0, now - self.phase_started),
            held=self.held,
            extended_s=self.extended_s,
            advance=self.phase.advance,
            next_phase=self.plan.phases[following].name
            if following < len(self.plan.phases)
            else None,
        )

    # ------------------------------------------------------------------ operator actions

    def next(self, now: float) -> PhaseChange:
        if self.phase_index + 1 >= len(self.plan.phases):
            raise CommandRefused(f"{self.phase.name} is the last phase; use end to close")
        return self._operator_move(self.phase_index + 1, now, "next")

    def back(self, now: float) -> PhaseChange:
        if self.phase_index == 0:
            raise CommandRefused(f"{self.phase.name} is the first phase")
        return self._operator_move(self.phase_index - 1, now, "back")

    def goto(self, name: str, now: float) -> PhaseChange:
        names = [phase.name for phase in self.plan.phases]
        if name not in names:
            raise CommandRefused(f"the plan has no phase {name!r} (phases: {', '.join(names)})")
        if names.index(name) == self.phase_index:
            raise CommandRefused(f"the session is already in {name}")
        return self._operator_move(names.index(name), now, "goto")

    def hold(self) -> None:
        if self.held:
            raise CommandRefused(f"{self.phase.name} is already held")
        self.held = True

    def release(self, now: float) -> None:
        """Let the phase advance again. An automatic phase held past its planned end ends
        now (its planned time grows by what it was held past it), so the next phase starts
        now, not in the past: its cues keep their moments and it runs its full length."""
        if not self.held:
            raise CommandRefused(f"{self.phase.name} is not held")
        self.held = False
        if self.phase.advance == "auto":
            self.extended_s += max(0.0, now - (self.phase_started + self.planned_s))

    def extend(self, seconds: float) -> None:
        if not 0 < seconds <= 3600:
            raise CommandRefused("extend takes 1 s to 1 h (seconds > 0 and ≤ 3600)")
        self.extended_s += seconds

    # ------------------------------------------------------------------ time passing

    def due(self, now: float) -> list[PhaseChange | CueDue]:
        """What has come due by `now`, in order: cues of the phase, then an automatic advance.

        An automatic advance happens at the exact planned end (not at the tick that notices
        it), so timing does not drift with the tick rate; after a long gap (a resumed crash)
        several phases may pass in one call.
        """
        happenings: list[PhaseChange | CueDue] = []
        while True:
            happenings += self._cues_due(now)
            planned_end = self.phase_started + self.planned_s
            last = self.phase_index + 1 >= len(self.plan.phases)
            if self.phase.advance != "auto" or self.held or last or now < planned_end:
                return happenings
            happenings.append(self._move(self.phase_index + 1, planned_end, "auto"))

    def next_due(self) -> float:
        """When `due` next has something: the phase's next cue or its automatic end (inf if
        neither)."""
        moments = [
            self.phase_started + (cue.at if cue.at >= 0 else self.planned_s + cue.at)
            for cue_index, cue in enumerate(self.phase.cues)
            if cue_index not in self.fired_cues
        ]
        last = self.phase_index + 1 >= len(self.plan.phases)
        if self.phase.advance == "auto" and not self.held and not last:
            moments.append(self.phase_started + self.planned_s)
        return min(moments, default=math.inf)

    def _cues_due(self, now: float) -> list[CueDue]:
        due = []
        elapsed = now - self.phase_started
        for cue_index, cue in enumerate(self.phase.cues):
            moment = cue.at if cue.at >= 0 else self.planned_s + cue.at
            if cue_index not in self.fired_cues and elapsed >= moment:
                self.fired_cues.add(cue_index)
                due.append(CueDue(self.phase_index, cue_index, cue))
        return due

    # ------------------------------------------------------------------ resume

    def snapshot(self) -> dict[str, Any]:
        """What a journal needs to restore this run after a crash."""
        return {
            "phase_index": self.phase_index,
            "phase_started": self.phase_started,
            "held": self.held,
            "extended_s": self.extended_s,
            "fired_cues": sorted(self.fired_cues),
        }

    @classmethod
    def restore(cls, plan: Plan, snapshot: dict[str, Any], *, guard_s: float) -> SessionRun:
        """The run a snapshot describes; ValueError if the plan no longer has its phase (other
        exceptions for a snapshot that is not one)."""
        phase_index = int(snapshot["phase_index"])
        if not 0 <= phase_index < len(plan.phases):
            raise ValueError(
                f"the session was in phase {phase_index + 1} and the plan now has "
                f"{len(plan.phases)} phases"
            )
        return cls(
            plan=plan,
            guard_s=guard_s,
            phase_index=phase_index,
            phase_started=float(snapshot["phase_started"]),
            held=bool(snapshot["held"]),
            extended_s=float(snapshot["extended_s"]),
            fired_cues={int(index) for index in snapshot["fired_cues"]},
        )

    # ------------------------------------------------------------------ internals

    def _operator_move(self, to_index: int, now: float, reason: str) -> PhaseChange:
        if self.last_change is not None and now - self.last_change < self.guard_s:
            raise CommandRefused(
                f"ignored: a phase change {now - self.last_change:.1f} s after the previous one "
                f"(guard {self.guard_s:g} s against double presses)"
            )
        return self._move(to_index, now, reason)

    def _move(self, to_index: int, at: float, reason: str) -> PhaseChange:
        change = PhaseChange(self.phase_index, to_index, at, reason)
        self.phase_index = to_index
        self.phase_started = at
        self.held = False
        self.extended_s = 0.0
        self.fired_cues = set()
        self.last_change = at
        return change
