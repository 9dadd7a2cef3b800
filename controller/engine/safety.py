"""The safety gate every outgoing change passes (docs/safety.md): flashes, loudness, BLS, effects.

Each check returns a `Verdict`: the value to send (possibly clamped), a status (`ok`,
`clamped`, `refused`) and, for anything not ok, the rules involved and a reason in plain
words. The engine journals every verdict that is not ok as a `safety` event and shows it;
nothing is dropped silently. Values are in engine units: levels, volumes and intensities
0–1, speeds and tones in Hz, times in seconds on the session clock.

**Flash rate (lights, VR display brightness).** The gate models each device's luminance
from the changes it let through: a change moves the level linearly from wherever it is at
that moment (a running transition is interrupted) to the new level over the change's
transition time. A device the gate has not seen yet is assumed to have been at the
opposite extreme (dark if its first level is at least 50 %, bright otherwise), so its
first change counts too. The curve's turning points are found with a 10 % hysteresis (a
smaller wiggle belongs to the change around it); a *transition* is the swing from one
turning point to the next, and it counts when it is at least 10 % of full and its darker
end is below 80 %. A transition *happens* from the moment the curve leaves its turning
point until it reaches the next one, and it counts in every window [t, t + 1 s) it
overlaps. A flash is a pair of opposing transitions, so a device may have at most
`2 × max_flashes_per_s` counting transitions in any such window. One of them is held in
reserve for the emergency's lights-up (docs/emergency.md): an ordinary change may bring a
window to `2 × max_flashes_per_s − 1` transitions (never fewer than one: a single change is
not a flash), and the lights-up, which no flash pacing may delay, is let through whatever
the count and recorded like any change, so it never makes the window exceed the limit.
Boundaries resolve to the safe side: a change of exactly 10 % counts, a darker state of
exactly 80 % counts as dark, and a window reaches a microsecond past its second. A slow
fade is a single transition however long it runs; with the default 3 flashes/s a light
fading back and forth in transitions of 0.35 s or longer is never refused. A change that
would break the limit is **refused**: nothing is sent and the light carries on as
before. Effects are refused unless known to be steady (`FLASHING_EFFECTS`,
`STEADY_EFFECTS`). A visual BLS light bar flashes each side once per cycle, so its speed is
also held to `max_flashes_per_s`.

**Volume (music, tones, VR).** Never above the cap. Decreases are immediate. A rise may
run ahead of a steady ramp from any earlier level by at most `VOLUME_STEP_S` seconds of
ramp: for any earlier moment s, `level(now) − level(s) ≤ ramp × (now − s + VOLUME_STEP_S)`.
A single step up is thus at most 5 % at the default 10 %/s, and a fade stepped at 2 Hz
or faster at the ramp rate passes untouched. A device the gate has not seen is assumed
silent, so the first sound ramps in too. Too loud or too fast is clamped, not refused.

**BLS.** Speed is clamped into the room's range; tactile intensity to its maximum; tone
frequency into its range. A set has a length in passes or in seconds (one pass = one
full left-right cycle; seconds = passes / speed), never both, never neither. A set
longer than the room's soft limit (more passes than `bls_set_max_passes` or longer than
`bls_set_max_seconds`, whichever it reaches first) is refused unless confirmed; one
longer than 120 s is always refused. Stopping BLS needs no check.

**Vitals.** `vitals_alerts` turns a reading into alerts with plain-words messages; the
software never decides anything clinical.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, Literal, TypeVar

from controller.config import limits as hard
from controller.config.settings import SafetyLimits, VitalsThresholds

FLASH_WINDOW_S: Final = 1.0
"""Flashes are counted in every window of this length."""

VOLUME_STEP_S: Final = 0.5
"""A rise may run ahead of a steady ramp by this many seconds' worth of ramp."""

LEVEL_TOLERANCE: Final = 1e-9
"""Float rounding allowance on levels: flash thresholds widen by it, caps never move."""

TIME_TOLERANCE_S: Final = 1e-6
"""Float rounding allowance on times: flash windows widen by it; BLS set lengths get it."""

