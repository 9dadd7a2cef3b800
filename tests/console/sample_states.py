"""States of the example room (config.yaml) as the engine would publish them, for console tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from controller.api.state import (
    Alert,
    BaselineInfo,
    BaselineReading,
    BlsInfo,
    ChecksInfo,
    DeviceInfo,
    EmergencyInfo,
    MusicInfo,
    PhaseInfo,
    PlanPhase,
    Preflight,
    RecoveryInfo,
    RoomState,
    SessionInfo,
    TimedCheck,
    TimelineEntry,
    VitalsInfo,
)

STARTED = datetime.fromisoformat("2025-03-14T09:00:00+00:00")
"""When the sample session started; sample states are made some minutes later."""

PLANS = {"standard": "Standard session (90 minutes)", "rehearsal": "Rehearsal (5 minutes)"}
STANDARD_PHASES = [
    PlanPhase(name="centering", scene="centering", planned_s=900, advance="manual"),
    PlanPhase(name="peak", scene="peak", planned_s=2400, advance="auto"),
    PlanPhase(name="return", scene="return", planned_s=1200, advance="manual"),
    PlanPhase(name="integration", scene="integration", planned_s=900, advance="manual"),
]


def wall(seconds_after_start: float) -> str:
    return (STARTED + timedelta(seconds=seconds_after_start)).isoformat()


def devices(**availability: str) -> dict[str, DeviceInfo]:
    """The example room's devices, all online unless `device_id="offline"` says otherwise."""
    specs: list[tuple[str, str, str, str, bool, dict[str, Any]]] = [
        ("ceiling", "light", "zigbee2mqtt", "Ceiling light", True, {"on": True, "level": 0.35}),
        (
            "floor-lamp",
            "light",
            "tasmota",
            "Floor lamp (RGBCCT)",
            False,
            {"on": True, "level": 0.2},
        ),
        ("strip", "light", "wled", "LED strip behind the couch", False, {"on": False}),
        ("music", "music", "vlc", "Room music", True, {"volume": 0.4}),
        ("tones", "bls", "tones", "Bilateral tones", False, {"running": False}),
        ("tappers", "bls", "mqtt-bls", "Hand tappers (pair)", False, {"running": False}),
        ("lightbar", "bls", "mqtt-bls", "Light bar", False, {"running": False}),
        ("oximeter", "sensor", "mqtt-vitals", "Pulse oximeter", True, {}),
        ("bp-cuff", "sensor", "mqtt-vitals", "Blood-pressure cuff", False, {}),
        ("headset", "vr", "mqtt-vr", "VR headset", False, {"status": "idle"}),
    ]
    return {
        device_id: DeviceInfo(
            kind=kind,
            driver=driver,
            label=label,
            available=availability.get(device_id.replace("-", "_"), "online"),  # type: ignore[arg-type]
            essential=essential,
            state=state,
        )
        for device_id, kind, driver, label, essential, state in specs
    }


THRESHOLDS = {
    "hr_below": 100.0,
    "hr_low": 45.0,
    "spo2_low": 92.0,
    "sys_below": 160.0,
    "dia_below": 90.0,
    "max_age_s": 600.0,
}
"""The example room's pre-session thresholds (config.yaml `checks.baseline`)."""


def baseline(
    cuff: VitalsInfo | None = None, cuff_problems: tuple[str, ...] = (), cuff_age_s: float = 95.0
) -> BaselineInfo:
    """Fresh oximeter and cuff readings as the engine judges them before a start."""
    return BaselineInfo(
        sensors=[
            BaselineReading(sensor="oximeter", reading=VitalsInfo(hr=71, spo2=98), age_s=1.0),
            BaselineReading(
                sensor="bp-cuff",
                reading=cuff or VitalsInfo(sys=126, dia=81, hr=73),
                age_s=cuff_age_s,
                problems=list(cuff_problems),
            ),
        ],
        thresholds=THRESHOLDS,
        needs_reason=bool(cuff_problems),
    )


def setup_state(room: str, *, at: float = 0.0, **changes: Any) -> RoomState:
    """The room before a session: plans to choose from, a clean pre-flight, a fine baseline."""
    state = RoomState(
        room=room,
        name="Session room A (demo)",
        engine_version="0.1.0",
        updated=wall(at),
        plans=PLANS,
        scene="idle",
        devices=devices(),
        preflight=Preflight(journal_writable=True),
        timeline=[TimelineEntry(t=None, wall=wall(at - 60), kind="session", text="engine started")],
        checks=ChecksInfo(baseline=baseline()),
    )
    return state.model_copy(update=changes)


def baseline_outside(state: RoomState) -> RoomState:
    """A cuff reading above the pre-session thresholds, and twelve minutes old."""
    judged = baseline(
        VitalsInfo(sys=164, dia=92, hr=104),
        (
            "HR 104 is not under 100 bpm",
            "BP 164/92 is not under 160/90 mmHg",
            "reading is 12m old (more than 10m)",
        ),
        cuff_age_s=720.0,
    )
    return state.model_copy(update={"checks": ChecksInfo(baseline=judged)})


