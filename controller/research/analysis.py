"""What happened in a recorded session, worked out in one pass over its journal.

`analyse()` reads the events once, in seq order, and keeps only what the BIDS export and
the report need: phases with their planned and actual lengths, holds and extensions, BLS
sets, operator actions, notes, alerts, safety events, device dropouts, broker outages,
vitals series, light levels (from the devices' own state reports) and the music volume
(from scenes and operator overrides). Times are session seconds (`t`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from controller.journal import Event, SessionMeta
from controller.research.check_words import baseline_outcome, recovery_outcome
from controller.research.describe import describe, emergency_step
from controller.untrusted import UntrustedJsonError, finite_number, read_json

MAX_UNSENT_CHARS = 64 * 1024
"""A device message longer than this in an `error` event's `unsent` is not read."""
START_UNSENT = "its start did not reach the broker in time"
"""How a set ended whose start never went (the engine's word as it stops such a set)."""
OPERATOR_STATE_KEYS = ("run", "scene", "overrides", "in_emergency")
"""Keys the engine adds to operator payloads to make a session resumable, not the action's own."""


@dataclass(frozen=True)
class PhaseSpan:
    """One stay in a phase, from the moment it began to the next phase (or the session end)."""

    name: str
    start: float
    end: float
    planned_s: float | None
    """The plan's length of the phase, before extensions."""
    extended_s: float
    held_s: float
    began: str
    """How it began: `start`, `auto`, `next`, `back`, `goto` or `resume`."""

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Span:
    """Something that lasted: a hold, a device offline, a broker outage."""

    start: float
    end: float
    label: str
    """The phase held, the device offline, or `broker`."""
    ended: bool = True
    """False when it was still going when the session ended."""

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class BlsSpan:
    """One set of bilateral stimulation on one device."""

    device: str
    start: float
    end: float
    speed_hz: float | None
    passes: int | None
    seconds: float | None
    mode: str | None
    ended: str
    """`set complete`, `operator`, `scene`, `emergency`, `session ended`, `session end`, or
    `START_UNSENT` (the set never ran)."""

    @property
    def duration_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Moment:
    """Something that happened at one instant: an operator action, a cue, a note, an alert..."""

    t: float
    seq: int
    category: str
    """`operator`, `cue`, `note`, `alert`, `alert_cleared`, `safety`, `scene`, `error`, `resume`."""
    name: str
    """The action, the scene, the alert key..."""
    text: str
    device: str | None = None
    source: str | None = None
    """Who sent an operator action (`console`, `ctl`, `cue`...)."""
    refused: str | None = None
    """Why the engine refused an operator action."""
    phase: str | None = None


Series = list[tuple[float, float]]


@dataclass
class SessionAnalysis:
    """A session, summarised for export and report."""

    meta: SessionMeta
    end_t: float = 0.0
    """Session time of the end (the `session end` event, or the last event)."""
    event_count: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    phases: list[PhaseSpan] = field(default_factory=list)
    holds: list[Span] = field(default_factory=list)
    extensions: list[Moment] = field(default_factory=list)
    bls_sets: list[BlsSpan] = field(default_factory=list)
    actions: list[Moment] = field(default_factory=list)
    """Operator actions and cues, refused ones included."""
    scenes: list[Moment] = field(default_factory=list)
    notes: list[Moment] = field(default_factory=list)
    alerts: list[Moment] = field(default_factory=list)
    safety: list[Moment] = field(default_factory=list)
    errors: list[Moment] = field(default_factory=list)
    resumes: list[Moment] = field(default_factory=list)
    checks: list[Moment] = field(default_factory=list)
    """Vitals checks: the baseline, timed readings due/taken/missed, the recovery check."""
    baseline: str | None = None
    """How the start's baseline was accepted (`confirmed`, `unconfirmed`, `with reason`)."""
    recovery: str | None = None
    """The recovery check before the end (`done`, `skipped with reason`, `skipped`)."""
    dropouts: list[Span] = field(default_factory=list)
    broker_outages: list[Span] = field(default_factory=list)
    vitals: dict[str, dict[str, Series]] = field(default_factory=dict)
    """device → measure (hr, spo2, sys, dia) → (t, value) readings."""
    light_levels: dict[str, Series] = field(default_factory=dict)
    """light → (t, level 0–1) as the light reported it (0 while off)."""
    volume: list[tuple[float, float | None]] = field(default_factory=list)
    """(t, the music volume 0–1 the engine was heading for from then on)."""

    @property
    def duration_s(self) -> float:
        return self.end_t

    def phase_at(self, t: float) -> str | None:
        """The phase the session was in at session time `t` (None before the first)."""
        current = None
        for phase in self.phases:
            if phase.start > t:
                break
            current = phase.name
        return current