FLASHING_EFFECTS: Final = frozenset(
    {"blink", "breathe", "okay", "channel_change", "strobe", "flash", "pulse", "colorloop"}
)
"""Device effects that make a light flash or pulse (Zigbee2MQTT's and common vendors')."""

STEADY_EFFECTS: Final = frozenset({"stop_effect", "finish_effect", "none", "solid", "0"})
"""The only effects sent: ones that end an effect, and a steady colour (WLED effect 0)."""

MAX_PASSES: Final = hard.BLS_PASSES_MAX
"""More passes than any set asks for (the control API's bound): refused before any sum."""

T = TypeVar("T")
BlsMode = Literal["tactile", "visual", "audio"]


class Status(enum.StrEnum):
    OK = "ok"
    CLAMPED = "clamped"
    REFUSED = "refused"


class Rule(enum.StrEnum):
    """Which rule a verdict that is not ok involves."""

    FLASH_RATE = "flash-rate"
    FLASHING_EFFECT = "flashing-effect"
    OUT_OF_RANGE = "out-of-range"
    VOLUME_CAP = "volume-cap"
    VOLUME_RAMP = "volume-ramp"
    BLS_SPEED = "bls-speed"
    BLS_SET_LENGTH = "bls-set-length"
    BLS_INTENSITY = "bls-intensity"
    TONE_FREQUENCY = "tone-frequency"
    EMERGENCY_LATCH = "emergency-latch"
    INVALID = "invalid-request"


@dataclass(frozen=True)
class Verdict(Generic[T]):
    """The gate's answer to one requested change."""

    status: Status
    requested: T
    value: T | None
    """What to send: the request, clamped if need be; None when refused."""
    reason: str | None = None
    """Plain words for anything not ok, to journal and show."""
    rules: tuple[Rule, ...] = ()

    @property
    def allowed(self) -> bool:
        """Whether something is to be sent (ok or clamped)."""
        return self.status is not Status.REFUSED

    def payload(self) -> dict[str, Any]:
        """The verdict as plain JSON values, for the journal's `safety` event."""
        return {
            "status": str(self.status),
            "rules": [str(rule) for rule in self.rules],
            "reason": self.reason,
            "requested": _plain(self.requested),
            "value": _plain(self.value),
        }


@dataclass(frozen=True)
class BlsRequest:
    """A BLS set to start, in engine units."""

    mode: BlsMode
    speed_hz: float
    """Full left-right cycles per second."""
    passes: int | None = None
    seconds: float | None = None
    intensity: float | None = None
    """0–1: motor drive (tactile), brightness (visual)."""
    tone_hz: float | None = None
    confirmed: bool = False
    """The operator explicitly confirmed a set beyond the room's soft limit."""


VitalsMeasure = Literal["hr", "spo2", "bp"]
LightMeasure = Literal["output", "luminance"]
"""What of a light the flash-rate rule follows: its output, or its luminance (a colour
light's; docs/safety.md#flash-rate)."""
_FLASH_WORDS: Final[dict[LightMeasure, tuple[str, str]]] = {
    "output": ("", "brightness changes"),
    "luminance": (" of its luminance in white", "changes in its luminance"),
}


@dataclass(frozen=True)
class VitalsAlert:
    measure: VitalsMeasure
    message: str


_VITALS: Final[dict[str, tuple[VitalsMeasure, str]]] = {
    "hr": ("hr", "Heart rate"),
    "spo2": ("spo2", "SpO2"),
    "sys": ("bp", "Systolic pressure"),
    "dia": ("bp", "Diastolic pressure"),
}


