"""The engine of one room: commands in, device messages out, everything journaled.

`Engine` is synchronous and owns no I/O: the service (`controller.engine.service`) feeds it
commands, device messages and broker changes, calls `tick()` on the session clock, and
publishes what it queued (`take_outgoing`, `take_events`, `snapshot`). Tests drive it the
same way with a manual clock, tick by tick.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller import __version__
from controller.api.commands import (
    BadCommand,
    Bls,
    Command,
    Extend,
    Goto,
    Lights,
    Music,
    Note,
    SceneOverride,
    Start,
    Step,
    Volume,
    Vr,
    parse_command,
)
from controller.api.state import (
    Alert,
    BlsInfo,
    DeviceInfo,
    EmergencyInfo,
    MusicInfo,
    PhaseInfo,
    PlanPhase,
    Preflight,
    RoomState,
    SessionInfo,
    VitalsInfo,
)
from controller.config import Room
from controller.drivers.base import (
    Availability,
    BlsCommand,
    BlsDriver,
    Driver,
    LightDriver,
    Outgoing,
    VitalsDriver,
    VrCommand,
    VrDriver,
)
from controller.drivers.registry import make_driver
from controller.engine.bls import BlsSet
from controller.engine.clock import Clock
from controller.engine.fades import FadeEngine
from controller.engine.lights import LightControl
from controller.engine.local import MusicOutput, ToneOutput
from controller.engine.phases import CommandRefused, CueDue, PhaseChange, SessionRun
from controller.engine.record import Recorder, iso_wall
from controller.engine.resume import ResumeError, ResumePoint
from controller.engine.safety import BlsRequest, SafetyGate, Verdict, vitals_alerts
from controller.engine.targets import (
    BlsTarget,
    DeviceTarget,
    LightTarget,
    MusicTarget,
    VrTarget,
    scene_targets,
)
from controller.journal import Journal, JournalError

MAX_UPDATES_PER_S = 4.0
"""Stepped fades send at most this many messages per real second to one device."""

OVERRIDE_FADE_S = 1.0
"""Lights and volume overrides from the console fade over this many (real) seconds."""

RESUME_FADE_S = 2.0
"""After a crash the current scene is re-asserted over this many (real) seconds."""

JournalCloser = Callable[[Journal, bool], None]


def close_now(journal: Journal, cleanly: bool) -> None:
    """Close a journal on this thread (the service hands it to a worker thread instead)."""
    journal.close(ended_cleanly=cleanly)


@dataclass
class ActiveSession:
    journal: Journal
    run: SessionRun
    plan: str
    participant: str
    started_wall_ns: int
    origin: float
    """Clock time at session time 0."""


@dataclass
class Emergency:
    since: float
    immediate: bool = False
    since_wall: str = ""


@dataclass
class Overrides:
    """Operator overrides; they last until the next phase (or until cleared)."""

    scene: str | None = None
    lights: dict[str, float] = field(default_factory=dict)
    volume: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"scene": self.scene, "lights": dict(self.lights), "volume": self.volume}


class Engine:
    """The room's engine; see the module docstring for how it is driven."""

    def __init__(
        self,
        room: Room,
        *,
        clock: Clock,
        wall_ns: Callable[[], int] = time.time_ns,
        music: MusicOutput | None = None,
        tones: ToneOutput | None = None,
        music_problem: str | None = None,
        close_journal: JournalCloser = close_now,
        from_thread: Callable[[Callable[[], None]], object] = lambda call: call(),
    ) -> None:
        self.room = room
        self.limits = room.settings.safety
        self.scale = room.settings.time_scale
        self.clock = clock
        self.recorder = Recorder(wall_ns)
        self.gate = SafetyGate(self.limits)
        self.fades = FadeEngine(max_rate_hz=MAX_UPDATES_PER_S / self.scale)
        self.music = music
        self.music_problem = music_problem
        self.tones = tones
        self._close_journal = close_journal
        self._from_thread = from_thread
        self.drivers: dict[str, Driver] = {
            device.id: make_driver(device)
            for device in room.devices.values()
            if not device.is_local
        }
        self._listeners: dict[str, list[str]] = {}
        """Topic → the devices whose drivers read it (every driver topic is exact)."""
        for device_id, driver in self.drivers.items():
            for topic in driver.subscriptions():
                self._listeners.setdefault(topic, []).append(device_id)
        self.lights = LightControl(
            {key: d for key, d in self.drivers.items() if isinstance(d, LightDriver)},
            gate=self.gate,
            fades=self.fades,
            time_scale=self.scale,
            on_safety=self._safety,
        )
        self.session: ActiveSession | None = None
        self.scene: str | None = None
        self.overrides = Overrides()
        self.emergency: Emergency | None = None
        self.light_targets: dict[str, LightTarget] = {}
        self.light_transitions: dict[str, float] = {}
        self.music_target: MusicTarget | None = None
        self.volume = 0.0
        self.vr_sent: dict[str, VrCommand] = {}
        self.bls_sets: dict[str, BlsSet] = {}
        self.alerts: dict[str, Alert] = {}
        self.vitals: dict[str, dict[str, Any]] = {}
        self.journal_problem: str | None = None
        self.media_problem: str | None = None
        self._outbox: list[Outgoing] = []
        self._apply_scene(room.settings.idle_scene, None)

    # ================================================================== time

    def now(self) -> float:
        return self.clock.now()

    def session_t(self) -> float | None:
        if self.session is None:
            return None
        return self.now() - self.session.origin

    @property
    def phase_name(self) -> str | None:
        return None if self.session is None else self.session.run.phase.name

    # ================================================================== inputs

    def subscriptions(self) -> list[str]:
        return sorted(self._listeners)

    def command(self, command: Command) -> None:
        """Carry out an operator command, or raise CommandRefused with the reason."""
        handler = self._handlers().get(command.action)
        assert handler is not None  # parse_command only lets known actions through
        try:
            handler(command)
        except CommandRefused as refusal:
            self._record_operator(command, refused=str(refusal))
            raise
        if not isinstance(command, Note):
            self._record_operator(command)

    def device_message(self, topic: str, payload: bytes) -> None:
        """A message from a device topic: state, availability, or garbage (journaled)."""
        for device_id in self._listeners.get(topic, ()):
            driver = self.drivers[device_id]
            reception = driver.receive(topic, payload)
            if reception is None:
                continue
            if reception.kind == "availability":
                self._availability_changed(device_id, driver)
            elif reception.kind == "error":
                self._record("error", reception.data, device=device_id, topic=topic)
            elif isinstance(driver, VitalsDriver):
                self._vitals(device_id, reception.data, topic)
            else:
                self._record("state", reception.data, device=device_id, topic=topic)

    def broker_changed(self, connected: bool, reason: str | None, outage_s: float | None) -> None:
        """The broker connection went away or came back."""
        if connected:
            self.alerts.pop("broker", None)
            text = (
                "broker connected"
                if outage_s is None
                else f"broker back after {outage_s:.1f} s; re-asserting every device"
            )
            self._record("broker", {"connected": True, "outage_s": outage_s}, text=text)
            self._reassert_all()
        else:
            self._alert("broker", "broker", "critical", f"broker connection lost: {reason}")
            self._record("broker", {"connected": False, "reason": reason}, text="broker lost")

    def media_error(self, problem: str) -> None:
        """The music or tone player reports a problem (a missing track, a failed output).

        The same problem again (e.g. the output failing for each new track) is journaled once.
        """
        if problem == self.media_problem:
            return
        self.media_problem = problem
        self._record("error", {"media": problem}, text=f"audio: {problem}")

    def journal_alert_from_writer(self, problem: str | None) -> None:
        """The journal's writer thread reports; hand it over to the engine's own thread."""
        self._from_thread(lambda: self.journal_alert(problem))

    def journal_alert(self, problem: str | None) -> None:
        """The journal's writer reports a full/read-only disk (or recovery)."""
        self.journal_problem = problem
        if problem is None:
            self.alerts.pop("journal", None)
            message = "journal writing again; nothing was lost"
            self._record("alert", {"key": "journal", "cleared": True}, text=message)
        else:
            self._alert("journal", "journal", "critical", problem)
            self._record("alert", {"key": "journal", "message": problem}, text=problem)

    def resume(self, journal: Journal, point: ResumePoint) -> None:
        """Carry on the session a crashed engine left open in `journal`."""
        plan = self.room.plans.get(point.plan)
        if plan is None:
            raise ResumeError(f"the session's plan {point.plan!r} is no longer in the room")
        progress = point.progress
        run = SessionRun.restore(plan, progress["run"], guard_s=self.limits.advance_guard_s)
        t_now = point.t_at(self.recorder.wall_ns())
        self.session = ActiveSession(
            journal,
            run,
            point.plan,
            point.participant,
            journal.meta.started_wall_ns,
            origin=self.now() - t_now,
        )
        self.recorder.journal = journal
        overrides = progress.get("overrides") or {}
        self.overrides = Overrides(
            scene=overrides.get("scene"),
            lights=dict(overrides.get("lights") or {}),
            volume=overrides.get("volume"),
        )
        gap_s = t_now - point.last_t
        self._record(
            "resume",
            {"gap_s": gap_s, "from_t": point.last_t, "to_t": t_now, **self._progress()},
            text=f"engine resumed the session after a gap of {gap_s:.1f} s",
        )
        if progress.get("in_emergency"):
            self._emergency()
        else:
            scene = self.overrides.scene or progress.get("scene") or run.phase.scene
            self._apply_scene(scene, RESUME_FADE_S * self.scale)

    # ================================================================== outputs

    def take_outgoing(self) -> list[Outgoing]:
        taken, self._outbox = self._outbox, []
        return taken

    def take_events(self) -> list[dict[str, Any]]:
        return self.recorder.take()

    # ================================================================== the tick

    def tick(self) -> None:
        """Advance everything to the clock's now: phases, cues, fades, BLS sets, music."""
        now = self.now()
        if self.session is not None:
            t = now - self.session.origin
            for happening in self.session.run.due(t):
                if isinstance(happening, PhaseChange):
                    self._entered_phase(happening)
                else:
                    self._cue(happening)
        for device_id, target in self.light_targets.items():
            transition = self.light_transitions.get(device_id, 0.0)
            self._send(
                device_id,
                self.lights.apply(
                    device_id, self._with_override(device_id, target), transition, now
                ),
            )
        step_s = 1.0 / MAX_UPDATES_PER_S
        for (device_id, attribute), value in self.fades.tick(now):
            if attribute == "level":
                self._send(device_id, self.lights.step(device_id, value, step_s, now))
            elif attribute == "volume":
                self._set_volume_now(value, now)
        self._finish_bls_sets(now)
        if self.music is not None:
            self.music.tick(self._real(now))
        if self.tones is not None:
            self.tones.poll()

    # ================================================================== commands

    def _handlers(self) -> dict[str, Callable[[Any], None]]:
        return {
            "start": self._start,
            "next": self._step,
            "back": self._step,
            "hold": self._step,
            "release": self._step,
            "end": self._step,
            "emergency": self._step,
            "clear_emergency": self._step,
            "goto": self._goto,
            "extend": self._extend,
            "note": self._note,
            "scene": self._scene_override,
            "lights": self._lights,
            "volume": self._volume,
            "music": self._music,
            "bls": self._bls,
            "vr": self._vr,
        }

    def _running(self) -> ActiveSession:
        if self.session is None:
            raise CommandRefused("no session is running; start one first")
        return self.session

    def _not_in_emergency(self, what: str) -> None:
        if self.emergency is not None:
            raise CommandRefused(f"{what} is blocked during an emergency; clear it first")

    def _start(self, command: Start) -> None:
        if self.session is not None:
            raise CommandRefused(f"session {self.session.journal.session_id} is already running")
        self._not_in_emergency("starting a session")
        plan = self.room.plans.get(command.plan)
        if plan is None:
            raise CommandRefused(
                f"no plan named {command.plan!r} (plans: {', '.join(sorted(self.room.plans))})"
            )
        wall = self.recorder.wall_ns()
        try:
            journal = Journal.create(
                self.room.data_dir,
                room=self.room.room_id,
                plan=command.plan,
                participant=command.participant,
                time_scale=self.scale,
                wall_ns=wall,
                on_alert=self.journal_alert_from_writer,
            )
        except (JournalError, ValueError) as error:
            raise CommandRefused(f"cannot open the session journal: {error}") from None
        run, change = SessionRun.start(plan, guard_s=self.limits.advance_guard_s, now=0.0)
        self.session = ActiveSession(
            journal, run, command.plan, command.participant, wall, origin=self.now()
        )
        self.recorder.journal = journal
        self._record(
            "session",
            {
                "event": "start",
                "plan": command.plan,
                "participant": command.participant,
                "time_scale": self.scale,
                "engine_version": __version__,
            },
            text=f"session started: {plan.title}, participant {command.participant}",
        )
        for device_id, driver in self.drivers.items():
            self._record("availability", {"available": driver.availability.value}, device=device_id)
        self._entered_phase(change)

    def _step(self, command: Step) -> None:
        if command.action == "emergency":
            self._emergency()
            return
        if command.action == "clear_emergency":
            self._clear_emergency()
            return
        session = self._running()
        t = self.now() - session.origin
        if command.action == "end":
            self._end(session)
            return
        if command.action in ("next", "back"):
            self._not_in_emergency("changing phase")
            move = session.run.next if command.action == "next" else session.run.back
            self._entered_phase(move(t))
            return
        if command.action == "hold":
            session.run.hold()
        else:
            session.run.release()

    def _goto(self, command: Goto) -> None:
        session = self._running()
        self._not_in_emergency("changing phase")
        self._entered_phase(session.run.goto(command.phase, self.now() - session.origin))

    def _extend(self, command: Extend) -> None:
        self._running().run.extend(command.seconds)

    def _note(self, command: Note) -> None:
        self._running()
        # SAFETY.md: a note's words travel only on the command topic and into the journal;
        # the state's timeline (a retained topic) only says that a note was written.
        self._record("note", command.text, text="note added")

    def _scene_override(self, command: SceneOverride) -> None:
        self._not_in_emergency("applying a scene")
        if command.name not in self.room.scenes:
            raise CommandRefused(
                f"no scene named {command.name!r} (scenes: {', '.join(sorted(self.room.scenes))})"
            )
        self.overrides = Overrides(scene=command.name)
        self._apply_scene(command.name, None)

    def _lights(self, command: Lights) -> None:
        lights = [d.id for d in self.room.devices_of_kind("light")]
        if command.device is not None and command.device not in lights:
            raise CommandRefused(f"no light named {command.device!r} (lights: {', '.join(lights)})")
        now = self.now()
        for device_id in [command.device] if command.device else lights:
            if command.level is not None:
                level = command.level
            else:
                current = self.lights.level(device_id, now) or 0.0
                level = current + (command.delta or 0.0)
            self.overrides.lights[device_id] = min(1.0, max(0.0, level))
            self.light_transitions[device_id] = OVERRIDE_FADE_S * self.scale
            self.light_targets.setdefault(device_id, LightTarget(on=True))

    def _volume(self, command: Volume) -> None:
        self._music_available()
        base = self.overrides.volume if self.overrides.volume is not None else self._music_volume()
        level = command.level if command.level is not None else base + (command.delta or 0.0)
        self.overrides.volume = min(1.0, max(0.0, level))
        self._fade_volume(self.overrides.volume, OVERRIDE_FADE_S * self.scale)

    def _music(self, command: Music) -> None:
        music = self._music_available()
        real_now = self._real(self.now())
        if command.op == "fade_out":
            self._fade_out_music(command.seconds if command.seconds is not None else 5.0)
        elif command.op == "pause":
            music.pause()
        elif command.op == "resume":
            self._not_in_emergency("resuming music")
            music.resume(real_now)
        elif command.op == "skip":
            music.skip(real_now)
        else:
            music.previous(real_now)

    def _bls(self, command: Bls) -> None:
        bls_devices = [d.id for d in self.room.devices_of_kind("bls")]
        if command.device is not None and command.device not in bls_devices:
            raise CommandRefused(
                f"no BLS device named {command.device!r} (BLS devices: {', '.join(bls_devices)})"
            )
        if command.op == "stop":
            for device_id in [command.device] if command.device else list(self.bls_sets):
                self._stop_bls(device_id, "operator")
            return
        self._not_in_emergency("starting BLS")
        targets = [command.device] if command.device else self._scene_bls_devices()
        explicit_length = command.passes is not None or command.seconds is not None
        for device_id in targets:
            base = self._scene_bls_target(device_id)
            passes, seconds = (
                (command.passes, command.seconds)
                if explicit_length
                else (base.passes, base.seconds)
            )
            self._start_bls(
                device_id,
                BlsTarget(
                    running=True,
                    mode=command.mode or base.mode,
                    speed_hz=command.speed_hz or base.speed_hz,
                    tone_hz=command.tone_hz or base.tone_hz,
                    intensity=base.intensity if command.intensity is None else command.intensity,
                    passes=passes if seconds is None else None,
                    seconds=seconds,
                    colour=base.colour,
                    confirmed=command.confirm or (base.confirmed and not explicit_length),
                ),
            )

    def _scene_bls_target(self, device_id: str) -> BlsTarget:
        """The current scene's BLS settings for a device: defaults for an operator's set."""
        scene = self.room.scenes.get(self.scene or "")
        target = scene_targets(self.room, scene).get(device_id) if scene else None
        return target if isinstance(target, BlsTarget) else BlsTarget(running=False)

    def _vr(self, command: Vr) -> None:
        headsets = [d.id for d in self.room.devices_of_kind("vr")]
        if not headsets:
            raise CommandRefused("the room has no VR headset")
        if command.op in ("play", "resume"):
            self._not_in_emergency("starting VR content")
        if command.op == "play" and not command.content:
            raise CommandRefused("vr play needs content")
        for device_id in headsets:
            if command.op == "play":
                vr = VrCommand("play", content=command.content, volume=command.volume)
            else:
                vr = VrCommand(command.op)
            self._send_vr(device_id, vr, again=True)

    # ================================================================== phases and scenes

    def _entered_phase(self, change: PhaseChange) -> None:
        session = self._running()
        phases = session.run.plan.phases
        phase = phases[change.to_index]
        previous = None if change.from_index is None else phases[change.from_index]
        self.overrides = Overrides()
        self._record(
            "phase",
            at=change.at,
            phase=phase.name,
            payload={
                "from": previous.name if previous else None,
                "to": phase.name,
                "reason": change.reason,
                "planned_s": phase.duration,
                "advance": phase.advance,
                **self._progress(),
            },
            text=f"phase {phase.name} ({change.reason})",
        )
        # Several phases can pass in one tick (after a long gap): only the last one's scene
        # is applied, the others are journaled as they happened.
        if self.emergency is None and change.to_index == session.run.phase_index:
            self._apply_scene(phase.scene, phase.transition_s)

    def _apply_scene(self, name: str, transition_s: float | None) -> None:
        scene = self.room.scenes[name]
        fade = scene.fade_s if transition_s is None else transition_s
        self.scene = name
        self._record(
            "scene", {"name": name, "fade_s": fade}, text=f"scene {name} (fade {fade:g} s)"
        )
        for device_id, target in scene_targets(self.room, scene).items():
            self._apply_target(device_id, target, fade)

    def _apply_target(self, device_id: str, target: DeviceTarget, fade: float) -> None:
        if isinstance(target, LightTarget):
            self.light_targets[device_id] = target
            self.light_transitions[device_id] = target.fade_s if target.fade_s is not None else fade
        elif isinstance(target, MusicTarget):
            self._apply_music(target)
        elif isinstance(target, VrTarget):
            if target.action == "stop":
                self._send_vr(device_id, VrCommand("stop"))
            else:
                assert target.content is not None  # validated in the scene
                self._send_vr(device_id, VrCommand("play", target.content, target.volume))
        elif target.running:
            self._start_bls(device_id, target)
        elif device_id in self.bls_sets:
            self._stop_bls(device_id, "scene")

    def _with_override(self, device_id: str, target: LightTarget) -> LightTarget:
        level = self.overrides.lights.get(device_id)
        if level is None:
            return target
        return LightTarget(on=level > 0, level=level, kelvin=target.kelvin, rgb=target.rgb)

    def _cue(self, cue: CueDue) -> None:
        label = cue.cue.label or cue.cue.do.get("action")
        self._record(
            "operator",
            {"cue": cue.cue_index, "label": cue.cue.label, "do": cue.cue.do, **self._progress()},
            text=f"cue: {label}",
        )
        payload = {**cue.cue.do, "id": f"cue-{cue.phase_index}-{cue.cue_index}", "source": "cue"}
        try:
            self.command(parse_command(json.dumps(payload).encode()))
        except (BadCommand, CommandRefused) as problem:
            self._record(
                "error",
                {"cue": cue.cue_index, "error": str(problem)},
                text=f"cue failed: {problem}",
            )

    # ================================================================== music

    def _music_available(self) -> MusicOutput:
        if self.music is None:
            raise CommandRefused(self.music_problem or "music is not available on this room PC")
        return self.music

    def _music_volume(self) -> float:
        return self.music_target.volume if self.music_target else 0.0

    def _apply_music(self, target: MusicTarget) -> None:
        self.music_target = target
        if self.music is None:
            return
        if target.playlist is None:
            self._fade_out_music(target.crossfade_s / self.scale)
            return
        self.music.play(
            self.room.playlists[target.playlist],
            self._real(self.now()),
            volume=self.volume,
            crossfade_s=target.crossfade_s / self.scale,
            track_crossfade_s=target.track_crossfade_s / self.scale,
            order=target.order,
            loop=target.loop,
        )
        wanted = self.overrides.volume if self.overrides.volume is not None else target.volume
        self._fade_volume(wanted, target.crossfade_s)

    def _fade_volume(self, level: float, fade_s: float) -> None:
        """Fade the music's master volume to `level`; journaled as the music's target."""
        now = self.now()
        current = self.fades.value(("music", "volume"), now)
        if current is None:
            self.fades.set(("music", "volume"), 0.0, now)
            current = 0.0
        minimum = self.gate.shortest_volume_fade_s(current, level) * self.scale
        duration = max(fade_s, minimum)
        self.fades.fade_to(("music", "volume"), level, duration, now)
        self._record("command", {"volume": level, "fade_s": duration}, device="music")

    def _set_volume_now(self, level: float, now: float) -> None:
        verdict = self.gate.check_volume("music", level, now / self.scale)
        if verdict.status.value != "ok":
            self._safety("music", verdict)
        if verdict.value is not None and self.music is not None:
            self.volume = verdict.value
            step_s = 1.0 / MAX_UPDATES_PER_S
            self.music.set_volume(verdict.value, self._real(now), over_s=step_s)

    def _fade_out_music(self, seconds: float) -> None:
        """Fade the music to silence over `seconds` (real time), then stop it; 0 stops at once."""
        if self.music is None:
            return
        now = self.now()
        self.fades.set(("music", "volume"), 0.0, now, sent=True)
        self.volume = 0.0
        if seconds > 0:
            self.music.fade_out(seconds, self._real(now))
        else:
            self.music.stop(self._real(now))

    def _real(self, now: float) -> float:
        """Session time as real seconds, for what people hear."""
        return now / self.scale

    # ================================================================== VR

    def _send_vr(self, device_id: str, command: VrCommand, *, again: bool = False) -> None:
        """Send a VR command, unless it is what the headset was last told (and not `again`)."""
        driver = self.drivers.get(device_id)
        if not isinstance(driver, VrDriver) or (
            self.vr_sent.get(device_id) == command and not again
        ):
            return
        self.vr_sent[device_id] = command
        self._send(device_id, driver.command(command))

    # ================================================================== BLS

    def _scene_bls_devices(self) -> list[str]:
        scene = self.room.scenes.get(self.scene or "")
        named = [
            device.id
            for key in (scene.bls if scene else {})
            for device in self.room.resolve_target(key, "bls")
        ]
        return named or [d.id for d in self.room.devices_of_kind("bls")]

    def _start_bls(self, device_id: str, target: BlsTarget) -> None:
        device = self.room.devices[device_id]
        mode = "audio" if device.driver == "tones" else (device.mode or "tactile")
        speed = target.speed_hz if target.speed_hz is not None else 1.0
        passes = target.passes
        if passes is None and target.seconds is None:
            passes = self.limits.bls_set_max_passes
        request = BlsRequest(
            mode=mode,
            speed_hz=speed,
            passes=passes,
            seconds=target.seconds if passes is None else None,
            intensity=target.intensity if mode != "audio" else None,
            tone_hz=(target.tone_hz or 440.0) if mode == "audio" else None,
            confirmed=target.confirmed,
        )
        verdict = self.gate.check_bls(device_id, request)
        if verdict.status.value != "ok":
            self._safety(device_id, verdict)
        if verdict.value is None:
            raise CommandRefused(verdict.reason or "the BLS set was refused")
        allowed = verdict.value
        if device.driver == "tones":
            if self.tones is None:
                raise CommandRefused("bilateral tones are not available on this room PC")
            self.tones.start(allowed, volume=min(self.volume or 0.3, self.limits.volume_cap / 100))
        else:
            driver = self.drivers[device_id]
            assert isinstance(driver, BlsDriver)
            self._send(
                device_id,
                driver.command(
                    BlsCommand(
                        running=True,
                        mode=mode,
                        speed_hz=allowed.speed_hz,
                        intensity=allowed.intensity,
                        passes=allowed.passes,
                        duration_s=None
                        if allowed.seconds is None
                        else allowed.seconds / self.scale,
                        colour=target.colour,
                    )
                ),
            )
        self.bls_sets[device_id] = BlsSet(device_id, allowed, self.now())
        self._record(
            "command",
            {
                "bls": "start",
                "speed_hz": allowed.speed_hz,
                "passes": allowed.passes,
                "seconds": allowed.seconds,
                "mode": mode,
            },
            device=device_id,
            text=f"BLS started on {device_id} at {allowed.speed_hz:g} Hz",
        )

    def _stop_bls(self, device_id: str, why: str) -> None:
        device = self.room.devices[device_id]
        if device.driver == "tones":
            if self.tones is not None:
                self.tones.stop()
        else:
            driver = self.drivers[device_id]
            assert isinstance(driver, BlsDriver)
            self._send(device_id, driver.command(BlsCommand(running=False)))
        if self.bls_sets.pop(device_id, None) is not None:
            self._record(
                "command",
                {"bls": "stop", "why": why},
                device=device_id,
                text=f"BLS stopped on {device_id} ({why})",
            )

    def _finish_bls_sets(self, now: float) -> None:
        for device_id, bls_set in list(self.bls_sets.items()):
            if bls_set.done(now):
                del self.bls_sets[device_id]
                if self.room.devices[device_id].driver == "tones" and self.tones is not None:
                    self.tones.stop()
                self._record(
                    "command",
                    {"bls": "set complete"},
                    device=device_id,
                    text=f"BLS set complete on {device_id}",
                )

    # ================================================================== emergency

    def _emergency(self) -> None:
        now = self.now()
        fade_s = self.limits.emergency_fade_s
        if self.emergency is not None:
            if now - self.emergency.since < fade_s * self.scale and not self.emergency.immediate:
                self.emergency.immediate = True
                self._safe_scene(immediate=True)
                self._record("safety", {"emergency": "immediate"}, text="EMERGENCY: immediate")
            return
        self.emergency = Emergency(since=now, since_wall=iso_wall(self.recorder.wall_ns()))
        if self.session is not None and not self.session.run.held:
            self.session.run.hold()
        self._record(
            "safety",
            {"emergency": "start", **self._progress()},
            text="EMERGENCY: lights up, everything stops",
        )
        self._safe_scene(immediate=False)

    def _safe_scene(self, *, immediate: bool) -> None:
        for device in self.room.devices_of_kind("bls"):
            if device.id in self.bls_sets or device.driver != "tones":
                self._stop_bls(device.id, "emergency")
        for device_id in [d.id for d in self.room.devices_of_kind("vr")]:
            self._send_vr(device_id, VrCommand("stop"), again=True)
        self._fade_out_music(0.0 if immediate else self.limits.emergency_fade_s)
        self.overrides = Overrides()
        safe = self.room.scenes[self.room.settings.safe_scene]
        fade_lights = (
            0.0 if immediate else min(safe.fade_s, self.limits.emergency_fade_s) * self.scale
        )
        self.scene = self.room.settings.safe_scene
        for device_id, target in scene_targets(self.room, safe).items():
            if isinstance(target, LightTarget):
                self.light_targets[device_id] = target
                self.light_transitions[device_id] = fade_lights

    def _clear_emergency(self) -> None:
        if self.emergency is None:
            raise CommandRefused("there is no emergency to clear")
        self.emergency = None
        self._record("safety", {"emergency": "cleared"}, text="emergency cleared")
        if self.session is not None:
            phase = self.session.run.phase
            self._apply_scene(phase.scene, phase.transition_s)
        else:
            self._apply_scene(self.room.settings.idle_scene, None)

    # ================================================================== end of a session

    def _end(self, session: ActiveSession) -> None:
        self._record("session", {"event": "end"}, text="session ended")
        for device_id in list(self.bls_sets):
            self._stop_bls(device_id, "session ended")
        self.session = None
        self.recorder.journal = None
        self.overrides = Overrides()
        if self.emergency is None:
            self._apply_scene(self.room.settings.idle_scene, None)
        self._close_journal(session.journal, True)

    # ================================================================== devices

    def _availability_changed(self, device_id: str, driver: Driver) -> None:
        available = driver.availability
        device = self.room.devices[device_id]
        self._record(
            "availability",
            {"available": available.value},
            device=device_id,
            text=f"{device_id} {available.value}",
        )
        if available is Availability.OFFLINE:
            level = "critical" if device.essential else "warning"
            self._alert(
                f"device:{device_id}", "device", level, f"{device.label or device_id} is offline"
            )
        else:
            self.alerts.pop(f"device:{device_id}", None)
        if available is Availability.ONLINE:
            self._reassert(device_id)

    def _reassert(self, device_id: str) -> None:
        """A device (back) online gets its current target again."""
        self.lights.forget(device_id)
        last_vr = self.vr_sent.get(device_id)
        if last_vr is not None and last_vr.action == "stop":
            self._send_vr(device_id, last_vr, again=True)

    def _reassert_all(self) -> None:
        for device_id in self.drivers:
            self._reassert(device_id)
            self._send(device_id, self.drivers[device_id].query())

    def _vitals(self, device_id: str, reading: dict[str, Any], topic: str) -> None:
        self.vitals[device_id] = reading
        self._record("vitals", reading, device=device_id, topic=topic)
        keys = set()
        for alert in vitals_alerts(reading, self.limits.vitals):
            key = f"vitals:{device_id}:{alert.measure}"
            keys.add(key)
            if key not in self.alerts or self.alerts[key].message != alert.message:
                self._alert(key, "vitals", "critical", alert.message)
                self._record(
                    "alert",
                    {"key": key, "message": alert.message},
                    device=device_id,
                    text=alert.message,
                )
        measured = {
            "hr" if k == "hr" else "spo2" if k == "spo2" else "bp"
            for k in reading
            if k in ("hr", "spo2", "sys", "dia")
        }
        for key in [k for k in self.alerts if k.startswith(f"vitals:{device_id}:")]:
            if key not in keys and key.rsplit(":", 1)[1] in measured:
                del self.alerts[key]
                self._record(
                    "alert",
                    {"key": key, "cleared": True},
                    device=device_id,
                    text=f"alert cleared: {key}",
                )

    # ================================================================== recording

    def _send(self, device_id: str, messages: list[Outgoing]) -> None:
        for message in messages:
            self._outbox.append(message)
            self._record(
                "command", {"payload": message.payload}, topic=message.topic, device=device_id
            )

    def _record(
        self,
        kind: str,
        payload: Any,
        *,
        device: str | None = None,
        topic: str | None = None,
        text: str | None = None,
        at: float | None = None,
        phase: str | None = None,
    ) -> None:
        """Record an event now (or, for a phase change, at the session time and in the phase
        it took effect)."""
        self.recorder.record(
            kind,
            payload,
            t=self.session_t() if at is None else at,
            phase=phase or self.phase_name,
            device=device,
            topic=topic,
            text=text,
        )

    def _record_operator(self, command: Command, refused: str | None = None) -> None:
        params = command.model_dump(exclude={"id"}, exclude_none=True)
        payload = {**params, "refused": refused} if refused else {**params, **self._progress()}
        text = f"{command.action}" + (f" refused: {refused}" if refused else "")
        self._record("operator", payload, text=text)

    def _progress(self) -> dict[str, Any]:
        """What a resumed engine needs to continue where this one was."""
        if self.session is None:
            return {}
        return {
            "run": self.session.run.snapshot(),
            "scene": self.scene,
            "overrides": self.overrides.as_dict(),
            "in_emergency": self.emergency is not None,
        }

    def _safety(self, device_id: str, verdict: Verdict[Any]) -> None:
        self._record("safety", verdict.payload(), device=device_id, text=verdict.reason)
        self._alert(f"safety:{device_id}", "safety", "warning", verdict.reason or "safety limit")

    def _alert(self, key: str, kind: str, level: str, message: str) -> None:
        existing = self.alerts.get(key)
        since = existing.since if existing else iso_wall(self.recorder.wall_ns())
        self.alerts[key] = Alert(key=key, kind=kind, level=level, message=message, since=since)

    # ================================================================== state

    def snapshot(self) -> RoomState:
        now = self.now()
        session = self.session
        info = None
        phase = None
        phases: list[PlanPhase] = []
        if session is not None:
            t = now - session.origin
            run = session.run
            status = run.status(t)
            info = SessionInfo(
                id=session.journal.session_id,
                plan=session.plan,
                plan_title=run.plan.title,
                participant=session.participant,
                started=iso_wall(session.started_wall_ns),
                t=t,
            )
            phase = PhaseInfo(
                name=status.name,
                index=status.index,
                started_t=status.started,
                planned_s=status.planned_s,
                elapsed_s=status.elapsed_s,
                held=status.held,
                extended_s=status.extended_s,
                advance=status.advance,
                next=status.next_phase,
            )
            phases = [
                PlanPhase(name=p.name, scene=p.scene, planned_s=p.duration, advance=p.advance)
                for p in run.plan.phases
            ]
        return RoomState(
            room=self.room.room_id,
            name=self.room.settings.name,
            engine_version=__version__,
            updated=iso_wall(self.recorder.wall_ns()),
            time_scale=self.scale,
            plans={name: plan.title for name, plan in self.room.plans.items()},
            session=info,
            plan_phases=phases,
            phase=phase,
            scene=self.scene,
            overrides=self.overrides.as_dict(),
            devices=self._device_infos(now),
            music=self._music_info(),
            bls=self._bls_info(now),
            vitals={key: VitalsInfo.model_validate(value) for key, value in self.vitals.items()},
            alerts=list(self.alerts.values()),
            emergency=EmergencyInfo(
                active=self.emergency is not None,
                since=self.emergency.since_wall if self.emergency else None,
                immediate=self.emergency.immediate if self.emergency else False,
            ),
            timeline=list(self.recorder.timeline),
            preflight=self._preflight(),
        )

    def _device_infos(self, now: float) -> dict[str, DeviceInfo]:
        infos = {}
        for device in self.room.devices.values():
            driver = self.drivers.get(device.id)
            if driver is None:
                available = "online" if self._local_available(device.driver) else "offline"
                state: dict[str, Any] = {}
            else:
                available = driver.availability.value
                state = dict(driver.state)
            target: dict[str, Any] | None = None
            light = self.light_targets.get(device.id)
            if light is not None:
                target = {"level": self.lights.level(device.id, now), "on": light.on}
            infos[device.id] = DeviceInfo(
                kind=device.kind,
                driver=device.driver,
                label=device.label or device.id,
                available=available,
                essential=device.essential,
                state=state,
                target=target,
            )
        return infos

    def _local_available(self, driver: str) -> bool:
        return (self.music if driver == "vlc" else self.tones) is not None

    def _music_info(self) -> MusicInfo:
        if self.music is None:
            return MusicInfo(available=False, status="unavailable", error=self.music_problem)
        playing = self.music.snapshot(self._real(self.now()))
        status = playing.state if playing.state in ("playing", "paused", "stopped") else "playing"
        return MusicInfo(
            status=status,
            playlist=playing.playlist,
            title=playing.title,
            position_s=playing.position_s,
            duration_s=playing.duration_s,
            volume=playing.volume,
            error=self.media_problem,
        )

    def _bls_info(self, now: float) -> BlsInfo:
        if not self.bls_sets:
            return BlsInfo()
        first = next(iter(self.bls_sets.values()))
        request = first.request
        return BlsInfo(
            running=True,
            devices=sorted(self.bls_sets),
            mode=request.mode,
            speed_hz=request.speed_hz,
            tone_hz=request.tone_hz,
            intensity=request.intensity,
            pass_count=first.pass_count(now),
            passes=request.passes,
            set_elapsed_s=first.elapsed_s(now),
            seconds=request.seconds,
        )

    def _preflight(self) -> Preflight:
        data_dir = self.room.data_dir
        folder = data_dir if data_dir.exists() else data_dir.parent
        writable = os.access(folder, os.W_OK) and self.journal_problem is None
        missing = sorted(
            name
            for name, playlist in self.room.playlists.items()
            if any(not track.path.exists() for track in playlist.tracks)
        )
        return Preflight(
            journal_writable=writable,
            journal_problem=self.journal_problem
            or (None if writable else f"{folder} is not writable"),
            playlists_missing=missing,
        )
