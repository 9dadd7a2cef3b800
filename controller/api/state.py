"""The retained `sessionroom/<room>/state` snapshot: what every console renders.

The engine builds it; consoles parse it with `RoomState.model_validate_json`. Levels and
volumes are fractions 0–1, times are seconds, wall times ISO 8601 UTC.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class SessionInfo(_Part):
    id: str
    plan: str
    plan_title: str
    participant: str
    """The pseudonymous code, never a name."""
    started: str
    """Wall time the session started (ISO 8601 UTC)."""
    t: float
    """Session time of this snapshot, seconds since the start."""


class PlanPhase(_Part):
    name: str
    scene: str
    planned_s: float
    advance: Literal["manual", "auto"]


class PhaseInfo(_Part):
    name: str
    index: int
    started_t: float
    """Session time the phase began."""
    planned_s: float
    """Planned length including extensions."""
    elapsed_s: float
    held: bool
    extended_s: float
    advance: Literal["manual", "auto"]
    next: str | None


Availability = Literal["online", "offline", "unknown"]


class DeviceInfo(_Part):
    kind: str
    driver: str
    label: str
    available: Availability
    essential: bool = False
    state: dict[str, Any] = {}
    """Last state the device reported, normalized (light: on, level 0–1, kelvin, rgb)."""
    target: dict[str, Any] | None = None
    """What the engine last asked of it."""


class MusicInfo(_Part):
    available: bool = True
    """False when libvlc is missing on the room PC."""
    status: Literal["playing", "paused", "stopped", "fading", "unavailable"] = "stopped"
    playlist: str | None = None
    title: str | None = None
    position_s: float | None = None
    duration_s: float | None = None
    volume: float = 0.0
    error: str | None = None


class BlsInfo(_Part):
    running: bool = False
    devices: list[str] = []
    mode: str | None = None
    speed_hz: float | None = None
    tone_hz: float | None = None
    intensity: float | None = None
    pass_count: int | None = None
    passes: int | None = None
    set_elapsed_s: float | None = None
    seconds: float | None = None


class VitalsInfo(_Part):
    hr: float | None = None
    spo2: float | None = None
    sys: float | None = None
    dia: float | None = None
    ts: float | None = None
    """When the device took the reading (unix seconds)."""


class BaselineReading(_Part):
    """One sensor's latest reading as the baseline judges it."""

    sensor: str
    reading: VitalsInfo | None = None
    age_s: float | None = None
    """Real seconds since the engine received the reading."""
    problems: list[str] = []
    """Why it needs a reason: outside a threshold, too old (plain words)."""


class BaselineInfo(_Part):
    """Before a session: what a start would find; during one: what it found."""

    sensors: list[BaselineReading] = []
    thresholds: dict[str, float] = {}
    """`hr_below`, `hr_low`, `spo2_low`, `sys_below`, `dia_below`, `max_age_s`."""
    needs_reason: bool = False
    confirmed: bool | None = None
    """During a session: whether the therapist confirmed it (None before the start)."""


class TimedCheck(_Part):
    """A sensor's reading due every `interval_s` of session time in the current phase."""

    sensor: str
    label: str
    """What the console calls it: `BP`, `SpO2`, `HR` by the sensor's readings, else its label."""
    interval_s: float
    last_t: float | None = None
    """Session time of the sensor's last reading."""
    due_t: float
    """Session time the next reading is (or was) due."""
    due: bool = False
    asked: bool = False
    """The sensor was asked to measure (it takes `{"measure": true}`)."""
    missed: int = 0
    """Checks missed in this session so far."""


class RecoveryInfo(_Part):
    checklist: list[str] = []
    done: bool = False
    """The recovery check was recorded."""
    peak_ended_t: float | None = None
    """Session time the peak phase ended (None while in it, or before it)."""


class ChecksInfo(_Part):
    """Vitals checks around the session (docs/safety.md#vitals-checks)."""

    baseline: BaselineInfo = BaselineInfo()
    timed: list[TimedCheck] = []
    recovery: RecoveryInfo | None = None
    """During a session only."""


class Alert(_Part):
    key: str
    """Stable id while the alert lasts (e.g. `vitals:oximeter:hr`, `device:strip`)."""
    kind: Literal["vitals", "device", "journal", "broker", "safety", "music", "engine"]
    level: Literal["warning", "critical"]
    message: str
    since: str


class EmergencyInfo(_Part):
    active: bool = False
    since: str | None = None
    immediate: bool = False


class TimelineEntry(_Part):
    t: float | None
    """Session time, or None outside a session."""
    wall: str
    kind: str
    text: str


class Preflight(_Part):
    """What a console checks before a session starts."""

    journal_writable: bool
    journal_problem: str | None = None
    playlists_missing: list[str] = []


class RoomState(_Part):
    """The whole retained state of a room's engine."""

    room: str
    name: str | None = None
    engine_version: str
    updated: str
    time_scale: float = 1.0
    plans: dict[str, str] = {}
    """Plan name → title, for the setup screen."""
    session: SessionInfo | None = None
    plan_phases: list[PlanPhase] = []
    phase: PhaseInfo | None = None
    scene: str | None = None
    overrides: dict[str, Any] = {}
    devices: dict[str, DeviceInfo] = {}
    music: MusicInfo = MusicInfo()
    bls: BlsInfo = BlsInfo()
    vitals: dict[str, VitalsInfo] = {}
    alerts: list[Alert] = []
    emergency: EmergencyInfo = EmergencyInfo()
    timeline: list[TimelineEntry] = []
    """The most recent events in plain words, newest last."""
    preflight: Preflight | None = None
    checks: ChecksInfo = ChecksInfo()