class SafetyGate:
    """The room's one safety gate; it remembers what it let through, per device."""

    def __init__(self, limits: SafetyLimits) -> None:
        self._limits = limits
        self._luminance: dict[tuple[str, LightMeasure], _LuminanceTrack] = {}
        self._volume: dict[str, _VolumeTrack] = {}
        self.unseen_until = -math.inf
        """Until when changes the gate did not see may count (`history_unknown`)."""

    def history_unknown(self, now: float) -> None:
        """Something this gate did not see may have changed the room's lights and screens
        until `now`: the engine before this one, killed and started again by hand within a
        second. Until a flash window has passed since `now`, every device is judged as if
        that window had held as many counting changes as the gate lets through: a change
        that may wait is refused (a scene's light or content is tried again until it
        passes), one that never waits goes out (a stop, the lights-up)
        (docs/safety.md#flash-rate)."""
        self.unseen_until = now + FLASH_WINDOW_S

    def _allowed_transitions(self) -> int:
        """The most counting transitions the gate lets any one flash window hold."""
        return max(1, math.floor(2 * self._limits.max_flashes_per_s + LEVEL_TOLERANCE) - 1)

    def _unseen(self, now: float) -> list[tuple[float, float]]:
        """The transitions the window before `history_unknown` may have held, unseen, as of
        `now`: none once a window has passed since."""
        if now >= self.unseen_until:
            return []
        at = self.unseen_until - FLASH_WINDOW_S
        return [(at, at)] * self._allowed_transitions()

    def check_light(
        self,
        device_id: str,
        level: float,
        now: float,
        *,
        transition_s: float = 0.0,
        lights_up: bool = False,
        from_dark: bool = False,
        from_level: float | None = None,
        trial: bool = False,
        measure: LightMeasure = "output",
    ) -> Verdict[float]:
        """Check a brightness change of a light, VR display or light bar (0–1; 0 = off).

        `transition_s` is how long the device takes to get there (0 = at once). A refused
        change may be asked again later: once a device has been still for a second (no
        change, no transition running), any change passes. `lights_up` marks the emergency's
        single change to the safe scene: it uses the reserved transition and is never
        refused for the flash rate. `from_dark`: the device goes dark at once first (a light
        bar's set that replaces a running one starts its sweep again at the left), judged
        with the change as one. `from_level`: likewise, the device is at this level at once
        first (a screen reported dark that may still show content at it). `trial`: judged
        only; an allowed change is not remembered (it is to be asked again for real, at the
        same time, or not at all). `measure`: which of the device's two histories the level
        is: its output (the default) or a colour light's luminance
        (`controller.drivers.base.ColourShares`).
        """
        track = self._luminance.get((device_id, measure))
        _require_time(device_id, now, None if track is None else track.ramp.start_t)
        if not math.isfinite(level):
            return _refused(level, Rule.INVALID, f"{device_id}: level {level!r} is not a number")
        if not transition_s >= 0 or math.isinf(transition_s):
            return _refused(
                level,
                Rule.INVALID,
                f"{device_id}: transition {transition_s!r} is not a time of 0 s or more",
            )
        findings = _Findings()
        value = min(max(level, 0.0), 1.0)
        if value != level:
            findings.add(Rule.OUT_OF_RANGE, f"{device_id}: level {_pct(level)} is outside 0–100 %")
        if track is None:
            changed = _LuminanceTrack.first(now, value, transition_s)
        else:
            first = 0.0 if from_dark else from_level
            before = track if first is None else track.with_change(now, first, 0.0)
            changed = before.with_change(now, value, transition_s)
        allowed = self._allowed_transitions()
        # the lights-up is never held back, so its window is not counted (it is remembered);
        # nor is a change to where the device is already going (it turns no corner), unless
        # it goes dark first (a light bar's set that replaces one: two corners)
        same_target = (
            track is not None and not from_dark and from_level is None and value == track.ramp.end
        )
        transitions = 0 if lights_up or same_target else changed.busiest_window(self._unseen(now))
        if transitions > allowed:
            # a first change is a single transition: refused only after `history_unknown`
            if track is None:
                course = "was changed unseen by this gate"
            else:
                course = track.course(now) if measure == "output" else "carries on as it was"
            going, changes = _FLASH_WORDS[measure]
            return _refused(
                level,
                Rule.FLASH_RATE,
                f"{device_id}: going to {_pct(value)}{going} now would make it flash more than "
                f"{self._limits.max_flashes_per_s:g} times in 1 s ({transitions} {changes} "
                f"of 10 % or more within a second); nothing was sent and it {course}",
            )
        if not trial:
            self._luminance[(device_id, measure)] = changed
        return findings.verdict(level, value)

    def check_effect(self, device_id: str, effect: str) -> Verdict[str]:
        """Check a device effect: only steady ones (`STEADY_EFFECTS`) are sent."""
        name = effect.strip().lower()
        if name in STEADY_EFFECTS:
            return Verdict(Status.OK, effect, effect)
        if name in FLASHING_EFFECTS:
            reason = f"{device_id}: effect {effect!r} makes the light flash; flashing is never sent"
        else:
            reason = (
                f"{device_id}: effect {effect!r} is not known to be steady, so it may flash; "
                f"only {', '.join(sorted(STEADY_EFFECTS))} are sent"
            )
        return _refused(effect, Rule.FLASHING_EFFECT, reason)

    def check_volume(self, device_id: str, level: float, now: float) -> Verdict[float]:
        """Check a volume change (0–1): capped, and rising no faster than the ramp."""
        track = self._volume.setdefault(device_id, _VolumeTrack())
        _require_time(device_id, now, track.since)
        if not math.isfinite(level):
            return _refused(level, Rule.INVALID, f"{device_id}: volume {level!r} is not a number")
        findings = _Findings()
        cap = self._limits.volume_cap / 100
        ramp = self._limits.volume_ramp_per_s / 100
        value = max(level, 0.0)
        if value != level:
            findings.add(Rule.OUT_OF_RANGE, f"{device_id}: volume {_pct(level)} is below 0 %")
        if value > cap:
            if value > cap + LEVEL_TOLERANCE:
                findings.add(
                    Rule.VOLUME_CAP,
                    f"{device_id}: volume {_pct(value)} is above the room's cap of {_pct(cap)}",
                )
            value = cap
        ceiling = track.ceiling(now, ramp)
        if value > ceiling:
            if value > ceiling + LEVEL_TOLERANCE:
                findings.add(
                    Rule.VOLUME_RAMP,
                    f"{device_id}: rising from {_pct(track.level)} to {_pct(value)} is faster "
                    f"than the room's ramp of {_pct(ramp)} per second; sent {_pct(ceiling)} "
                    f"(fade over {self.shortest_volume_fade_s(ceiling, value):.3g} s for the rest)",
                )
            value = ceiling
        track.record(value, now, ramp)
        return findings.verdict(level, value)

    def shortest_volume_fade_s(self, level_from: float, level_to: float) -> float:
        """The shortest fade the room's ramp allows from one volume to another (0 going down)."""
        ramp = self._limits.volume_ramp_per_s / 100
        return max(level_to - level_from, 0.0) / ramp

    def check_bls(self, device_id: str, request: BlsRequest) -> Verdict[BlsRequest]:
        """Check a BLS set before it starts: speed, length, intensity and tone."""
        problem = _bls_problem(request)
        if problem is not None:
            return _refused(request, Rule.INVALID, f"{device_id}: {problem}")
        limits = self._limits
        findings = _Findings()
        low, high = limits.bls_speed_min_hz, limits.bls_speed_max_hz
        if request.mode == "visual" and limits.max_flashes_per_s < high:
            high = limits.max_flashes_per_s
            if high < low:
                return _refused(
                    request,
                    Rule.BLS_SPEED,
                    f"{device_id}: even at the slowest speed of {low:g} Hz the light bar would "
                    f"flash more than {limits.max_flashes_per_s:g} times per second",
                )
        speed = min(max(request.speed_hz, low), high)
        if speed != request.speed_hz:
            findings.add(
                Rule.BLS_SPEED,
                f"{device_id}: speed {request.speed_hz:g} Hz is outside {low:g}–{high:g} Hz; "
                f"sent {speed:g} Hz",
            )
        length = _set_length(request, speed)
        if length.seconds > hard.BLS_SET_MAX_SECONDS + TIME_TOLERANCE_S:
            return _refused(
                request,
                Rule.BLS_SET_LENGTH,
                f"{device_id}: a set of {length} is longer than "
                f"{hard.BLS_SET_MAX_SECONDS:g} s, which no confirmation can lift",
            )
        beyond_soft = (
            length.passes > limits.bls_set_max_passes + LEVEL_TOLERANCE
            or length.seconds > limits.bls_set_max_seconds + TIME_TOLERANCE_S
        )
        if beyond_soft and not request.confirmed:
            return _refused(
                request,
                Rule.BLS_SET_LENGTH,
                f"{device_id}: a set of {length} is longer than the room's "
                f"{limits.bls_set_max_passes} passes / {limits.bls_set_max_seconds:g} s; "
                f"it needs an explicit confirmation",
            )
        intensity = asked_intensity = request.intensity
        if asked_intensity is not None:
            most = limits.tactile_intensity_max / 100 if request.mode == "tactile" else 1.0
            intensity = min(max(asked_intensity, 0.0), most)
            if intensity != asked_intensity:
                findings.add(
                    Rule.BLS_INTENSITY,
                    f"{device_id}: {request.mode} intensity {_pct(asked_intensity)} is outside "
                    f"0–{_pct(most)}; sent {_pct(intensity)}",
                )
        tone = asked_tone = request.tone_hz
        if asked_tone is not None:
            tone = min(max(asked_tone, limits.tone_hz_min), limits.tone_hz_max)
            if tone != asked_tone:
                findings.add(
                    Rule.TONE_FREQUENCY,
                    f"{device_id}: tone {asked_tone:g} Hz is outside "
                    f"{limits.tone_hz_min:g}–{limits.tone_hz_max:g} Hz; sent {tone:g} Hz",
                )
        value = dataclasses.replace(request, speed_hz=speed, intensity=intensity, tone_hz=tone)
        return findings.verdict(request, value)


