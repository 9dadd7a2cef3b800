"""What the console knows about the room at one moment: the only thing widgets render."""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.api.state import RoomState
from controller.console.keymap import Control
from controller.console.link import EngineStatus, Outcome
from controller.console.trends import VitalsTrends

STALE_AFTER_S = 5.0
"""A state older than this is shown as stale, never as live."""


@dataclass(frozen=True)
class Feedback:
    """The last command the console sent and what became of it."""

    label: str
    outcome: Outcome | None = None
    """None while the reply is awaited."""
    until_connected: bool = False
    """Not sent yet: it goes as soon as the broker is back."""


@dataclass(frozen=True)
class RoomView:
    room: str
    broker_url: str
    broker_connected: bool = False
    broker_ever_connected: bool = False
    """Whether the console has reached the broker since it started (before that its banner
    says it is connecting, or cannot reach the broker, not that the connection was lost)."""
    broker_problem: str | None = None
    reconnect_attempt: int = 0
    engine: EngineStatus = "unknown"
    state: RoomState | None = None
    state_problem: str | None = None
    age_s: float | None = None
    """Seconds since the engine made the state shown."""
    stale_after_s: float = STALE_AFTER_S
    feedback: Feedback | None = None
    trends: VitalsTrends = field(default_factory=VitalsTrends, compare=False)

    @property
    def stale(self) -> bool:
        return self.state is not None and (self.age_s is None or self.age_s > self.stale_after_s)

    @property
    def engine_reachable(self) -> bool:
        """Commands can reach a running engine."""
        return self.broker_connected and self.engine == "online" and self.state is not None

    @property
    def in_session(self) -> bool:
        return self.state is not None and self.state.session is not None

    @property
    def emergency(self) -> bool:
        return self.state is not None and self.state.emergency.active


@dataclass(frozen=True)
class Readiness:
    """Whether a session may start: blockers forbid it, warnings are shown with it."""

    blockers: tuple[str, ...]
    warnings: tuple[str, ...]


def readiness(view: RoomView) -> Readiness:
    """Pre-flight: essential devices, the journal, the broker and the engine must be fine."""
    blockers: list[str] = []
    warnings: list[str] = []
    if not view.broker_connected:
        blockers.append("not connected to the broker")
    if view.engine != "online":
        blockers.append(f"the room's engine is {view.engine}")
    state = view.state
    if state is None:
        blockers.append("no state from the engine yet")
        return Readiness(tuple(blockers), tuple(warnings))
    if view.stale:
        blockers.append("the engine's state is stale")
    if state.emergency.active:
        blockers.append("an emergency is active")
    preflight = state.preflight
    if preflight is None:
        warnings.append("the engine reported no pre-flight check")
    else:
        if not preflight.journal_writable:
            blockers.append(f"journal not writable: {preflight.journal_problem or 'no reason'}")
        if preflight.playlists_missing:
            warnings.append(f"playlists missing: {', '.join(preflight.playlists_missing)}")
    for device_id, device in state.devices.items():
        if device.available == "online":
            continue
        name = device.label or device_id
        if device.essential:
            blockers.append(f"{name} (essential) is {device.available}")
        else:
            warnings.append(f"{name} is {device.available}")
    return Readiness(tuple(blockers), tuple(warnings))


def offered(control: Control, view: RoomView) -> bool | None:
    """True when a control can be used now, None when it is shown disabled, False when hidden."""
    if control.in_session_only and not view.in_session:
        return False
    if control.id == "clear_emergency" and not view.emergency:
        return False
    if control.needs_engine and not view.engine_reachable:
        return None
    return True
