"""The commands the console sends: JSON dicts as `controller.api.commands` parses them.

`command_for` turns a control into its command given the room's state (hold or release,
pause or resume, ...), or into the reason it cannot be sent right now.
"""

from __future__ import annotations

import uuid
from typing import Any

from controller.api.state import RoomState

SOURCE = "console"
EXTEND_S = 300.0
VOLUME_STEP = 0.05
LIGHTS_STEP = 0.10
BLS_SPEED_STEP_HZ = 0.1
BLS_DEFAULT_SPEED_HZ = 1.0

Command = dict[str, Any]


def new_command(action: str, **parameters: Any) -> Command:
    """A command with a fresh id, marked as coming from the console."""
    return {"id": str(uuid.uuid4()), "action": action, "source": SOURCE, **parameters}


def start_command(plan: str, participant: str, *, reason: str | None = None) -> Command:
    """A start whose baseline the therapist confirmed (with the reason, when one was typed)."""
    extra = {} if reason is None else {"reason": reason}
    return new_command(
        "start", plan=plan, participant=participant, baseline_confirmed=True, **extra
    )


def end_command(reason: str | None = None) -> Command:
    return new_command("end") if reason is None else new_command("end", reason=reason)


def recovery_command(items: dict[str, bool | str]) -> Command:
    return new_command("recovery", items=items)


def note_command(text: str) -> Command:
    return new_command("note", text=text)


def emergency_command() -> Command:
    return new_command("emergency")


def command_for(control_id: str, state: RoomState) -> Command | str:
    """The command a control sends in this state, or why it cannot be sent now."""
    simple: dict[str, tuple[str, dict[str, Any]]] = {
        "next_phase": ("next", {}),
        "previous_phase": ("back", {}),
        "extend": ("extend", {"seconds": EXTEND_S}),
        "volume_up": ("volume", {"delta": VOLUME_STEP}),
        "volume_down": ("volume", {"delta": -VOLUME_STEP}),
        "lights_up": ("lights", {"delta": LIGHTS_STEP}),
        "lights_down": ("lights", {"delta": -LIGHTS_STEP}),
        "music_skip": ("music", {"op": "skip"}),
        "clear_emergency": ("clear_emergency", {}),
        "end_session": ("end", {}),
    }
    if control_id in simple:
        action, parameters = simple[control_id]
        return new_command(action, **parameters)
    if control_id == "hold":
        held = state.phase is not None and state.phase.held
        return new_command("release" if held else "hold")
    if control_id == "music_pause":
        paused = state.music.status == "paused"
        return new_command("music", op="resume" if paused else "pause")
    if control_id == "bls_toggle":
        return new_command("bls", op="stop" if state.bls.running else "start")
    if control_id in ("bls_faster", "bls_slower"):
        if not state.bls.running:
            return "BLS is not running: start it first"
        step = BLS_SPEED_STEP_HZ if control_id == "bls_faster" else -BLS_SPEED_STEP_HZ
        speed = (state.bls.speed_hz or BLS_DEFAULT_SPEED_HZ) + step
        return new_command("bls", op="start", speed_hz=round(speed, 2))
    raise ValueError(f"no command for control {control_id!r}")