def analyse(
    meta: SessionMeta,
    events: Iterable[Event],
    *,
    progress: Callable[[int], None] | None = None,
) -> SessionAnalysis:
    """Work out what happened in the session `meta` describes from its `events` (seq order).

    `progress` is told the count of events read, every thousand events.
    """
    reader = _Reader(SessionAnalysis(meta))
    for count, event in enumerate(events, start=1):
        reader.feed(event)
        if progress is not None and count % 1000 == 0:
            progress(count)
    return reader.finish()


@dataclass
class _OpenPhase:
    name: str
    start: float
    planned_s: float | None
    began: str
    extended_s: float = 0.0
    held_s: float = 0.0


class _Reader:
    """The state of one pass over the events."""

    def __init__(self, result: SessionAnalysis) -> None:
        self.result = result
        self.phase: _OpenPhase | None = None
        self.held_since: float | None = None
        self.bls: dict[str, tuple[float, dict[str, Any]]] = {}
        self.offline: dict[str, float] = {}
        self.broker_lost: float | None = None
        self.last_t = 0.0
        self.ended_at: float | None = None

    def feed(self, event: Event) -> None:
        result = self.result
        result.event_count += 1
        result.kinds[event.kind] += 1
        t = event.t
        self.last_t = max(self.last_t, t)
        payload = event.payload if isinstance(event.payload, dict) else {}
        handler = getattr(self, f"_{event.kind}", None)
        if handler is not None:
            handler(event, t, payload)
        run = payload.get("run")
        if isinstance(run, dict) and event.kind != "phase":
            self._held(bool(run.get("held")), t)

    # ------------------------------------------------------------------ by kind

    def _session(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        if payload.get("event") == "end":
            self.ended_at = t

    def _phase(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        self._held(False, t)
        self._close_phase(t)
        self.phase = _OpenPhase(
            name=str(payload.get("to") or event.phase),
            start=t,
            planned_s=finite_number(payload.get("planned_s")),
            began=str(payload.get("reason") or "?"),
        )

    def _scene(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        name = str(payload.get("name"))
        self.result.scenes.append(self._moment(event, "scene", name))

    def _command(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        device = event.device or "?"
        bls = payload.get("bls")
        if bls == "start":
            self._end_bls(device, t, "restarted")
            self.bls[device] = (t, payload)
        elif bls == "stop":
            self._end_bls(device, t, str(payload.get("why") or "stopped"))
        elif bls == "set complete":
            self._end_bls(device, t, "set complete")
        volume = finite_number(payload.get("volume"))
        if event.device == "music" and volume is not None:
            self.result.volume.append((t, volume))

    def _state(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        level = finite_number(payload.get("level"))
        if event.device is None or level is None:
            return
        value = level if payload.get("on", True) else 0.0
        self.result.light_levels.setdefault(event.device, []).append((t, value))

    def _availability(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        device = event.device or "?"
        available = payload.get("available")
        if available == "offline":
            self.offline.setdefault(device, t)
        elif available == "online" and device in self.offline:
            since = self.offline.pop(device)
            self.result.dropouts.append(Span(since, max(t, since), device))

    def _operator(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        is_cue = "cue" in payload and "action" not in payload
        action = "cue" if is_cue else str(payload.get("action"))
        refused = payload.get("refused")
        moment = self._moment(
            event,
            "cue" if is_cue else "operator",
            str(payload.get("label") or action) if is_cue else action,
            source=payload.get("source"),
            refused=str(refused) if refused else None,
        )
        self.result.actions.append(moment)
        if refused:
            return
        seconds = finite_number(payload.get("seconds"))
        if action == "extend" and seconds is not None:
            self.result.extensions.append(moment)
            if self.phase is not None:
                self.phase.extended_s += seconds

    def _note(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        text = event.payload if isinstance(event.payload, str) else ""
        self.result.notes.append(Moment(t, event.seq, "note", "note", text, phase=event.phase))

    def _vitals(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        device = self.result.vitals.setdefault(event.device or "?", {})
        for measure, value in payload.items():
            number = finite_number(value)
            if measure != "ts" and number is not None:
                device.setdefault(measure, []).append((t, number))

    def _alert(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        category = "alert_cleared" if payload.get("cleared") else "alert"
        self.result.alerts.append(self._moment(event, category, str(payload.get("key"))))

    def _safety(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        step = emergency_step(payload)
        label = f"emergency {step}" if step else str(payload.get("status") or "limit")
        self.result.safety.append(self._moment(event, "safety", label))

    def _broker(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        if not payload.get("connected"):
            if self.broker_lost is None:
                self.broker_lost = t
        elif self.broker_lost is not None:
            lost = self.broker_lost
            self.result.broker_outages.append(Span(lost, max(t, lost), "broker"))
            self.broker_lost = None

    def _resume(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        self.result.resumes.append(self._moment(event, "resume", "resume"))

    def _check(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        check = payload.get("check")
        self.result.checks.append(self._moment(event, "check", str(check)))
        if check == "baseline":
            self.result.baseline = baseline_outcome(payload)
        elif check == "recovery":
            self.result.recovery = recovery_outcome(payload)

    def _error(self, event: Event, t: float, payload: dict[str, Any]) -> None:
        self.result.errors.append(self._moment(event, "error", "error"))
        unsent = payload.get("unsent")
        if "bls" in payload and isinstance(unsent, list) and event.device:
            starts = sum(1 for message in unsent if _a_set_start(message))
            if starts:
                self._starts_unsent(event.device, starts)

    def _starts_unsent(self, device: str, count: int) -> None:
        """The last `count` sets of `device` never started (their starts were dropped rather
        than sent late, docs/robustness.md#queueing): however the engine ended them (a set
        complete by its clock, replaced, stopped), they are said to be `START_UNSENT`. The
        set still running when the loss was told was stopped for it, and is among them."""
        spans = [n for n, span in enumerate(self.result.bls_sets) if span.device == device]
        for n in spans[-count:]:
            self.result.bls_sets[n] = replace(self.result.bls_sets[n], ended=START_UNSENT)

    # ------------------------------------------------------------------ helpers

    def _moment(
        self,
        event: Event,
        category: str,
        name: str,
        *,
        source: Any = None,
        refused: str | None = None,
    ) -> Moment:
        return Moment(
            t=event.t,
            seq=event.seq,
            category=category,
            name=name,
            text=describe(event),
            device=event.device,
            source=str(source) if source is not None else None,
            refused=refused,
            phase=event.phase,
        )

    def _held(self, held: bool, t: float) -> None:
        if held and self.held_since is None:
            self.held_since = t
        elif not held and self.held_since is not None:
            label = self.phase.name if self.phase else "?"
            end = max(t, self.held_since)
            self.result.holds.append(Span(self.held_since, end, label))
            if self.phase is not None:
                self.phase.held_s += end - self.held_since
            self.held_since = None

    def _close_phase(self, t: float) -> None:
        phase = self.phase
        if phase is None:
            return
        self.result.phases.append(
            PhaseSpan(
                name=phase.name,
                start=phase.start,
                end=max(t, phase.start),
                planned_s=phase.planned_s,
                extended_s=phase.extended_s,
                held_s=phase.held_s,
                began=phase.began,
            )
        )
        self.phase = None

    def _end_bls(self, device: str, t: float, why: str) -> None:
        started = self.bls.pop(device, None)
        if started is None:
            return
        start, payload = started
        self.result.bls_sets.append(
            BlsSpan(
                device=device,
                start=start,
                end=max(t, start),
                speed_hz=finite_number(payload.get("speed_hz")),
                passes=int(payload["passes"]) if isinstance(payload.get("passes"), int) else None,
                seconds=finite_number(payload.get("seconds")),
                mode=mode if isinstance(mode := payload.get("mode"), str) else None,
                ended=why,
            )
        )

    def finish(self) -> SessionAnalysis:
        end = self.ended_at if self.ended_at is not None else self.last_t
        result = self.result
        result.end_t = end
        if self.held_since is not None:
            label = self.phase.name if self.phase else "?"
            until = max(end, self.held_since)
            result.holds.append(Span(self.held_since, until, label, ended=False))
            if self.phase is not None:
                self.phase.held_s += until - self.held_since
        self._close_phase(end)
        for device in list(self.bls):
            self._end_bls(device, end, "session end")
        for device, since in self.offline.items():
            result.dropouts.append(Span(since, max(end, since), device, ended=False))
        if self.broker_lost is not None:
            lost = self.broker_lost
            result.broker_outages.append(Span(lost, max(end, lost), "broker", ended=False))
        result.bls_sets.sort(key=lambda span: span.start)
        result.dropouts.sort(key=lambda span: span.start)
        return result


def _a_set_start(message: object) -> bool:
    """Whether a BLS device message (as journaled, `{"running":true,...}`) starts a set; a
    stop, or anything unreadable, does not."""
    if not isinstance(message, str):
        return False
    try:
        value = read_json(message, max_bytes=MAX_UNSENT_CHARS)
    except UntrustedJsonError:
        return False
    return isinstance(value, dict) and value.get("running") is True