def vitals_alerts(reading: Mapping[str, object], thresholds: VitalsThresholds) -> list[VitalsAlert]:
    """Alerts for a vitals reading (any of `hr`, `spo2`, `sys`, `dia`; other keys ignored).

    Each alert states the reading and the threshold it crossed; a value that is not a
    number is reported as such, so a faulty sensor is noticed.
    """
    alerts: list[VitalsAlert] = []
    numbers: dict[str, float] = {}
    for key, (measure, name) in _VITALS.items():
        raw = reading.get(key)
        if raw is None:
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            alerts.append(
                VitalsAlert(measure, f"{name} reading {raw!r} is not a number; check the sensor.")
            )
        else:
            numbers[key] = float(raw)
    hr = numbers.get("hr")
    if hr is not None and hr > thresholds.hr_high:
        alerts.append(
            VitalsAlert(
                "hr",
                f"Heart rate {hr:g} bpm is above the alert threshold of "
                f"{thresholds.hr_high:g} bpm.",
            )
        )
    if hr is not None and hr < thresholds.hr_low:
        alerts.append(
            VitalsAlert(
                "hr",
                f"Heart rate {hr:g} bpm is below the alert threshold of {thresholds.hr_low:g} bpm.",
            )
        )
    spo2 = numbers.get("spo2")
    if spo2 is not None and spo2 < thresholds.spo2_low:
        alerts.append(
            VitalsAlert(
                "spo2",
                f"SpO2 {spo2:g} % is below the alert threshold of {thresholds.spo2_low:g} %.",
            )
        )
    systolic, diastolic = numbers.get("sys"), numbers.get("dia")
    high_sys = systolic is not None and systolic >= thresholds.sys_high
    high_dia = diastolic is not None and diastolic >= thresholds.dia_high
    if high_sys or high_dia:
        if systolic is not None and diastolic is not None:
            pressure = f"Blood pressure {systolic:g}/{diastolic:g} mmHg"
            threshold = f"{thresholds.sys_high:g}/{thresholds.dia_high:g} mmHg"
        elif systolic is not None:
            pressure = f"Systolic pressure {systolic:g} mmHg"
            threshold = f"{thresholds.sys_high:g} mmHg"
        else:
            pressure = f"Diastolic pressure {diastolic:g} mmHg"
            threshold = f"{thresholds.dia_high:g} mmHg"
        alerts.append(
            VitalsAlert("bp", f"{pressure} is at or above the alert threshold of {threshold}.")
        )
    return alerts


