"""Replay: a journal's events re-emitted on a clock of the replay's own, to a target.

Timing is absolute, as rosbag2's player does it: an event at session time `t` is due at
`anchor_now + (t - anchor_t) / speed` on the replay clock, so waiting never accumulates
error over a session. The anchor moves only when the person replaying acts (pause,
resume, speed, step), a loop starts again, or a replay to a target held to a pace finds
itself more than `BEHIND_S` behind (then it goes on from there, never catching up in a
burst). Session time is taken in seq order and never goes back: an event the engine
stamped slightly earlier than the one before it (a phase change lands at its exact planned
end) is due together with that one.

`Clockwork` is the pure timing (takes `now`, never sleeps); `Replay` drives it on an
injected clock and sleep function, so tests step it tick by tick with a `ManualClock`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controller.config.durations import format_duration, parse_duration
from controller.engine.clock import Clock
from controller.journal import EVENT_KINDS, Event, SessionMeta
from controller.journal.export import checked_events
from controller.research.sessions import PhaseEntry

SPEEDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
"""The speeds ↑ and ↓ step through."""
CONTROL_POLL_S = 0.05
"""Longest single wait: pauses, steps and speed changes take effect within this."""
BEHIND_S = 0.5
"""A replay to a target with a speed limit that finds an event due longer ago than this (real
seconds: its process was stopped or starved) goes on from that event at its pace: the events
it missed are not sent in a burst, faster than the session ran."""
BATCH_AT_FULL_SPEED = 500
"""At speed 0, events emitted between two looks at the event loop (keys, network)."""

Sleep = Callable[[float], Awaitable[None]]


class ReplayError(Exception):
    """A replay cannot be set up as asked (bad bound, unknown kind...); the message says why."""


# ====================================================================== timing


class Clockwork:
    """Where a replay is in session time, and when a session time is due on the replay clock."""

    def __init__(self, *, speed: float, session_t: float, now: float) -> None:
        if speed < 0 or not math.isfinite(speed):
            raise ReplayError(f"speed must be 0 (as fast as possible) or above, not {speed}")
        self.speed = speed
        self.paused = False
        self._anchor_now = now
        self._anchor_t = session_t

    def session_t(self, now: float) -> float:
        """The session time the replay has reached at clock time `now`."""
        if self.paused or self.speed == 0:
            return self._anchor_t
        return self._anchor_t + (now - self._anchor_now) * self.speed

    def due_at(self, t: float) -> float | None:
        """Clock time at which session time `t` is due; -inf at speed 0; None while paused."""
        if self.paused:
            return None
        if self.speed == 0:
            return -math.inf
        return self._anchor_now + (t - self._anchor_t) / self.speed

    def pause(self, now: float) -> None:
        if not self.paused:
            self._anchor_t = self.session_t(now)
            self._anchor_now = now
            self.paused = True

    def resume(self, now: float) -> None:
        if self.paused:
            self._anchor_now = now
            self.paused = False

    def set_speed(self, speed: float, now: float) -> None:
        """Change speed from `now` on, keeping the session time reached."""
        self._anchor_t = self.session_t(now)
        self._anchor_now = now
        self.speed = speed

    def jump(self, t: float, now: float) -> None:
        """Make session time `t` the one reached at `now` (a step, a loop, an event at speed 0)."""
        self._anchor_t = t
        self._anchor_now = now


def faster(speed: float) -> float:
    """The next speed up from `speed` (0, as fast as possible, stays)."""
    if speed == 0:
        return 0.0
    return next((step for step in SPEEDS if step > speed * 1.0001), SPEEDS[-1])


def slower(speed: float) -> float:
    """The next speed down from `speed` (from 0 to the fastest timed speed)."""
    if speed == 0:
        return SPEEDS[-1]
    return next((step for step in reversed(SPEEDS) if step < speed / 1.0001), SPEEDS[0])


# ====================================================================== what to replay


@dataclass(frozen=True)
class Selection:
    """Which part of a session to replay: a window [start, end) of session time, and filters.

    Events before `start` are read but not timed (a target may rebuild its state from
    them); events outside the filters are timed but only absorbed, never emitted.
    """

    start: float | None = None
    end: float | None = None
    kinds: frozenset[str] | None = None
    devices: frozenset[str] | None = None

    def selects(self, event: Event) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        return self.devices is None or event.device in self.devices


def parse_bound(text: str, phases: Sequence[PhaseEntry], *, end: bool) -> float:
    """`--from`/`--until`: a phase name or a session time (`90`, `90s`, `15m`, `1:30:00`).

    A phase as `--from` is when it first began; as `--until`, when that stay in it ended
    (the next phase began), so `--from peak --until peak` replays the peak phase.
    """
    names = [entry.name for entry in phases]
    if text in names:
        index = names.index(text)
        if not end:
            return phases[index].t
        return phases[index + 1].t if index + 1 < len(phases) else math.inf
    try:
        seconds = parse_duration(text)
    except ValueError:
        reached = ", ".join(dict.fromkeys(names)) or "none"
        raise ReplayError(
            f"{text!r} is neither a phase the session reached ({reached}) nor a session time "
            "(e.g. 90, 90s, 15m, 1:30:00)"
        ) from None
    return seconds


def parse_list(text: str | None, *, known: Sequence[str] | None = None) -> frozenset[str] | None:
    """`--only`/`--device`: comma-separated names (None when not given)."""
    if text is None:
        return None
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(names - set(known)) if known is not None else []
    if unknown:
        raise ReplayError(f"unknown kind {', '.join(unknown)} (kinds: {', '.join(known or ())})")
    return names


def parse_kinds(text: str | None) -> frozenset[str] | None:
    return parse_list(text, known=EVENT_KINDS)


@dataclass(frozen=True)
class Timed:
    """An event with the session time it is replayed at (never earlier than the one before)."""

    event: Event
    t: float
    selected: bool


class ReplaySource:
    """A session's events (read afresh for every loop), split by a `Selection` into a prelude
    and the timed part."""

    def __init__(self, events: Callable[[], Iterator[Event]], selection: Selection) -> None:
        self.events = events
        self.selection = selection

    @classmethod
    def journal(cls, path: Path, selection: Selection) -> ReplaySource:
        """The events of the journal at `path` (a damaged one is a JournalError naming it)."""
        return cls(lambda: checked_events(path), selection)

    def read(self) -> tuple[list[Event], Iterator[Timed]]:
        """The events before the window (a list, for state) and the timed ones (streamed)."""
        stream = self.events()
        start = self.selection.start
        prelude: list[Event] = []
        reached = -math.inf
        for event in stream:
            reached = max(reached, event.t)
            if start is not None and reached < start:
                prelude.append(event)
                continue
            return prelude, self._timed(event, reached, stream)
        return prelude, iter(())

    def _timed(self, first: Event, reached: float, rest: Iterator[Event]) -> Iterator[Timed]:
        end = self.selection.end
        selects = self.selection.selects
        if end is not None and reached >= end:
            return
        yield Timed(first, reached, selects(first))
        for event in rest:
            reached = max(reached, event.t)
            if end is not None and reached >= end:
                return
            yield Timed(event, reached, selects(event))


# ====================================================================== targets


@dataclass(frozen=True)
class Position:
    """Where a replay is, for a progress line or a target's state."""

    t: float
    phase: str | None
    speed: float
    paused: bool
    emitted: int
    loop: int = 0

    def describe(self, end_t: float | None = None) -> str:
        total = f" / {format_duration(end_t)}" if end_t is not None else ""
        speed = "max" if self.speed == 0 else f"×{self.speed:g}"
        state = "paused" if self.paused else "playing"
        return (
            f"{format_duration(self.t)}{total}  {self.phase or '—'}  {speed}  {state}"
            f"  {self.emitted} events"
        )


