"""The room state a replay publishes: a live engine's `RoomState`, rebuilt event by event.

It is rebuilt with the engine's own code, not a copy of its rules: the phase from the
journaled `SessionRun` progress (`engine.snapshot.phase_info`), alerts by the engine's
`AlertBoard` (vitals alerts recomputed from the readings with the room's thresholds), BLS
sets as `BlsSet`s, devices by `engine.snapshot.device_info`.

Consoles render `sessionroom/<room>/state` (controller.api.state); a replay to a simulated
room publishes the same snapshot under its own room id, so `sessionroom console --room
<replay-id>` shows the session as it unfolded: phase and its clock, scene, holds and
extensions, devices with their availability and last reported state, BLS, vitals, alerts,
emergency and the recent timeline. Music is played on the room PC and is not replayed.
Notes appear on the timeline as `note`, never with their words (docs/safety.md: the state is a
retained topic).
"""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from typing import Any

from controller import __version__
from controller.api.state import (
    DeviceInfo,
    EmergencyInfo,
    MusicInfo,
    PhaseInfo,
    RoomState,
    SessionInfo,
    TimelineEntry,
    VitalsInfo,
)
from controller.config import Room, limits
from controller.config.settings import VitalsThresholds
from controller.engine.alerts import AlertBoard
from controller.engine.bls import BlsSet, bls_info
from controller.engine.phases import SessionRun
from controller.engine.record import TIMELINE_LENGTH, iso_wall
from controller.engine.safety import BlsRequest
from controller.engine.snapshot import device_info, phase_info, plan_phases
from controller.journal import Event, SessionMeta
from controller.research.describe import compact, describe, emergency_step
from controller.untrusted import MAX_INT_DIGITS, clean_text, finite_number, valid_text

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
        "check",
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
        self.thresholds = room.settings.safety.vitals if room is not None else VitalsThresholds()
        self.reset()

    def reset(self) -> None:
        """Forget everything: the replay starts the session again."""
        self.started = False
        self.ended = False
        self.run: SessionRun | None = None
        self.scene: str | None = None
        self.overrides: dict[str, Any] = {}
        self.available: dict[str, str] = {}
        self.device_state: dict[str, dict[str, Any]] = {}
        self.bls: dict[str, BlsSet] = {}
        self.vitals: dict[str, dict[str, Any]] = {}
        self.board = AlertBoard()
        self.emergency = EmergencyInfo()
        self.timeline: deque[TimelineEntry] = deque(maxlen=TIMELINE_LENGTH)

    def apply(self, event: Event) -> None:
        """Take one event into the state."""
        event = _valid_text(event)
        payload = event.payload if isinstance(event.payload, dict) else {}
        self.started = True
        if isinstance(payload.get("run"), dict):
            self.run = self._restore(payload["run"])
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

    def _restore(self, snapshot: dict[str, Any]) -> SessionRun | None:
        """The session's progress as the engine journaled it (None if it does not fit the plan)."""
        if self.plan is None:
            return None
        try:
            run = SessionRun.restore(self.plan, snapshot, guard_s=0.0)
            run.status(0.0)
        except (KeyError, TypeError, ValueError, IndexError, OverflowError):
            return None
        return run

    # ------------------------------------------------------------------ by kind

    def _session(self, event: Event, payload: dict[str, Any]) -> None:
        self.ended = payload.get("event") == "end"

    def _scene(self, event: Event, payload: dict[str, Any]) -> None:
        name = payload.get("name")
        self.scene = name if isinstance(name, str) else None

    def _state(self, event: Event, payload: dict[str, Any]) -> None:
        if event.device is not None:
            self.device_state[event.device] = payload

    def _availability(self, event: Event, payload: dict[str, Any]) -> None:
        if event.device is None:
            return
        available = str(payload.get("available"))
        self.available[event.device] = available
        device = self.room.devices.get(event.device) if self.room is not None else None
        self.board.device(event.device, device, available, event.wall_ns)

    def _command(self, event: Event, payload: dict[str, Any]) -> None:
        device = event.device or "?"
        if payload.get("bls") == "start":
            request = _bls_request(payload)
            if request is not None:
                self.bls[device] = BlsSet(device, request, event.t, self.meta.time_scale)
        elif payload.get("bls") in ("stop", "set complete"):
            self.bls.pop(device, None)

    def _vitals(self, event: Event, payload: dict[str, Any]) -> None:
        if event.device is not None:
            # as the engine received it: `read_json` takes no integer of over MAX_INT_DIGITS
            # digits (the alert board found 400 of them no float, with an OverflowError)
            reading = {
                key: value
                for key, value in payload.items()
                if not isinstance(value, int) or abs(value) < 10**MAX_INT_DIGITS
            }
            self.vitals[event.device] = reading
            self.board.vitals(event.device, reading, self.thresholds, event.wall_ns)

    def _alert(self, event: Event, payload: dict[str, Any]) -> None:
        if payload.get("key") == "journal":
            cleared = bool(payload.get("cleared"))
            self.board.journal(None if cleared else str(payload.get("message")), event.wall_ns)

    def _safety(self, event: Event, payload: dict[str, Any]) -> None:
        emergency = emergency_step(payload)
        if emergency == "start":
            self.emergency = EmergencyInfo(active=True, since=iso_wall(event.wall_ns))
        elif emergency == "immediate":
            self.emergency = self.emergency.model_copy(update={"immediate": True})
        elif emergency == "cleared":
            self.emergency = EmergencyInfo()
        elif event.device is not None:
            self.board.safety(event.device, str(payload.get("reason") or ""), event.wall_ns)

    def _broker(self, event: Event, payload: dict[str, Any]) -> None:
        self.board.broker(bool(payload.get("connected")), payload.get("reason"), event.wall_ns)

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
            plan_phases=plan_phases(self.plan) if in_session and self.plan is not None else [],
            phase=self._phase_info(t) if in_session else None,
            scene=self.scene,
            overrides=self.overrides,
            devices=self._devices(),
            music=NOT_REPLAYED,
            bls=bls_info(self.bls, t),
            vitals={
                device: VitalsInfo.model_validate(
                    {key: finite_number(reading.get(key)) for key in VitalsInfo.model_fields}
                )
                for device, reading in self.vitals.items()
            },
            alerts=self.board.values(),
            emergency=self.emergency,
            timeline=list(self.timeline),
        )

    def _phase_info(self, t: float) -> PhaseInfo | None:
        return None if self.run is None else phase_info(self.run, t)

    def _devices(self) -> dict[str, DeviceInfo]:
        configured = self.room.devices if self.room is not None else {}
        ids = sorted(set(configured) | set(self.available) | set(self.device_state))
        return {
            device_id: device_info(
                device_id,
                configured.get(device_id),
                available=self.available.get(device_id, "unknown"),
                state=self.device_state.get(device_id, {}),
            )
            for device_id in ids
        }