# --------------------------------------------------------------------------- verdicts


class _Findings:
    """Clamps noted while checking one request."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.reasons: list[str] = []

    def add(self, rule: Rule, reason: str) -> None:
        self.rules.append(rule)
        self.reasons.append(reason)

    def verdict(self, requested: T, value: T) -> Verdict[T]:
        if not self.rules:
            return Verdict(Status.OK, requested, value)
        return Verdict(Status.CLAMPED, requested, value, "; ".join(self.reasons), tuple(self.rules))


def _refused(requested: T, rule: Rule, reason: str) -> Verdict[T]:
    return Verdict(Status.REFUSED, requested, None, reason, (rule,))


def _require_time(device_id: str, now: float, last: float | None) -> None:
    """Times come from the engine's monotonic clock: anything else is a bug, not a request."""
    if not math.isfinite(now):
        raise ValueError(f"{device_id}: time {now!r} is not a number of seconds")
    if last is not None and now < last:
        raise ValueError(
            f"{device_id}: change at {now:g} s comes before the last one at {last:g} s"
        )


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def _pct(level: float) -> str:
    return f"{level * 100:.3g} %"


# --------------------------------------------------------------------------- flash rate


@dataclass(frozen=True)
class _Ramp:
    """The latest change of a device: from `start` at `start_t` to `end` at `end_t`."""

    start_t: float
    start: float
    end_t: float
    end: float

    def level(self, t: float) -> float:
        if t >= self.end_t:
            return self.end
        return self.start + (self.end - self.start) * (t - self.start_t) / (
            self.end_t - self.start_t
        )