def bp_due(state: RoomState, *, asked: bool = True) -> RoomState:
    """A cuff reading due every 15 minutes, last taken 16 minutes ago."""
    assert state.session is not None
    t = state.session.t
    check = TimedCheck(
        sensor="bp-cuff",
        label="BP",
        interval_s=900,
        last_t=t - 960,
        due_t=t - 60,
        due=True,
        asked=asked,
    )
    checks = state.checks.model_copy(update={"timed": [check]})
    return state.model_copy(update={"checks": checks})


def awaiting_recovery(state: RoomState) -> RoomState:
    """In a session whose peak ended at 56:40: the recovery check not yet recorded."""
    checks = ChecksInfo(
        baseline=baseline().model_copy(update={"confirmed": True}),
        recovery=RecoveryInfo(
            checklist=["oriented", "walks unaided", "escort present"], peak_ended_t=3400.0
        ),
    )
    return state.model_copy(update={"checks": checks})


PHASE_START_T = {"centering": 0.0, "peak": 960.0, "return": 3400.0, "integration": 4700.0}
PHASE_ELAPSED_S = {"centering": 312.0, "peak": 1104.0, "return": 330.0, "integration": 1020.0}


def live_state(room: str, phase: str = "peak", **changes: Any) -> RoomState:
    """The room during the standard plan, some minutes into `phase`."""
    index = [p.name for p in STANDARD_PHASES].index(phase)
    plan_phase = STANDARD_PHASES[index]
    started_t = PHASE_START_T[phase]
    elapsed = PHASE_ELAPSED_S[phase]
    t = started_t + elapsed
    following = STANDARD_PHASES[index + 1].name if index + 1 < len(STANDARD_PHASES) else None
    timeline = [
        TimelineEntry(t=0.0, wall=wall(0), kind="session", text="session started: standard, P014"),
        TimelineEntry(t=0.0, wall=wall(0), kind="phase", text="centering began"),
        TimelineEntry(t=420.0, wall=wall(420), kind="note", text="settled, breathing slowly"),
    ]
    for earlier in STANDARD_PHASES[1 : index + 1]:
        begun = PHASE_START_T[earlier.name]
        timeline.append(
            TimelineEntry(t=begun, wall=wall(begun), kind="phase", text=f"{earlier.name} began")
        )
    timeline.append(
        TimelineEntry(t=t - 30, wall=wall(t - 30), kind="operator", text="volume 40% → 35%")
    )
    state = setup_state(room, at=t).model_copy(
        update={
            "session": SessionInfo(
                id="20250314-0900-room-a",
                plan="standard",
                plan_title=PLANS["standard"],
                participant="P014",
                started=wall(0),
                t=t,
            ),
            "plan_phases": STANDARD_PHASES,
            "phase": PhaseInfo(
                name=phase,
                index=index,
                started_t=started_t,
                planned_s=plan_phase.planned_s,
                elapsed_s=elapsed,
                held=False,
                extended_s=0.0,
                advance=plan_phase.advance,
                next=following,
            ),
            "scene": plan_phase.scene,
            "music": MusicInfo(
                status="playing",
                playlist=phase,
                title="Slow chords in D",
                position_s=133.0,
                duration_s=340.0,
                volume=0.35,
            ),
            "bls": BlsInfo(devices=["tones", "tappers"], speed_hz=1.0),
            "vitals": {
                "oximeter": VitalsInfo(hr=72, spo2=97, ts=STARTED.timestamp() + t),
                "bp-cuff": VitalsInfo(sys=124, dia=82, ts=STARTED.timestamp() + t),
            },
            "timeline": timeline,
        }
    )
    return state.model_copy(update=changes)


def with_vitals(state: RoomState, seconds_later: float, **readings: float) -> RoomState:
    """The same state a little later with a new oximeter reading."""
    assert state.session is not None
    t = state.session.t + seconds_later
    return state.model_copy(
        update={
            "updated": wall(t),
            "vitals": {
                **state.vitals,
                "oximeter": VitalsInfo(ts=STARTED.timestamp() + t, **readings),
            },
        }
    )


def bls_running(state: RoomState) -> RoomState:
    return state.model_copy(
        update={
            "bls": BlsInfo(
                running=True,
                devices=["tones", "tappers"],
                mode="tactile",
                speed_hz=1.2,
                pass_count=9,
                passes=24,
            )
        }
    )


def emergency(state: RoomState, *, immediate: bool = False) -> RoomState:
    assert state.session is not None
    t = state.session.t
    entries = [
        *state.timeline,
        TimelineEntry(t=t, wall=wall(t), kind="safety", text="EMERGENCY: lights up, BLS stopped"),
    ]
    return state.model_copy(
        update={
            "emergency": EmergencyInfo(active=True, since=wall(t), immediate=immediate),
            "scene": "lights-up",
            "music": state.music.model_copy(update={"status": "fading"}),
            "timeline": entries,
        }
    )


def heart_rate_alert(state: RoomState) -> RoomState:
    return with_vitals(state, 5, hr=131, spo2=96).model_copy(
        update={
            "alerts": [
                Alert(
                    key="vitals:oximeter:hr",
                    kind="vitals",
                    level="critical",
                    message="heart rate 131 is above 120 (Pulse oximeter)",
                    since=state.updated,
                )
            ]
        }
    )


def made_now(state: RoomState) -> RoomState:
    """The same state stamped with the present time, for a console that reads the real clock."""
    return state.model_copy(update={"updated": datetime.now(UTC).isoformat()})
