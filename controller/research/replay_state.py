"""The room state a replay publishes: a live engine's `RoomState`, rebuilt event by event.

Consoles render `sessionroom/<room>/state` (controller.api.state); a replay to a simulated
room publishes the same snapshot under its own room id, so `sessionroom console --room
<replay-id>` shows the session as it unfolded: phase and its clock, scene, holds and
extensions, devices with their availability and last reported state, BLS, vitals, alerts,
emergency and the recent timeline. Music is played on the room PC and is not replayed.
Notes appear on the timeline as `note`, never with their words (SAFETY.md: the state is a
retained topic).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from controller import __version__
from controller.api.state import (
    Alert,
    BlsInfo,
    DeviceInfo,
    EmergencyInfo,
    MusicInfo,
    PhaseInfo,
    PlanPhase,
    RoomState,
    SessionInfo,
    TimelineEntry,
    VitalsInfo,
)
from controller.config import Room
from controller.engine.record import TIMELINE_LENGTH, iso_wall
from controller.journal import Event, SessionMeta
from controller.research.describe import describe, emergency_step

TIMELINE_KINDS = frozenset(
    {
        "session",
        "phase",
        "scene",
        "availability",
        "operator",
        "note",
        "alert",
        "safety",
        "broker",
        "resume",
        "error",
    }
)
"""Kinds the console's timeline shows (device commands and readings only in their panels)."""
NOT_REPLAYED = MusicInfo(available=False, status="unavailable", error="music is not replayed")