@dataclass(frozen=True)
class _TurningPoint:
    value: float
    first_t: float
    """When the curve first reached this value."""
    last_t: float
    """The last time the curve was at this value (so far)."""


@dataclass
class _LuminanceTrack:
    """One device's luminance as let through, reduced to turning points and recent transitions.

    Points of the curve are fed in time order up to the present; the running ramp's end
    is fed only once its time has come, because a later change may interrupt it.
    """

    pivot: _TurningPoint
    """The last confirmed turning point."""
    extreme: _TurningPoint
    """The furthest point since the pivot, in the current direction."""
    rising: bool
    ramp: _Ramp
    ramp_end_fed: bool
    transitions: list[tuple[float, float]]
    """Confirmed counting transitions as (start, end) times, the last second or so."""

    @classmethod
    def first(cls, now: float, level: float, transition_s: float) -> _LuminanceTrack:
        unseen = 0.0 if level >= 0.5 else 1.0
        point = _TurningPoint(unseen, now, now)
        ramp = _Ramp(now, unseen, now + transition_s, level)
        return cls(point, point, unseen == 0.0, ramp, False, [])

    def with_change(self, now: float, level: float, transition_s: float) -> _LuminanceTrack:
        track = self._copy()
        if not track.ramp_end_fed and track.ramp.end_t <= now:
            track._feed(track.ramp.end_t, track.ramp.end)
        current = track.ramp.level(now)
        track._feed(now, current)
        track.ramp = _Ramp(now, current, now + transition_s, level)
        track.ramp_end_fed = False
        horizon = now - FLASH_WINDOW_S - TIME_TOLERANCE_S
        track.transitions = [(start, end) for start, end in track.transitions if end >= horizon]
        return track

    def course(self, now: float) -> str:
        """Where the device stands and goes, in words."""
        if now < self.ramp.end_t:
            return f"carries on fading to {_pct(self.ramp.end)}"
        return f"stays at {_pct(self.ramp.end)}"

    def busiest_window(self, unseen: list[tuple[float, float]]) -> int:
        """The most counting transitions any 1 s window holds, the running ramp and the
        `unseen` ones (`SafetyGate.history_unknown`) included."""
        track = self._copy()
        if not track.ramp_end_fed:
            track._feed(track.ramp.end_t, track.ramp.end)
        transitions = track.transitions + unseen
        open_transition = track._transition(track.pivot, track.extreme)
        if open_transition is not None:
            transitions.append(open_transition)
        return max(
            (
                sum(
                    1
                    for start, end in transitions
                    if start < t + FLASH_WINDOW_S + TIME_TOLERANCE_S and end >= t - TIME_TOLERANCE_S
                )
                for _, t in transitions
            ),
            default=0,
        )

    def _copy(self) -> _LuminanceTrack:
        """A copy to change (its own list of transitions); made for every light change, so
        built directly (`dataclasses.replace` takes several times as long)."""
        return _LuminanceTrack(
            self.pivot,
            self.extreme,
            self.rising,
            self.ramp,
            self.ramp_end_fed,
            list(self.transitions),
        )

    def _feed(self, t: float, value: float) -> None:
        extreme = self.extreme
        further = value > extreme.value if self.rising else value < extreme.value
        if further:
            self.extreme = _TurningPoint(value, t, t)
        elif value == extreme.value:
            self.extreme = _TurningPoint(extreme.value, extreme.first_t, t)
        elif abs(value - extreme.value) >= hard.FLASH_DELTA - LEVEL_TOLERANCE:
            confirmed = self._transition(self.pivot, extreme)
            if confirmed is not None:
                self.transitions.append(confirmed)
            self.pivot = extreme
            self.extreme = _TurningPoint(value, t, t)
            self.rising = not self.rising

    @staticmethod
    def _transition(origin: _TurningPoint, to: _TurningPoint) -> tuple[float, float] | None:
        """The swing between two turning points as (start, end), if it counts towards a flash."""
        big_enough = abs(to.value - origin.value) >= hard.FLASH_DELTA - LEVEL_TOLERANCE
        dark_enough = min(origin.value, to.value) < hard.FLASH_DARK_BELOW + LEVEL_TOLERANCE
        return (origin.last_t, to.first_t) if big_enough and dark_enough else None


