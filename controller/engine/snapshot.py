"""Parts of the retained state built the same way for a live room and a replayed one.

The engine's `snapshot()` and a replay's rebuilt room (`research.replay_state`) both
describe a session's phase from a `SessionRun`, its plan's phases, and each device from
its configuration and what it last reported.
"""

from __future__ import annotations

from typing import Any

from controller.api.state import DeviceInfo, PhaseInfo, PlanPhase
from controller.config.models import Device, Plan
from controller.engine.phases import SessionRun


def phase_info(run: SessionRun, t: float) -> PhaseInfo:
    """The current phase at session time `t`."""
    status = run.status(t)
    return PhaseInfo(
        name=status.name,
        index=status.index,
        started_t=status.started,
        planned_s=status.planned_s,
        elapsed_s=status.elapsed_s,
        held=status.held,
        extended_s=status.extended_s,
        advance="manual" if status.advance == "manual" else "auto",
        next=status.next_phase,
    )


def plan_phases(plan: Plan) -> list[PlanPhase]:
    return [
        PlanPhase(name=p.name, scene=p.scene, planned_s=p.duration, advance=p.advance)
        for p in plan.phases
    ]


def device_info(
    device_id: str,
    device: Device | None,
    *,
    available: str,
    state: dict[str, Any],
    target: dict[str, Any] | None = None,
) -> DeviceInfo:
    """A device as the console lists it (an unconfigured one, seen in a journal, as unknown)."""
    return DeviceInfo(
        kind=device.kind if device else "unknown",
        driver=device.driver if device else "unknown",
        label=(device.label or device_id) if device else device_id,
        available=available if available in ("online", "offline") else "unknown",
        essential=device.essential if device else False,
        state=state,
        target=target,
    )