class ReplayedRoom:
    """The state of a recorded room at the replay's position, for the retained `state` topic."""

    def __init__(self, replay_room: str, meta: SessionMeta, room: Room | None) -> None:
        self.replay_room = replay_room
        self.meta = meta
        self.room = room
        self.plan = room.plans.get(meta.plan) if room is not None else None
        self.reset()

    def reset(self) -> None:
        """Forget everything: the replay starts the session again."""
        self.started = False
        self.ended = False
        self.phase: dict[str, Any] | None = None
        self.run: dict[str, Any] = {}
        self.scene: str | None = None
        self.overrides: dict[str, Any] = {}
        self.available: dict[str, str] = {}
        self.device_state: dict[str, dict[str, Any]] = {}
        self.bls: dict[str, tuple[float, dict[str, Any]]] = {}
        self.vitals: dict[str, dict[str, Any]] = {}
        self.alerts: dict[str, Alert] = {}
        self.emergency = EmergencyInfo()
        self.timeline: deque[TimelineEntry] = deque(maxlen=TIMELINE_LENGTH)

    def apply(self, event: Event) -> None:
        """Take one event into the state."""
        payload = event.payload if isinstance(event.payload, dict) else {}
        self.started = True
        if isinstance(payload.get("run"), dict):
            self.run = payload["run"]
        if isinstance(payload.get("overrides"), dict):
            self.overrides = payload["overrides"]
        handler = getattr(self, f"_{event.kind}", None)
        if handler is not None:
            handler(event, payload)
        if event.kind in TIMELINE_KINDS or (event.kind == "command" and "bls" in payload):
            self.timeline.append(
                TimelineEntry(
                    t=event.t, wall=iso_wall(event.wall_ns), kind=event.kind, text=describe(event)
                )
            )

    # ------------------------------------------------------------------ by kind

    def _session(self, event: Event, payload: dict[str, Any]) -> None:
        self.ended = payload.get("event") == "end"

    def _phase(self, event: Event, payload: dict[str, Any]) -> None:
        self.phase = {**payload, "started_t": event.t}

    def _scene(self, event: Event, payload: dict[str, Any]) -> None:
        self.scene = payload.get("name")

    def _state(self, event: Event, payload: dict[str, Any]) -> None:
        if event.device is not None:
            self.device_state[event.device] = payload

    def _availability(self, event: Event, payload: dict[str, Any]) -> None:
        if event.device is None:
            return
        available = str(payload.get("available"))
        self.available[event.device] = available
        key = f"device:{event.device}"
        if available == "offline":
            self._raise(key, "device", "warning", f"{event.device} is offline", event)
        else:
            self.alerts.pop(key, None)

    def _command(self, event: Event, payload: dict[str, Any]) -> None:
        device = event.device or "?"
        if payload.get("bls") == "start":
            self.bls[device] = (event.t, payload)
        elif payload.get("bls") in ("stop", "set complete"):
            self.bls.pop(device, None)

    def _vitals(self, event: Event, payload: dict[str, Any]) -> None:
        if event.device is not None:
            self.vitals[event.device] = payload

    def _alert(self, event: Event, payload: dict[str, Any]) -> None:
        key = str(payload.get("key"))
        if payload.get("cleared"):
            self.alerts.pop(key, None)
        else:
            self._raise(key, "vitals", "critical", str(payload.get("message") or key), event)

    def _raise(self, key: str, kind: str, level: str, message: str, event: Event) -> None:
        since = self.alerts[key].since if key in self.alerts else iso_wall(event.wall_ns)
        self.alerts[key] = Alert.model_validate(
            {"key": key, "kind": kind, "level": level, "message": message, "since": since}
        )

    def _safety(self, event: Event, payload: dict[str, Any]) -> None:
        emergency = emergency_step(payload)
        if emergency == "start":
            self.emergency = EmergencyInfo(active=True, since=iso_wall(event.wall_ns))
        elif emergency == "immediate":
            self.emergency = self.emergency.model_copy(update={"immediate": True})
        elif emergency == "cleared":
            self.emergency = EmergencyInfo()
        elif event.device is not None:
            reason = str(payload.get("reason") or "safety limit")
            self._raise(f"safety:{event.device}", "safety", "warning", reason, event)

    def _broker(self, event: Event, payload: dict[str, Any]) -> None:
        if payload.get("connected"):
            self.alerts.pop("broker", None)
        else:
            message = f"broker connection lost: {payload.get('reason')}"
            self._raise("broker", "broker", "critical", message, event)

    # ------------------------------------------------------------------ the snapshot

    def snapshot(self, t: float, *, speed: float = 1.0, published_ns: int) -> RoomState:
        """The state at session time `t`, as the engine would have published it.

        `updated` is when the replay publishes it (`published_ns`), so a console watching the
        replay sees a live room, not a recording hours old.
        """
        in_session = self.started and not self.ended
        title = self.plan.title if self.plan is not None else self.meta.plan
        return RoomState(
            room=self.replay_room,
            name=f"Replay of {self.meta.session_id}",
            engine_version=__version__,
            updated=iso_wall(published_ns),
            time_scale=speed if speed > 0 else 1.0,
            plans={self.meta.plan: title},
            session=SessionInfo(
                id=self.meta.session_id,
                plan=self.meta.plan,
                plan_title=title,
                participant=self.meta.participant,
                started=iso_wall(self.meta.started_wall_ns),
                t=t,
            )
            if in_session
            else None,
            plan_phases=[
                PlanPhase(name=p.name, scene=p.scene, planned_s=p.duration, advance=p.advance)
                for p in (self.plan.phases if self.plan is not None else [])
            ]
            if in_session
            else [],
            phase=self._phase_info(t) if in_session else None,
            scene=self.scene,
            overrides=self.overrides,
            devices=self._devices(),
            music=NOT_REPLAYED,
            bls=self._bls_info(t),
            vitals={
                device: VitalsInfo.model_validate(
                    {k: v for k, v in reading.items() if k in VitalsInfo.model_fields}
                )
                for device, reading in self.vitals.items()
            },
            alerts=list(self.alerts.values()),
            emergency=self.emergency,
            timeline=list(self.timeline),
        )

    def _phase_info(self, t: float) -> PhaseInfo | None:
        phase = self.phase
        if phase is None:
            return None
        name = str(phase.get("to"))
        started = float(phase["started_t"])
        extended = float(self.run.get("extended_s") or 0.0)
        names = [p.name for p in self.plan.phases] if self.plan is not None else []
        index = int(self.run.get("phase_index", names.index(name) if name in names else 0))
        return PhaseInfo(
            name=name,
            index=index,
            started_t=started,
            planned_s=float(phase.get("planned_s") or 0.0) + extended,
            elapsed_s=max(0.0, t - started),
            held=bool(self.run.get("held")),
            extended_s=extended,
            advance="manual" if phase.get("advance") == "manual" else "auto",
            next=names[index + 1] if index + 1 < len(names) else None,
        )

    def _devices(self) -> dict[str, DeviceInfo]:
        configured = self.room.devices if self.room is not None else {}
        ids = sorted(set(configured) | set(self.available) | set(self.device_state))
        infos = {}
        for device_id in ids:
            device = configured.get(device_id)
            available = self.available.get(device_id, "unknown")
            infos[device_id] = DeviceInfo(
                kind=device.kind if device else "unknown",
                driver=device.driver if device else "unknown",
                label=(device.label or device_id) if device else device_id,
                available=available if available in ("online", "offline") else "unknown",
                essential=device.essential if device else False,
                state=self.device_state.get(device_id, {}),
            )
        return infos

    def _bls_info(self, t: float) -> BlsInfo:
        if not self.bls:
            return BlsInfo()
        start, payload = next(iter(self.bls.values()))
        return BlsInfo(
            running=True,
            devices=sorted(self.bls),
            mode=payload.get("mode"),
            speed_hz=payload.get("speed_hz"),
            passes=payload.get("passes"),
            seconds=payload.get("seconds"),
            set_elapsed_s=max(0.0, t - start),
        )