class ReplayTarget:
    """Where replayed events go. Every method has a do-nothing default."""

    max_speed: float | None = None
    """The fastest this target may be replayed to (None: any, 0 included)."""

    async def open(self, meta: SessionMeta) -> None:
        """The replay of session `meta` begins."""

    async def emit(self, event: Event) -> None:
        """An event of the selection, at its time."""

    async def absorb(self, event: Event) -> None:
        """An event before the window or outside the filters: for the target's state only."""

    async def position(self, position: Position) -> None:
        """Where the replay is; called while it waits (at most every `CONTROL_POLL_S`)."""

    async def restart(self) -> None:
        """A loop starts the window again."""

    async def close(self) -> None:
        """The replay ended (or was stopped)."""


@dataclass
class ReplayOutcome:
    """What a replay did: counts and, for timed replays, how late each emit was (seconds)."""

    emitted: int = 0
    absorbed: int = 0
    loops: int = 0
    lateness: list[float] = field(default_factory=list)
    stopped: bool = False


# ====================================================================== the driver


class Replay:
    """Replays a `ReplaySource` to a `ReplayTarget` on an injected clock and sleep function."""

    def __init__(
        self,
        source: ReplaySource,
        target: ReplayTarget,
        meta: SessionMeta,
        *,
        speed: float,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        loop: bool = False,
        on_position: Callable[[Position], None] | None = None,
    ) -> None:
        if target.max_speed is not None and (speed == 0 or speed > target.max_speed):
            raise ReplayError(
                f"this target is replayed at {target.max_speed:g}× at most (asked: "
                f"{'as fast as possible' if speed == 0 else f'{speed:g}×'})"
            )
        self.source = source
        self.target = target
        self.meta = meta
        self.clock = clock
        self.sleep = sleep
        self.loop = loop
        self.on_position = on_position
        self.clockwork = Clockwork(speed=speed, session_t=0.0, now=clock.now())
        self.outcome = ReplayOutcome()
        self.phase: str | None = None
        self._step_wanted = False
        self._stop_wanted = False
        self._last_emit: tuple[float, float] | None = None
        """(session time, clock time) of the last event delivered, for the speed limit."""

    # ------------------------------------------------------------------ controls

    def toggle_pause(self) -> None:
        now = self.clock.now()
        if self.clockwork.paused:
            self.clockwork.resume(now)
        else:
            self.clockwork.pause(now)

    def step(self) -> None:
        """Pause (if playing) and emit the next event at once (for a target with a speed
        limit, no sooner than that speed allows after the event before it)."""
        self.clockwork.pause(self.clock.now())
        self._step_wanted = True

    def change_speed(self, speed: float) -> None:
        if self.target.max_speed is not None and (speed == 0 or speed > self.target.max_speed):
            speed = self.target.max_speed
        self.clockwork.set_speed(speed, self.clock.now())

    def faster(self) -> None:
        self.change_speed(faster(self.clockwork.speed))

    def slower(self) -> None:
        self.change_speed(slower(self.clockwork.speed))

    def stop(self) -> None:
        self._stop_wanted = True

    def position(self) -> Position:
        return Position(
            t=self.clockwork.session_t(self.clock.now()),
            phase=self.phase,
            speed=self.clockwork.speed,
            paused=self.clockwork.paused,
            emitted=self.outcome.emitted,
            loop=self.outcome.loops,
        )

    # ------------------------------------------------------------------ running

    async def run(self) -> ReplayOutcome:
        """Replay the selection (over and over with `loop`) until done or stopped."""
        await self.target.open(self.meta)
        try:
            while not self._stop_wanted:
                prelude, timed = self.source.read()
                for event in prelude:
                    self._follow_phase(event)
                    await self.target.absorb(event)
                played = await self._play(timed)
                if not (self.loop and played) or self._stop_wanted:
                    break
                self.outcome.loops += 1
                self.phase = None
                await self.target.restart()
        finally:
            self.outcome.stopped = self._stop_wanted
            await self.target.close()
        return self.outcome

    async def _play(self, timed: Iterator[Timed]) -> bool:
        """Play one pass of the window; False if it held no event."""
        played = False
        since_yield = 0
        for item in timed:
            if not played:
                self.clockwork.jump(item.t, self.clock.now())
                played = True
            await self._wait_for(item.t)
            if self._stop_wanted:
                return played
            await self._deliver(item)
            since_yield += 1
            if self.clockwork.speed == 0 and since_yield >= BATCH_AT_FULL_SPEED:
                since_yield = 0
                self._report_position()
                await self.target.position(self.position())
                await self.sleep(0)
        self._report_position()
        return played

    async def _wait_for(self, t: float) -> None:
        while not self._stop_wanted:
            now = self.clock.now()
            earliest = self._earliest(t)
            if self._step_wanted and now >= earliest:
                self._step_wanted = False
                self.clockwork.jump(t, now)
                return
            if self._step_wanted:  # waiting for the recorded pace: the target goes on as paused
                self._report_position()
                await self.target.position(self.position())
                await self.sleep(max(min(earliest - self.clock.now(), CONTROL_POLL_S), 0.0))
                continue
            due = self.clockwork.due_at(t)
            if due is not None and now >= due:
                if due > -math.inf:
                    self.outcome.lateness.append(now - due)
                    if self.target.max_speed is not None and now - due > BEHIND_S:
                        self.clockwork.jump(t, now)  # what it missed follows at the pace
                else:
                    self.clockwork.jump(t, now)
                return
            self._report_position()
            await self.target.position(self.position())
            wait = CONTROL_POLL_S if due is None else min(due - self.clock.now(), CONTROL_POLL_S)
            await self.sleep(max(wait, 0.0))

    def _earliest(self, t: float) -> float:
        """The soonest clock time an event at session time `t` may go out to this target."""
        limit = self.target.max_speed
        if limit is None or limit <= 0 or self._last_emit is None:
            return -math.inf
        last_t, last_now = self._last_emit
        return last_now + max(t - last_t, 0.0) / limit

    async def _deliver(self, item: Timed) -> None:
        self._last_emit = (item.t, self.clock.now())
        self._follow_phase(item.event)
        if item.selected:
            await self.target.emit(item.event)
            self.outcome.emitted += 1
        else:
            await self.target.absorb(item.event)
            self.outcome.absorbed += 1

    def _follow_phase(self, event: Event) -> None:
        if event.phase is not None:
            self.phase = event.phase

    def _report_position(self) -> None:
        if self.on_position is not None:
            self.on_position(self.position())