def _valid_text(event: Event) -> Event:
    """`event` with every lone surrogate in its payload (a JSON escape may spell one) as
    U+FFFD: the published state is JSON in UTF-8, which holds none (`valid_text`)."""
    text = compact(event.payload)
    if clean_text(text):
        return event
    return dataclasses.replace(event, payload=json.loads(valid_text(text)))


def _bls_request(payload: dict[str, Any]) -> BlsRequest | None:
    """The set a journaled BLS start ran (None for a record that does not describe one the
    safety gate lets through: its speed is within the hard range, its passes at most
    `BLS_PASSES_MAX`; beyond, a set's length overflowed to infinity as it was drawn)."""
    mode = payload.get("mode")
    speed = finite_number(payload.get("speed_hz"))
    passes = payload.get("passes")
    if type(passes) is not int or not 1 <= passes <= limits.BLS_PASSES_MAX:  # bool is no count
        passes = None
    seconds = _positive(payload.get("seconds"))
    if mode not in ("tactile", "visual", "audio") or speed is None:
        return None
    if not limits.BLS_SPEED_MIN_HZ <= speed <= limits.BLS_SPEED_MAX_HZ:
        return None
    if (passes is None) == (seconds is None):
        return None
    return BlsRequest(mode=mode, speed_hz=speed, passes=passes, seconds=seconds)


def _positive(value: object) -> float | None:
    """A number above 0 from a journal (`finite_number`), or None."""
    number = finite_number(value)
    return number if number is not None and number > 0 else None