# --------------------------------------------------------------------------- volume


@dataclass
class _VolumeTrack:
    """What the gate let through for one device's volume, enough to compute the ramp ceiling.

    The ceiling at t is `min over earlier s of level(s) + ramp × (t − s)`, plus one step;
    `line` keeps the finished levels' part as `min(level_i − ramp × end_i)`.
    """

    level: float = 0.0
    since: float = -math.inf
    line: float = math.inf

    def ceiling(self, now: float, ramp: float) -> float:
        return min(self.level, self.line + ramp * now) + ramp * VOLUME_STEP_S

    def record(self, level: float, now: float, ramp: float) -> None:
        self.line = min(self.line, self.level - ramp * now)
        self.level = level
        self.since = now


# --------------------------------------------------------------------------- BLS


@dataclass(frozen=True)
class _SetLength:
    passes: float
    seconds: float
    given_in_passes: bool

    def __str__(self) -> str:
        if self.given_in_passes:
            return f"{self.passes:g} passes ({self.seconds:.3g} s)"
        return f"{self.seconds:g} s ({self.passes:.3g} passes)"


def _set_length(request: BlsRequest, speed_hz: float) -> _SetLength:
    if request.passes is not None:
        return _SetLength(request.passes, request.passes / speed_hz, True)
    assert request.seconds is not None
    return _SetLength(request.seconds * speed_hz, request.seconds, False)


def _bls_problem(request: BlsRequest) -> str | None:
    """Why a BLS request cannot be judged at all, or None."""
    if not math.isfinite(request.speed_hz) or request.speed_hz <= 0:
        return f"BLS speed {request.speed_hz!r} is not a speed above 0 Hz"
    if request.passes is not None and request.seconds is not None:
        return "give a BLS set's length in passes or in seconds, not both"
    if request.passes is None and request.seconds is None:
        return "a BLS set needs a length: passes or seconds"
    if request.passes is not None and request.passes < 1:
        return f"a BLS set of {request.passes} passes is not a set"
    if request.passes is not None and request.passes > MAX_PASSES:
        return f"a BLS set of more than {MAX_PASSES} passes is not a set anyone asks for"
    if request.seconds is not None and not (math.isfinite(request.seconds) and request.seconds > 0):
        return f"a BLS set of {request.seconds!r} s is not a set"
    if request.intensity is not None and not math.isfinite(request.intensity):
        return f"BLS intensity {request.intensity!r} is not a number"
    if request.tone_hz is not None and not (math.isfinite(request.tone_hz) and request.tone_hz > 0):
        return f"tone {request.tone_hz!r} Hz is not a frequency"
    return None
