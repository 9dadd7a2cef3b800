"""The engine of one room: commands in, device messages out, everything journaled.

`Engine` is synchronous and owns no I/O: the service (`controller.engine.service`) feeds it
commands, device messages and broker changes, calls `tick()` on the session clock, and
publishes what it queued (`take_outgoing`, `take_events`, `snapshot`). Tests drive it the
same way with a manual clock, tick by tick.

The engine keeps dispatch, phases, scenes and the emergency; one module per medium does
the rest (`lights`, `music`, `bls`, `vr`, `alerts`, `checks` for the vitals checks), and
every message to the room leaves through the one output path (`output.RoomOutput`: the
safety gate, the emergency latch, the journal). While an emergency is active the engine
accepts only what docs/emergency.md lists; everything else is refused with the reason.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from controller import __version__
from controller.api.commands import (
    BadCommand,
    Bls,
    Command,
    End,
    Extend,
    Goto,
    Lights,
    Music,
    Note,
    Recovery,
    SceneOverride,
    Start,
    Step,
    Volume,
    Vr,
    cue_command,
)
from controller.api.state import (
    EmergencyInfo,
    Preflight,
    RoomState,
    SessionInfo,
    VitalsInfo,
)
from controller.config import Room
from controller.drivers.base import (
    Availability,
    Driver,
    LightDriver,
    VitalsDriver,
    VrCommand,
    VrDriver,
)
from controller.drivers.registry import make_driver
from controller.engine.alerts import AlertBoard
from controller.engine.bls import NO_TONE_PLAYER, BlsControl
from controller.engine.checks import VitalsChecks
from controller.engine.clock import Clock
from controller.engine.fades import FadeEngine
from controller.engine.intake import INBOX, DeviceIntake, Drops
from controller.engine.lights import LightControl, wanted_level
from controller.engine.local import MusicOutput, ToneOutput
from controller.engine.music import MusicControl
from controller.engine.output import LATCHED, GatedMessage, RoomOutput, changed_a_screen
from controller.engine.phases import CommandRefused, CueDue, PhaseChange, SessionRun
from controller.engine.record import Recorder, iso_wall
from controller.engine.resume import ResumeError, ResumePoint
from controller.engine.safety import Rule, SafetyGate, Verdict
from controller.engine.snapshot import device_info, phase_info, plan_phases
from controller.engine.targets import (
    BlsTarget,
    DeviceTarget,
    LightTarget,
    MusicTarget,
    VrTarget,
    scene_targets,
)
from controller.engine.volume import VolumeFades
from controller.engine.vr import VrControl
from controller.journal import Journal, JournalError

log = logging.getLogger(__name__)

MAX_UPDATES_PER_S = 4.0
"""Stepped fades send at most this many messages per real second to one device."""

OVERRIDE_FADE_S = 1.0
"""Lights and volume overrides from the console fade over this many (real) seconds."""

RESUME_FADE_S = 2.0
"""After a crash the current scene is re-asserted over this many (real) seconds."""

CONFIRM_AFTER_S = 1.0
"""The emergency's safe light targets, and its stops to the headsets and BLS devices, go out
once more this long (real) after the first: a stray command that crossed them on the broker
(another controller, a replay stopping) is undone even where a device reports nothing."""

WHITE_RGB = (255, 255, 255)
WHITE_KELVIN = 4000
"""The colour the lights-up gives a colour light its safe scene names no colour for: its
white at this colour temperature (within its range) when it has one, else RGB white."""

FLOOR_TOLERANCE = 0.02
"""A light reporting this far below its safe level is where it should be (device rounding)."""

FLOOR_RESEND_S = 1.0
"""While latched, a light that reports itself below its safe level gets its safe target again
at most this often (real seconds), a headset or BLS device that reports itself playing its
stop; one that reports it again sooner gets it when this is over."""

OVERTAKEN = (
    "an emergency pressed after this clear was sent went ahead of it and stands; "
    "clear it again if the room is safe"
)
"""Why a `clear_emergency` an emergency overtook on its way in is refused."""

LATCHED_CUE = "emergency active"
"""Why a cue due during the latch is skipped (journaled with it)."""

FAULT_REPEAT_S = 60.0
"""The same engine fault is journaled at most once this often (real seconds)."""

JournalCloser = Callable[[Journal, bool], None]


def _reports_failure(failure: str, shared: bool) -> str:
    if shared:
        return (
            "device reports (vitals, device states) come in on the engine's own connection, "
            f"theirs being down ({failure}): a flood of device reports can hold up commands"
        )
    return f"device reports (vitals, device states) are not coming in: {failure}"


def close_now(journal: Journal, cleanly: bool) -> None:
    """Close a journal on this thread (the service hands it to a worker thread instead)."""
    journal.close(ended_cleanly=cleanly)


MARKER_SINCE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
"""How the emergency marker writes its start (`iso_wall`)."""
MARKER_MAX_BYTES = 4096
"""The emergency marker holds one short JSON object; more is not read."""
MARKER_ALERT = "marker"
"""The alert of an emergency marker that could not be read at the start (until cleared)."""

DISK_LOOK_EVERY_S = 5.0
"""Real seconds between the preflight's looks at the disk (the data folder writable, every
playlist's files there): a look is a system call per file and folder, and the state is
published after every command, so it reuses the last look this long."""
DISK_SILENT_S = 5.0
"""Real seconds a look at the disk may go unanswered before the preflight says the data folder
does not answer (a network mount whose server is gone, a failing disk)."""

VR_RETRY_S = 1.0
"""Real seconds after which a scene's VR play or brightness the flash rate refused is tried
again: a screen still for a second takes any change (docs/safety.md#flash-rate)."""

HELD_BACK_ALERT_S = 30.0
"""A headset whose volume steps or content, or a light bar whose set's start, were lost
(`sends_lost`) is shown as a warning until this many real seconds have passed without
another loss."""


@dataclass(frozen=True)
class HeldBack:
    """How a device's lost messages are told (`Engine.sends_lost`)."""

    key: str
    """The alert's key before `:<device>`, and the journal's word for what follows."""
    what: str
    """What did not reach the broker, in the journal."""
    shown: str
    """The same, in the alert."""


RETAINED_READING = "a retained reading is an old one; ignored (sensors must not retain readings)"


def allowed_while_latched(command: Command) -> bool:
    """What an active emergency still accepts (docs/emergency.md): itself, clear, notes, end
    and stops."""
    if command.action in ("emergency", "clear_emergency", "note", "end", "recovery"):
        return True
    if isinstance(command, Bls):
        return command.op == "stop"
    if isinstance(command, Vr):
        return command.op in ("stop", "pause")
    if isinstance(command, Music):
        return command.op in ("pause", "fade_out")
    return False


@dataclass
class ActiveSession:
    journal: Journal
    run: SessionRun
    plan: str
    participant: str
    started_wall_ns: int
    origin: float
    """Clock time at session time 0."""


@dataclass(frozen=True)
class ResumedOverrides:
    """The operator's overrides a resumed session carries on with, checked."""

    scene: str | None
    lights: dict[str, float]
    volume: float | None
    scene_to_apply: str
    """The override scene, else the session's last scene, else its phase's."""


@dataclass
class Emergency:
    since: float
    immediate: bool = False
    since_wall: str = ""
    confirmed: bool = False
    """Whether the safe targets went out a second time, `CONFIRM_AFTER_S` after the first."""


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
        on_disk: Callable[[Callable[[], None]], object] = lambda chore: chore(),
        on_look: Callable[[Callable[[], None]], object] | None = None,
        marker: Marker | None = None,
    ) -> None:
        """`from_thread` runs a call on the engine's thread from another; `on_disk` runs the
        engine's disk chores (the emergency marker) one after the other away from it, so that
        a disk that hangs never holds up a device message (both run the call at once by
        default, as a test on one thread wants). `on_look` runs the preflight's looks at the
        disk (by default as `on_disk`): apart from the marker, a look that hangs on a
        playlist's file (a music mount that is gone) never holds the marker up. `marker`: what
        the room's emergency marker says, read away from this thread (`read_marker`, which runs
        here when it is not given); one that could not be read starts the room latched."""
        self.room = room
        self.limits = room.settings.safety
        self.scale = room.settings.time_scale
        self.clock = clock
        self.recorder = Recorder(wall_ns)
        self.gate = SafetyGate(self.limits)
        self.gate.history_unknown(self._real(clock.now()))  # what the engine before sent
        self._scene_owed: tuple[str, float | None] | None = (room.settings.idle_scene, None)
        """The scene (and fade) the room takes once settled: idle, a resumed session's, or
        the last one asked for before then; None once applied, or while latched."""
        self._spoken_to: set[str] = set()
        """Devices the operator gave a word while a scene was owed: it leaves them be."""
        self.fades = FadeEngine(max_rate_hz=MAX_UPDATES_PER_S / self.scale)
        self._close_journal = close_journal
        self._from_thread = from_thread
        self._on_disk = on_disk
        self._on_look = on_disk if on_look is None else on_look
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
        self.output = RoomOutput(
            self.drivers,
            self.gate,
            time_scale=self.scale,
            record=self._record,
            on_safety=self._safety,
            music=music,
            tones=tones,
        )
        self.volumes = VolumeFades(
            self.fades,
            self.output,
            self.gate,
            time_scale=self.scale,
            step_s=1.0 / MAX_UPDATES_PER_S,
        )
        self.lights = LightControl(
            {key: d for key, d in self.drivers.items() if isinstance(d, LightDriver)},
            output=self.output,
            fades=self.fades,
            time_scale=self.scale,
            on_safety=self._safety,
        )
        self.music = MusicControl(
            room,
            music,
            output=self.output,
            volumes=self.volumes,
            record=self._record,
            time_scale=self.scale,
            problem=music_problem,
        )
        self.bls = BlsControl(room, output=self.output, volumes=self.volumes, record=self._record)
        self.vr = VrControl(
            {key: d for key, d in self.drivers.items() if isinstance(d, VrDriver)},
            output=self.output,
            volumes=self.volumes,
        )
        self.tones = tones
        self.checks = VitalsChecks(
            room, output=self.output, record=self._record, time_scale=self.scale
        )
        self.board = AlertBoard()
        self.intake = DeviceIntake()
        self.session: ActiveSession | None = None
        self.scene: str | None = None
        self.scene_override: str | None = None
        self.volume_override: float | None = None
        self._music_due: MusicTarget | None = None
        """A scene's music, started on the next tick: VLC's calls take milliseconds, so the
        scene's device messages leave first (see `_apply_scene`)."""
        self.emergency: Emergency | None = None
        self.vitals: dict[str, dict[str, Any]] = {}
        self.journal_problem: str | None = None
        self._disk: DiskLook | None = None
        self._disk_asked: float | None = None
        """Real time the look at the disk under way was asked for; None when none is."""
        self._disk_folder: tuple[Path, bool] | None = None
        """What the look under way saw of the data folder (it and whether writable), once it
        answered; the playlists' files are looked at after it."""
        self._disk_playlist: str | None = None
        """The playlist whose files the look under way is at (they may be on another disk)."""
        self._faults: dict[str, float] = {}
        """Where and which fault → real time it was last journaled (the monotonic clock: a
        wall clock set back or forward must not silence nor repeat it)."""
        self._floor_reasserted: dict[str, float] = {}
        """Device → real time its safe target (a light's) or stop (a headset's, a BLS
        device's) was last sent again during the latch."""
        self._vr_owed: dict[str, tuple[VrTarget, float]] = {}
        """Headset → the scene's target the flash rate refused (its play or brightness), and
        the session time it is tried again (`VR_RETRY_S` later)."""
        self._broker_up = False
        """Whether the bus's connection is up (`broker_changed`)."""
        self._reports_failure: str | None = None
        """Why the bus's connection for device reports is down (`reports_changed`)."""
        self._reports_shared = False
        """While `_reports_failure`: the reports come in on the engine's own connection."""
        self._held_back: dict[str, float] = {}
        """Alert (`volume:`/`screen:<headset>`, `bls:<light bar>`) → real time its device's
        messages were last lost (`sends_lost`; the warning stands till `HELD_BACK_ALERT_S`
        after)."""
        self._floor_owed: dict[str, float] = {}
        """Device → real time its safe target or stop is owed again: it reported the latch
        broken sooner than FLOOR_RESEND_S after the last re-send (`_hold_the_latch`)."""
        self._safe_colours: dict[str, float] = {}
        """Light → how much of its full output the colour of its safe target leaves
        (`LightDriver.colour_shares`), for a light whose safe target gives an RGB colour: while
        latched, one that reports a darker colour gets its safe target again."""
        self.latch_file = latch_path(room)
        """Present while an emergency is active: a restart outside a session stays latched. A
        link in its place (the press does not write through one) stands for it all the same."""
        marker = read_marker(self.latch_file) if marker is None else marker
        if marker.present or marker.unread is not None:
            self._emergency(since_wall=marker.since)
        if marker.unread is not None:  # an emergency it may carry is never dropped unseen
            message = (
                f"the emergency marker could not be read ({marker.unread}): the room started "
                "latched; clear the emergency once the room is safe"
            )
            self.board.raise_alert(
                MARKER_ALERT, "safety", "critical", message, self.recorder.wall_ns()
            )
            self._record("alert", {"key": MARKER_ALERT, "message": message}, text=message)
        # else the idle scene, or a resumed session's, once settled (`tick`)

    # ================================================================== time

    def now(self) -> float:
        return self.clock.now()

    def _real(self, session_s: float) -> float:
        """Session seconds as real seconds (a rehearsal runs faster)."""
        return session_s / self.scale

    def session_t(self) -> float | None:
        if self.session is None:
            return None
        return self.now() - self.session.origin

    def seconds_to_work(self) -> float:
        """Real seconds until `tick` next has something to do, if no input comes first: 0
        while anything moves (a scene's music still to start, a fade or volume ramp, a light
        the gate holds back, a BLS set or its device's stop still owed, the music between
        states), else until the next cue, automatic advance, vitals check, emergency
        confirmation or safe light target owed again (inf when none is ahead)."""
        now = self.now()
        if (
            self._music_due is not None
            or self.fades.pending(now)
            or self.lights.pending()
            or self.bls.sets
            or self.bls.stops_owed
            or self.music.moving(now)
        ):
            return 0.0
        moments = [math.inf]
        if self.session is not None:
            origin = self.session.origin
            moments += [origin + self.session.run.next_due(), origin + self.checks.next_due()]
        emergency = self.emergency
        if emergency is not None and not emergency.confirmed:
            moments.append(emergency.since + CONFIRM_AFTER_S * self.scale)
        moments += [at * self.scale for at in self._floor_owed.values()]
        moments += [at for _target, at in self._vr_owed.values()]
        if self._scene_owed is not None:
            moments.append(self.gate.unseen_until * self.scale)
        return max(0.0, self._real(min(moments) - now))

    @property
    def phase_name(self) -> str | None:
        return None if self.session is None else self.session.run.phase.name

    # ================================================================== inputs

    def subscriptions(self) -> list[str]:
        return sorted(self._listeners)

    def command(
        self,
        command: Command,
        *,
        overtaken: bool = False,
        opened: Journal | CommandRefused | None = None,
    ) -> None:
        """Carry out an operator command, or raise CommandRefused with the reason.

        `overtaken`: an emergency sent after this command was carried out before it (an
        emergency goes ahead of every command queued before it). A `clear_emergency` so
        overtaken is refused: carried out now, it would undo the later press.
        `opened`: a start's journal, opened away from this thread (`journal_to_open`), or why
        it could not be; a start without one opens its journal here.
        """
        handler = self._handlers().get(command.action)
        assert handler is not None  # parse_command only lets known actions through
        if opened is not None:
            assert isinstance(command, Start)
            handler = functools.partial(self._start, opened=opened)
        try:
            if self.emergency is not None and not allowed_while_latched(command):
                raise CommandRefused(f"{LATCHED} ({describe_command(command)} refused)")
            if overtaken and command.action == "clear_emergency":
                raise CommandRefused(OVERTAKEN)
            handler(command)
        except CommandRefused as refusal:
            self._record_operator(command, refused=str(refusal))
            raise
        if not isinstance(command, Note):
            self._record_operator(command)

    def device_message(self, topic: str, payload: bytes, *, retained: bool = False) -> None:
        """A message from a device topic: state, availability, or garbage.

        Only what the device's driver validated enters the engine's state. A message beyond
        the device's rate is dropped unread; dropped messages are journaled as one `error`
        per device a minute (`controller.engine.intake`). A vitals reading the broker retained
        is an old one, however fresh it looks (the broker hands it over on every connect):
        journaled as an error, never taken as a reading
        (docs/device-protocols.md#vitals-convention).
        """
        now = self._real(self.now())
        for device_id in self._listeners.get(topic, ()):
            if not self.intake.admit(device_id, now):
                rate = f"{self.intake.rate_per_s:g}"
                reason = f"{topic}: more than {rate} messages a second; dropped unread"
                self._dropped(self.intake.dropped(device_id, reason, now, flooding=True))
                self._flooding(device_id)
                continue
            driver = self.drivers[device_id]
            if retained and isinstance(driver, VitalsDriver) and topic in driver.state_topics():
                self._record("error", {"error": RETAINED_READING}, device=device_id, topic=topic)
                continue
            reception = driver.receive(topic, payload)
            if reception is None:
                continue
            if reception.kind == "availability":
                self._availability_changed(device_id, driver)
            elif reception.kind == "error":
                reason = str(reception.data["error"])
                self._dropped(self.intake.dropped(device_id, reason, now, flooding=False))
            elif isinstance(driver, VitalsDriver):
                self._vitals(device_id, reception.data, topic)
            else:
                self._record("state", reception.data, device=device_id, topic=topic)
                if isinstance(driver, VrDriver) and reception.data.get("status") == "idle":
                    self.output.screen_ended(device_id, self.now())
                self._hold_the_latch(device_id, reception.data)

    def message_dropped(self, topic: str, reason: str, *, flooding: bool = True) -> None:
        """The bus dropped a message on arrival (too large, or its inbox lane was full):
        journaled like a device's dropped message, once a minute per device (or inbox). Only
        a full lane (`flooding`) is a flood: one message too large holds nothing up."""
        now = self._real(self.now())
        for source in self._listeners.get(topic) or [INBOX]:
            self._dropped(self.intake.dropped(source, f"{topic}: {reason}", now, flooding=flooding))
            if flooding:
                self._flooding(source)

    def sends_lost(self, unsent: Mapping[str, Sequence[str]]) -> None:
        """A device's messages of a chain (`GatedMessage.chain`) were dropped unsent, or held up
        on the way (the broker away, slow or stalled); `unsent` maps each such device to the
        payloads of those that did not go (none when they all went, late). A headset whose
        screen an unsent message would have changed (a play, a stop, a brightness) is stopped,
        and its scene's content played again (`_screen_lost`); one that lost volume steps
        only, or had messages go late, counts as silent, its content fading in again
        (`VrControl.volume_lost`); a light bar a message of which did not go is told to stop
        again, its set stopped (a start held up may yet reach it). Each is journaled with
        what did not go, and is a warning until `HELD_BACK_ALERT_S` passes without another
        loss. What went late to a light bar is no loss: it went, alone."""
        now = self.now()
        for device_id, payloads in sorted(unsent.items()):
            if device_id in self.vr.ids and changed_a_screen(self.drivers[device_id], payloads):
                then = self._screen_lost(device_id, now)
                held = HeldBack("screen", "what changed the screen", "what changed its screen")
            elif device_id in self.vr.ids:
                fading = self.vr.volume_lost(device_id, now)
                then = "content fades in again from silence" if fading else "counted as silent"
                held = HeldBack("volume", "volume steps", "volume held back, its steps")
            elif payloads and device_id in self.bls.devices:
                running = device_id in self.bls.sets
                self.bls.stop(device_id, "its start did not reach the broker in time", now)
                then = "the set is stopped" if running else "the bar is told to stop again"
                held = HeldBack("bls", "a BLS set's start", "a set held back, its start")
            else:
                continue
            self._held_back[f"{held.key}:{device_id}"] = self._real(now)
            label = self.room.devices[device_id].label or device_id
            self.board.raise_alert(
                f"{held.key}:{device_id}",
                "device",
                "warning",
                f"{label}: {held.shown} did not reach the broker in time "
                f"(the broker away or slow); {then}",
                self.recorder.wall_ns(),
            )
            late = f"{held.what} did not reach the broker in time"
            self._record(
                "error",
                {"error": late, held.key: then, "unsent": list(payloads)},
                device=device_id,
                text=f"{device_id}: {late}; {then}",
            )

    def _screen_lost(self, device_id: str, now: float) -> str:
        """What changed a headset's screen did not go on time: it is stopped (a play held up on
        the way may yet reach it) and told the brightness last judged for it (of its falls
        and rises, a fall that went late may be all it got), and the scene's content,
        if that was what it was told last or is owed it (the flash rate refused its play), is
        played again `VR_RETRY_S` later, judged by the flash rate then; what it was told by
        the operator waits for the operator."""
        last = self.vr.sent.get(device_id)
        scene = self.room.scenes.get(self._room_scene or "")
        target = scene_targets(self.room, scene).get(device_id) if scene else None
        self.vr.stop(device_id, now)
        self.output.brightness_again(device_id, now)
        owed = self._vr_owed.pop(device_id, None)  # the scene's, the flash rate refused it
        if owed is None and (
            isinstance(target, VrTarget)
            and target.action == "play"
            and last is not None
            and last.action == "play"
            and last.content == target.content
        ):
            owed = (target, now)
        if owed is not None and self.emergency is None:
            self._vr_owed[device_id] = (owed[0], max(owed[1], now + VR_RETRY_S * self.scale))
            return "its content is stopped; the scene's plays again in a second"
        return "its content is stopped"

    def reports_changed(self, failure: str | None, *, shared: bool = False) -> None:
        """The bus's connection for device reports has been down a while (`failure`): no
        reading, availability or vitals comes in, which a therapist must know
        (docs/robustness.md#a-flood-of-device-reports), until they come in on the engine's
        own connection, which listens for them meanwhile (`shared`, a warning: a flood of
        them can hold up commands); or it is (back) up (None). Each time either connection
        starts listening while the engine's stayed up, every device is asked for its state:
        what they reported meanwhile was missed, and an answer shows they come in (when both
        connect, the bus has the intake subscribed before it says it is up, and
        `broker_changed` asks)."""
        was = (self._reports_failure, self._reports_shared)
        self._reports_failure = failure
        self._reports_shared = shared and failure is not None
        self._show_reports_failure()
        if not self._reports_shared and self._broker_up:
            for device_id in self.drivers:
                self.output.query(device_id)
        if failure is None:
            if was[0] is not None:
                text = "device reports come in again"
                self._record("alert", {"key": "intake", "cleared": True}, text=text)
        elif was != (failure, self._reports_shared):
            message = _reports_failure(failure, self._reports_shared)
            self._record("alert", {"key": "intake", "message": message}, text=message)

    def _show_reports_failure(self) -> None:
        """The reports' connection failing is an alert of its own while the broker itself
        is there; while it is not, the broker's alert says it all. Critical while no report
        comes in, and while they come in on the engine's connection with something flooding
        it (an `input:` alert stands): then commands wait behind the flood."""
        failure = self._reports_failure
        if failure is None or "broker" in self.board.alerts:
            self.board.clear("intake")
            return
        shared = self._reports_shared
        flooded = any(key.startswith("input:") for key in self.board.alerts)
        level = "warning" if shared and not flooded else "critical"
        message = _reports_failure(failure, shared)
        self.board.raise_alert("intake", "broker", level, message, self.recorder.wall_ns())

    def broker_changed(self, connected: bool, reason: str | None, outage_s: float | None) -> None:
        """The broker connection went away or came back."""
        self.board.broker(connected, reason, self.recorder.wall_ns())
        self._broker_up = connected
        self._show_reports_failure()
        if connected:
            text = (
                "broker connected"
                if outage_s is None
                else f"broker back after {outage_s:.1f} s; re-asserting every device"
            )
            self._record("broker", {"connected": True, "outage_s": outage_s}, text=text)
            self._reassert_all()
        else:
            self._record("broker", {"connected": False, "reason": reason}, text="broker lost")

    def media_error(self, problem: str) -> None:
        """The music or tone player reports a problem (a missing track, a failed output).

        The same problem again (e.g. the output failing for each new track) is journaled once.
        """
        if self.music.reported(problem):
            self._record("error", {"media": problem}, text=f"audio: {problem}")

    def journal_alert_from_writer(self, problem: str | None) -> None:
        """The journal's writer thread reports; hand it over to the engine's own thread."""
        self._from_thread(lambda: self.journal_alert(problem))

    def journal_alert(self, problem: str | None) -> None:
        """The journal's writer reports a full/read-only disk (or recovery)."""
        self.journal_problem = problem
        self.board.journal(problem, self.recorder.wall_ns())
        if problem is None:
            shed = {} if self.session is None else self.session.journal.take_shed()
            message = "journal writing again; nothing was lost"
            payload: dict[str, Any] = {"key": "journal", "cleared": True}
            if shed:
                listed = ", ".join(f"{count} {kind}" for kind, count in sorted(shed.items()))
                message = f"journal writing again; shed while the disk refused writes: {listed}"
                payload["shed"] = shed
            self._record("alert", payload, text=message)
        else:
            self._record("alert", {"key": "journal", "message": problem}, text=problem)

    def fault(self, where: str, error: Exception) -> None:
        """A fault of the engine's own while handling `where`: journaled as an `error` with a
        critical alert, so it is loud; the room goes on (docs/safety.md#one-guarded-path).

        The same fault again is journaled once per `FAULT_REPEAT_S` of real time.
        """
        message = f"engine fault in {where}: {describe_error(error)}"
        log.error("%s", message, exc_info=error)
        now = self._real(self.now())
        kind = f"{where}: {type(error).__name__}"
        last = self._faults.get(kind)
        if last is not None and now - last < FAULT_REPEAT_S:
            return
        self._faults[kind] = now
        self.board.raise_alert("engine", "engine", "critical", message, self.recorder.wall_ns())
        try:
            self._record("error", {"fault": message}, text=message)
        except Exception:  # the journal itself may be what failed
            log.exception("could not journal the fault")

    def resume(self, journal: Journal, point: ResumePoint) -> None:
        """Carry on the session a crashed engine left open in `journal`.

        ResumeError, before anything changes, if the room cannot carry it on (its plan, phase
        or scene is gone, or the journal's progress record is not one). Should anything else
        fail on the way, the room goes back to having no session and the error is raised.
        """
        run, overrides = self._resumable(point)
        t_now = point.t_at(self.recorder.wall_ns())
        try:
            self.session = ActiveSession(
                journal,
                run,
                point.plan,
                point.participant,
                journal.meta.started_wall_ns,
                origin=self.now() - t_now,
            )
            self.recorder.journal = journal
            self.checks.resumed(run.phase, t_now, self.session.origin, point.checks)
            if self.emergency is None and point.progress.get("in_emergency") is True:
                # the room's marker was lost (a disk that refused it, a restored backup): the
                # journal's word latches the room; the press is in that journal already
                self._emergency(
                    journaled=True, since_wall=_since(point.progress.get("emergency_since"))
                )
            latched = self.emergency is not None
            if latched:
                # latched since start-up (the emergency marker, written before the press's
                # journal entry, which a crash may have lost): the session is as the press
                # leaves it, its phase held and the operator's overrides dropped
                if not run.held:
                    run.hold()
                if point.progress.get("in_emergency") is not True:  # the press was lost
                    self._record(
                        "safety",
                        {"emergency": "start", **self._progress()},
                        text="EMERGENCY: the room restarted latched by its marker",
                    )
            else:
                self.scene_override = overrides.scene
                self.lights.overrides.update(overrides.lights)
                self.volume_override = overrides.volume
            gap_s = t_now - point.last_t
            self._record(
                "resume",
                {"gap_s": gap_s, "from_t": point.last_t, "to_t": t_now, **self._progress()},
                text=f"engine resumed the session after a gap of {gap_s:.1f} s",
            )
            if not latched:
                self._scene_when_settled(overrides.scene_to_apply, RESUME_FADE_S * self.scale)
        except Exception:
            self._leave_session()
            raise

    def _resumable(self, point: ResumePoint) -> tuple[SessionRun, ResumedOverrides]:
        """What a resume restores, checked against the room as it is now; ResumeError if not."""
        plan = self.room.plans.get(point.plan)
        if plan is None:
            raise ResumeError(f"the session's plan {point.plan!r} is no longer in the room")
        if not math.isclose(point.time_scale, self.scale):
            # its journal's events are all read at the scale it was recorded at
            raise ResumeError(
                f"it was recorded at time scale {point.time_scale:g} and this engine runs at "
                f"{self.scale:g}"
            )
        progress = point.progress
        try:
            run = SessionRun.restore(plan, progress["run"], guard_s=self.limits.advance_guard_s)
        except ValueError as error:  # the plan's phases changed, or a number is not one
            raise ResumeError(f"plan {point.plan!r} cannot carry on the session: {error}") from None
        except (KeyError, TypeError, AttributeError) as error:
            raise ResumeError(
                f"the journal's progress record is damaged: {describe_error(error)}"
            ) from None
        overrides = progress.get("overrides") or {}
        lights = overrides.get("lights") if isinstance(overrides, dict) else None
        volume = overrides.get("volume") if isinstance(overrides, dict) else None
        scene = overrides.get("scene") if isinstance(overrides, dict) else None
        if (
            not isinstance(lights or {}, dict)
            or not all(_fraction(level) for level in (lights or {}).values())
            or not (volume is None or _fraction(volume))
            or not (scene is None or isinstance(scene, str))
        ):
            raise ResumeError(f"the journal's overrides record is damaged: {overrides!r:.200}")
        wanted = scene or progress.get("scene") or run.phase.scene
        if not isinstance(wanted, str) or wanted not in self.room.scenes:
            raise ResumeError(f"the session's scene {wanted!r:.100} is no longer in the room")
        return run, ResumedOverrides(
            scene=scene,
            lights={key: float(v) for key, v in (lights or {}).items() if key in self.lights.ids},
            volume=None if volume is None else float(volume),
            scene_to_apply=wanted,
        )

    def stay_latched(self, progress: dict[str, Any]) -> None:
        """A session that could not be resumed was in an emergency (its journal's newest
        `progress` record says so, the room's marker is gone): the room starts latched, in the
        safe scene, as the marker would have it, since the press when the record says when."""
        if self.emergency is None:
            self._emergency(since_wall=_since(progress.get("emergency_since")))

    def latched_on_the_broker(self, since_wall: str | None) -> None:
        """The room's state the broker keeps says it is latched in an emergency: an engine of
        the room that ran elsewhere (another computer, another data_dir; its marker is on
        that one's disk) latched it. The room starts latched, in the safe scene, since the
        press when the state says when, with a critical alert saying why, until cleared."""
        if self.emergency is not None:
            return
        self._emergency(since_wall=_since(since_wall))
        message = (
            "the room's state on the broker says it is latched in an emergency (its engine "
            "ran on another computer or with another data_dir): the room started latched; "
            "clear the emergency once the room is safe"
        )
        self.board.raise_alert(MARKER_ALERT, "safety", "critical", message, self.recorder.wall_ns())
        self._record("alert", {"key": MARKER_ALERT, "message": message}, text=message)

    def resume_failed(self, message: str) -> None:
        """A session left open could not be resumed: a critical alert until the next start."""
        self.board.raise_alert("resume", "journal", "critical", message, self.recorder.wall_ns())
        self._record("alert", {"key": "resume", "message": message}, text=message)

    # ================================================================== outputs

    def take_outgoing(self) -> list[GatedMessage]:
        """The device messages the output path let out since the last call."""
        return self.output.take()

    def take_events(self) -> list[dict[str, Any]]:
        return self.recorder.take()

    # ================================================================== the tick

    def tick(self) -> None:
        """Advance everything to the clock's now: phases, cues, fades, BLS sets, music.

        Each part goes on whatever another raised: a fault of ours in one (journaled, a
        critical alert) never keeps the others from running, tick after tick, least of all
        what holds the emergency's latch (its confirmation, the safe targets owed again, the
        lights). The first fault is raised once every part has run, for the caller to tell.
        """
        now = self.now()
        failed: Exception | None = None
        for where, part in (
            ("the scene owed", self._tick_scene_owed),
            ("the session", self._tick_session),
            ("the music due", self._tick_music_due),
            ("the latch", self._tick_latch),
            ("the screens owed", self._tick_screens_owed),
            ("the lights", self.lights.tick),
            ("the fades", self._tick_fades),
            ("the BLS sets", self.bls.finish),
            ("the devices' reports", self._tick_reports),
            ("the music", self.music.tick),
            ("the tones", self._tick_tones),
        ):
            try:
                part(now)
            except Exception as error:
                if failed is not None:
                    self.fault(f"the tick ({where})", error)
                failed = failed or error
        if failed is not None:
            raise failed

    def _tick_scene_owed(self, now: float) -> None:
        if self._scene_owed is not None and self._settled(now):
            scene_owed, self._scene_owed = self._scene_owed, None
            self._apply_scene(*scene_owed, leave=self._spoken_to)

    def _tick_session(self, now: float) -> None:
        if self.session is not None:
            t = now - self.session.origin
            for happening in self.session.run.due(t):
                if isinstance(happening, PhaseChange):
                    self._entered_phase(happening)
                else:
                    self._cue(happening)
            self.checks.tick(t)

    def _tick_music_due(self, now: float) -> None:
        if self._music_due is not None:
            target, self._music_due = self._music_due, None
            self.music.apply(target, self.volume_override, now)

    def _tick_latch(self, now: float) -> None:
        emergency = self.emergency
        due = emergency is not None and self._real(now - emergency.since) >= CONFIRM_AFTER_S
        if emergency is not None and due and not emergency.confirmed:
            emergency.confirmed = True
            for device_id in self.drivers:  # a change that crossed the lights-up or the stops
                self._restate(device_id)
        for device_id, at in list(self._floor_owed.items()):
            if self._real(now) >= at:
                self._resend_floor(device_id, self._real(now))

    def _tick_screens_owed(self, now: float) -> None:
        for device_id, (owed, at) in list(self._vr_owed.items()):
            if now >= at:
                self._apply_vr_target(device_id, owed, now)

    def _tick_fades(self, now: float) -> None:
        step_s = 1.0 / MAX_UPDATES_PER_S
        for (device_id, attribute), value in self.fades.tick(now):
            if attribute == "level":
                self.lights.step(device_id, value, step_s, now)
            else:
                self.volumes.step(device_id, value, now)

    def _tick_reports(self, now: float) -> None:
        for drops in self.intake.due(self._real(now)):
            self._dropped(drops)
        for key, at in list(self._held_back.items()):
            if self._real(now) - at >= HELD_BACK_ALERT_S:
                del self._held_back[key]
                self.board.clear(key)

    def _tick_tones(self, now: float) -> None:
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
            "end": self._end_command,
            "recovery": self._recovery,
            "emergency": self._step,
            "clear_emergency": self._step,
            "goto": self._goto,
            "extend": self._extend,
            "note": self._note,
            "scene": self._scene_command,
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

    def journal_to_open(self, command: Start) -> Callable[[], Journal] | None:
        """What opens the journal of the session `command` starts, to be called away from this
        thread (on a disk that hangs, opening it would hold up every command, an emergency's
        too) and handed to `command`; it raises CommandRefused when the journal cannot be
        opened. None when the start is refused as things stand (`command` says why)."""
        refused = (
            self.session is not None
            or command.plan not in self.room.plans
            or (self.emergency is not None and not allowed_while_latched(command))
            or (self.checks.baseline(self.now()).needs_reason and command.reason is None)
        )
        return None if refused else self._journal_opener(command, self.recorder.wall_ns())

    def _journal_opener(self, command: Start, wall: int) -> Callable[[], Journal]:
        def open_journal() -> Journal:
            try:
                return Journal.create(
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

        return open_journal

    def _start(self, command: Start, opened: Journal | CommandRefused | None = None) -> None:
        if self.session is not None:
            raise CommandRefused(f"session {self.session.journal.session_id} is already running")
        plan = self.room.plans.get(command.plan)
        if plan is None:
            raise CommandRefused(
                f"no plan named {command.plan!r} (plans: {', '.join(sorted(self.room.plans))})"
            )
        wall = self.recorder.wall_ns()
        baseline = self.checks.judge_start(command, self.now(), iso_wall(wall))
        if isinstance(opened, CommandRefused):
            raise opened
        if opened is None:
            journal = self._journal_opener(command, wall)()
        else:  # asked for earlier (up to seconds on a slow disk): the session starts now
            journal = opened
            journal.start_at(wall)
        run, change = SessionRun.start(plan, guard_s=self.limits.advance_guard_s, now=0.0)
        self.session = ActiveSession(
            journal, run, command.plan, command.participant, wall, origin=self.now()
        )
        self.recorder.journal = journal
        self.board.clear("resume")
        self._record(
            "session",
            {
                "event": "start",
                "plan": command.plan,
                "participant": command.participant,
                "time_scale": self.scale,
                "engine_version": __version__,
            },
            text=f"session started: {plan.title}",
        )
        for device_id, driver in self.drivers.items():
            self._record("availability", {"available": driver.availability.value}, device=device_id)
        self.checks.started(baseline, command, self.session.origin)
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
        if command.action in ("next", "back"):
            move = session.run.next if command.action == "next" else session.run.back
            self._entered_phase(move(t))
        elif command.action == "hold":
            session.run.hold()
        else:
            session.run.release(t)

    def _end_command(self, command: End) -> None:
        session = self._running()
        self.checks.ending(command.reason)
        self._end(session)

    def _recovery(self, command: Recovery) -> None:
        self.checks.recovery(command, self.now() - self._running().origin)

    def _goto(self, command: Goto) -> None:
        session = self._running()
        self._entered_phase(session.run.goto(command.phase, self.now() - session.origin))

    def _extend(self, command: Extend) -> None:
        self._running().run.extend(command.seconds)

    def _note(self, command: Note) -> None:
        self._running()
        # docs/safety.md#privacy: a note's words travel only on the command topic and into the
        # journal; the state's timeline (a retained topic) only says that a note was written.
        self._record("note", command.text, text="note added")

    def _scene_command(self, command: SceneOverride) -> None:
        if command.name not in self.room.scenes:
            raise CommandRefused(
                f"no scene named {command.name!r} (scenes: {', '.join(sorted(self.room.scenes))})"
            )
        self._clear_overrides()
        self.scene_override = command.name
        self._scene_when_settled(command.name, None)

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
            self.lights.override(device_id, level, OVERRIDE_FADE_S * self.scale)
        self.lights.tick(now)  # out with the command, not a tick later

    def _volume(self, command: Volume) -> None:
        self.music.available()
        base = self.volume_override
        if base is None:
            base = self.music.scene_volume()
        level = command.level if command.level is not None else base + (command.delta or 0.0)
        self.volume_override = min(1.0, max(0.0, level))
        self.music.fade_volume(self.volume_override, OVERRIDE_FADE_S * self.scale, self.now())

    def _music(self, command: Music) -> None:
        if self.emergency is not None and command.op == "fade_out":
            # docs/emergency.md: the music is gone within emergency_fade_s; a fade-out asked
            # meanwhile never ends later than the emergency's own
            elapsed = self._real(self.now() - self.emergency.since)
            left = max(0.0, self.limits.emergency_fade_s - elapsed)
            asked = command.seconds if command.seconds is not None else left
            command = command.model_copy(update={"seconds": min(asked, left)})
        self.music.control(command, self.now())
        self._spoke_to(device.id for device in self.room.devices_of_kind("music"))

    def _bls(self, command: Bls) -> None:
        bls_devices = [d.id for d in self.room.devices_of_kind("bls")]
        if command.device is not None and command.device not in bls_devices:
            raise CommandRefused(
                f"no BLS device named {command.device!r} (BLS devices: {', '.join(bls_devices)})"
            )
        now = self.now()
        if command.op == "stop":
            for device_id in [command.device] if command.device else list(self.bls.sets):
                self.bls.stop(device_id, "operator", now)
            self._spoke_to([command.device] if command.device else bls_devices)
            return
        scene = self.room.scenes.get(self._room_scene or "")
        targets = [command.device] if command.device else self.bls.scene_devices(scene)
        wanted = {device_id: self._operator_bls_target(command, device_id) for device_id in targets}
        refusals = []  # a set starts on all its devices or on none: the reply tells the truth
        for device_id, target in wanted.items():
            try:
                self.bls.start(device_id, target, now, self.music.volume, trial=True)
            except CommandRefused as refusal:
                refusals.append(str(refusal))
        if refusals:
            started = "; no set started on " + ", ".join(wanted) if len(wanted) > 1 else ""
            raise CommandRefused("; ".join(refusals) + started)
        # the tones first: their player's start is the one that can still fail (a fault of the
        # player, not a refusal), and then no other device has started
        for device_id in sorted(wanted, key=lambda d: self.room.devices[d].driver != "tones"):
            self.bls.start(device_id, wanted[device_id], now, self.music.volume)
        for device_id in [] if command.device else self.bls.left_out(scene):
            self._record(
                "error",
                {"error": NO_TONE_PLAYER},
                device=device_id,
                text=f"BLS started without {device_id}: {NO_TONE_PLAYER}",
            )
        self._spoke_to(targets)

    def _operator_bls_target(self, command: Bls, device_id: str) -> BlsTarget:
        """The set an operator's `bls start` asks of a device: what the command says, the rest
        from the scene's BLS settings for the device."""
        base = self._scene_bls_target(device_id)
        explicit_length = command.passes is not None or command.seconds is not None
        passes, seconds = (
            (command.passes, command.seconds) if explicit_length else (base.passes, base.seconds)
        )
        return BlsTarget(
            running=True,
            mode=command.mode or base.mode,
            speed_hz=command.speed_hz or base.speed_hz,
            tone_hz=command.tone_hz or base.tone_hz,
            intensity=base.intensity if command.intensity is None else command.intensity,
            passes=passes if seconds is None else None,
            seconds=seconds,
            colour=base.colour,
            confirmed=command.confirm or (base.confirmed and not explicit_length),
        )

    def _scene_bls_target(self, device_id: str) -> BlsTarget:
        """The current scene's BLS settings for a device: defaults for an operator's set."""
        scene = self.room.scenes.get(self._room_scene or "")
        target = scene_targets(self.room, scene).get(device_id) if scene else None
        return target if isinstance(target, BlsTarget) else BlsTarget(running=False)

    def _vr(self, command: Vr) -> None:
        if not self.vr.ids:
            raise CommandRefused("the room has no VR headset")
        if command.op == "play" and not command.content:
            raise CommandRefused("vr play needs content")
        now = self.now()
        self._vr_owed.clear()  # the operator's word replaces what a scene still owed
        refusals = []  # each headset is judged on its own screen: one refused, the rest go
        for device_id in self.vr.ids:
            if command.op == "play":
                vr = VrCommand("play", content=command.content, volume=command.volume)
            else:
                vr = VrCommand(command.op)
            verdict = self.vr.send(device_id, vr, now, again=True)
            if verdict is not None and not verdict.allowed:
                refusals.append(verdict.reason or f"{device_id}: refused")
        if refusals:
            raise CommandRefused("; ".join(refusals))
        self._spoke_to(self.vr.ids)

    def _spoke_to(self, device_ids: Iterable[str]) -> None:
        """The operator's word for these devices, given while a scene waits for the engine
        to settle (`_scene_when_settled`), stands: that scene leaves them be, as it went out
        before the word when there was no flash window to wait for."""
        if self._scene_owed is not None:
            self._spoken_to.update(device_ids)

    # ================================================================== phases and scenes

    def _entered_phase(self, change: PhaseChange) -> None:
        session = self._running()
        phases = session.run.plan.phases
        phase = phases[change.to_index]
        previous = None if change.from_index is None else phases[change.from_index]
        self._clear_overrides()
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
        self.checks.enter_phase(previous.name if previous else None, phase, change.at)
        # Several phases can pass in one tick (after a long gap): only the last one's scene
        # is applied, the others are journaled as they happened.
        if self.emergency is None and change.to_index == session.run.phase_index:
            self._scene_when_settled(phase.scene, phase.transition_s)

    def _clear_overrides(self) -> None:
        self.scene_override = None
        self.volume_override = None
        self.lights.overrides.clear()

    def _apply_scene(
        self, name: str, transition_s: float | None, *, leave: Collection[str] = ()
    ) -> None:
        """Apply a scene to every device it names but those in `leave`."""
        scene = self.room.scenes[name]
        fade = scene.fade_s if transition_s is None else transition_s
        self.scene = name
        self._scene_owed = None  # a scene asked for later than the one owed takes its place
        self._vr_owed.clear()  # what an earlier scene still owed is not this one's
        self._record(
            "scene", {"name": name, "fade_s": fade}, text=f"scene {name} (fade {fade:g} s)"
        )
        for device_id, target in scene_targets(self.room, scene).items():
            if device_id in leave:
                continue
            try:
                self._apply_target(device_id, target, fade)
            except CommandRefused as refusal:  # e.g. a set the gate refuses, tones missing
                self._record(
                    "error",
                    {"scene": name, "device": device_id, "error": str(refusal)},
                    device=device_id,
                    text=f"scene {name}: {device_id} not set: {refusal}",
                )
        self.lights.tick(self.now())  # the lights go out with the scene, the music a tick later

    def _apply_target(self, device_id: str, target: DeviceTarget, fade: float) -> None:
        now = self.now()
        if isinstance(target, LightTarget):
            self.lights.want(
                device_id, target, target.fade_s if target.fade_s is not None else fade
            )
        elif isinstance(target, MusicTarget):
            self._music_due = target
        elif isinstance(target, VrTarget):
            self._apply_vr_target(device_id, target, now)
        elif target.running:
            self.bls.start(device_id, target, now, self.music.volume)
        elif device_id in self.bls.sets:
            self.bls.stop(device_id, "scene", now)

    def _apply_vr_target(self, device_id: str, target: VrTarget, now: float) -> None:
        """A stop goes before the brightness, a play after: content lights the screen at the
        scene's brightness, never at the last one first. What the flash rate refuses is
        tried again once the screen could take it (a room left without its phase's content
        otherwise), unless another scene, the operator or the emergency speaks first."""
        self._vr_owed.pop(device_id, None)
        commands = [VrCommand("stop")] if target.action == "stop" else []
        if target.brightness is not None:
            commands.append(VrCommand("brightness", level=target.brightness))
        if target.action == "play":
            assert target.content is not None  # validated in the scene
            commands.append(VrCommand("play", target.content, target.volume))
        for vr in commands:
            verdict = self.vr.send(device_id, vr, now)
            if verdict is not None and Rule.FLASH_RATE in verdict.rules and not verdict.allowed:
                self._vr_owed[device_id] = (target, now + VR_RETRY_S * self.scale)
                return

    def _cue(self, cue: CueDue) -> None:
        label = cue.cue.label or cue.cue.do.get("action")
        # docs/safety.md#privacy: a cued note's words stay out of the operator record
        do = {key: value for key, value in cue.cue.do.items() if key != "text"}
        if self.emergency is not None:
            self._record(
                "operator",
                {"cue": cue.cue_index, "label": cue.cue.label, "do": do, "skipped": LATCHED_CUE},
                text=f"cue skipped ({LATCHED_CUE}): {label}",
            )
            return
        self._record(
            "operator",
            {"cue": cue.cue_index, "label": cue.cue.label, "do": do, **self._progress()},
            text=f"cue: {label}",
        )
        try:
            self.command(cue_command(cue.cue.do, f"cue-{cue.phase_index}-{cue.cue_index}"))
        except (BadCommand, CommandRefused) as problem:
            self._record(
                "error",
                {"cue": cue.cue_index, "error": str(problem)},
                text=f"cue failed: {problem}",
            )

    # ================================================================== emergency

    def _emergency(self, *, since_wall: str | None = None, journaled: bool = False) -> None:
        """The emergency: latch and lights up. Pressed again within the fade, it completes at
        once. One carried over a restart began at the room marker's `since_wall` (now when
        unknown); `journaled`: the resumed session's journal has its start already."""
        now = self.now()
        fade_s = self.limits.emergency_fade_s
        if self.emergency is not None:
            if now - self.emergency.since < fade_s * self.scale and not self.emergency.immediate:
                self.emergency.immediate = True
                self._record("safety", {"emergency": "immediate"}, text="EMERGENCY: immediate")
                self._safe_scene(immediate=True)
            return
        self.emergency = Emergency(
            since=now, since_wall=since_wall or iso_wall(self.recorder.wall_ns())
        )
        self._keep_latch_file(True)
        if self.session is not None and not self.session.run.held:
            self.session.run.hold()
        if not journaled:
            self._record(
                "safety",
                {"emergency": "start", **self._progress()},
                text="EMERGENCY: lights up, everything stops",
            )
        self._safe_scene(immediate=False)

    def _safe_scene(self, *, immediate: bool) -> None:
        """Latch, then: BLS stops, VR stops, music fades out, lights up in one change each.

        A fault in one of these (the music player failing to stop, one device's stop) is loud,
        and the others happen all the same: the room is never latched with its lights left
        down, nor a device left running for another's fault."""
        now = self.now()
        self._vr_owed.clear()
        safe = self.room.scenes[self.room.settings.safe_scene]
        targets = scene_targets(self.room, safe)
        lights = {
            k: self._lit_white(k, t) for k, t in targets.items() if isinstance(t, LightTarget)
        }
        self.output.engage_latch({k: wanted_level(t) for k, t in lights.items()})
        self._safe_colours = {
            k: driver.colour_shares(t.rgb).output
            for k, t in lights.items()
            if t.on and t.rgb is not None and isinstance(driver := self.drivers.get(k), LightDriver)
        }
        self._music_due = None  # a scene's music that has not started never does
        self._scene_owed = None  # nor does a scene still waiting for the engine to settle
        self._clear_overrides()
        self.scene = self.room.settings.safe_scene
        music_fade_s = 0.0 if immediate else self.limits.emergency_fade_s
        fade = 0.0 if immediate else min(safe.fade_s, self.limits.emergency_fade_s) * self.scale
        parts: list[tuple[str, Callable[[], None]]] = [
            *(
                (
                    f"stopping BLS on {device_id}",
                    functools.partial(self.bls.stop, device_id, "emergency", now),
                )
                for device_id in self.bls.to_stop()
            ),
            *(
                (f"stopping VR on {device_id}", functools.partial(self.vr.stop, device_id, now))
                for device_id in self.vr.ids
            ),
            ("fading the music out", lambda: self.music.fade_out(music_fade_s, now)),
            ("the lights-up", lambda: self.lights.lights_up(lights, fade, now)),
        ]
        for where, part in parts:
            try:
                part()
            except Exception as error:  # a fault of ours: the rest of the emergency goes on
                self.fault(f"the emergency ({where})", error)

    def _lit_white(self, device_id: str, target: LightTarget) -> LightTarget:
        """A colour light the safe scene names by its level alone (`all`) is lit white (at
        `WHITE_KELVIN` when it has a colour temperature): it would otherwise keep the colour
        the scene before left, at worst a dark one, and give the room a fraction of the safe
        scene's light."""
        device = self.room.devices.get(device_id)
        named = target.rgb is not None or target.kelvin is not None
        if not target.on or named or device is None or not device.rgb:
            return target
        if device.kelvin_range is not None:
            low, high = device.kelvin_range
            return replace(target, kelvin=min(max(WHITE_KELVIN, low), high))
        return replace(target, rgb=WHITE_RGB)

    def _keep_latch_file(self, latched: bool) -> None:
        """Write (0600) or remove the room's emergency marker, on the disk chores' thread: the
        safe scene's messages never wait for the disk. A failure is loud, not fatal."""
        since = self.emergency.since_wall if self.emergency else None
        chore = functools.partial(_write_marker, self.latch_file, since) if latched else None
        self._disk_chore(
            "keeping the emergency marker",
            chore or functools.partial(self.latch_file.unlink, missing_ok=True),
        )

    def _disk_chore(
        self,
        where: str,
        chore: Callable[[], None],
        *,
        on: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        """Run `chore` on the disk chores' thread (`on`, by default `on_disk`); what it raises
        is a fault, told on the engine's thread."""

        def run() -> None:
            try:
                chore()
            except Exception as error:  # a refusing disk, or a fault of ours: loud, not fatal
                self._from_thread(functools.partial(self.fault, where, error))

        (on or self._on_disk)(run)

    def _clear_emergency(self) -> None:
        if self.emergency is None:
            raise CommandRefused("there is no emergency to clear")
        self.emergency = None
        self._floor_owed.clear()
        self.board.clear(MARKER_ALERT)
        self._keep_latch_file(False)
        self.output.release_latch()
        self._record("safety", {"emergency": "cleared"}, text="emergency cleared")
        if self.session is not None:
            phase = self.session.run.phase
            self._scene_when_settled(phase.scene, phase.transition_s)
        else:
            self._scene_when_settled(self.room.settings.idle_scene, None)

    # ================================================================== end of a session

    def _end(self, session: ActiveSession) -> None:
        self._record("session", {"event": "end"}, text="session ended")
        now = self.now()
        # a set complete within the last half second: its device's stop goes out now, into
        # the session's journal, not after it is closed
        for device_id in [*self.bls.sets, *self.bls.stops_owed]:
            self.bls.stop(device_id, "session ended", now)
        self._leave_session()
        self._close_journal(session.journal, True)

    def _leave_session(self) -> None:
        """No session any more: the idle scene (unless latched), nothing of the session kept."""
        self.session = None
        self.recorder.journal = None
        # docs/safety.md#privacy: once ended, the retained state holds nothing of the session
        self.vitals.clear()
        for driver in self.drivers.values():
            if isinstance(driver, VitalsDriver):
                driver.forget()
        self.checks.forget_readings()
        self.board.clear_vitals()
        self.recorder.timeline.clear()
        self._clear_overrides()
        if self.emergency is None:
            self._scene_when_settled(self.room.settings.idle_scene, None)

    def _scene_when_settled(self, name: str, fade_s: float | None) -> None:
        """A scene at once, or, before the gate has seen a whole flash window since start-up,
        once it has: what the engine before this one sent in its last second is not known
        (docs/safety.md#flash-rate), and the scene's lights and screen content would be
        refused until then (a light bar's set for good: a scene's set is not tried again).
        The last scene asked for before then is the one the room takes."""
        if not self._settled(self.now()):
            self._scene_owed = (name, fade_s)
            self._spoken_to.clear()  # a word before this scene was chosen is not after it
        else:
            self._apply_scene(name, fade_s)

    @property
    def _room_scene(self) -> str | None:
        """The room's scene: the one owed once the engine has settled, else the one applied
        last. A scene asked for in the engine's first second (`_scene_when_settled`) is the
        session's for a resume and the defaults of an operator's BLS set, as it was when it
        went out at once: the lights-up an emergency cleared then leaves is not."""
        return self._scene_owed[0] if self._scene_owed is not None else self.scene

    def _settled(self, now: float) -> bool:
        """Whether the gate has seen the room for a whole flash window since start-up."""
        return self._real(now) >= self.gate.unseen_until

    # ================================================================== devices

    def _dropped(self, drops: Drops | None) -> None:
        """Journal dropped device messages (one event per device a minute); a device over its
        rate raises a warning until it has been quiet for a minute."""
        if drops is None:
            return
        key = f"input:{drops.source}"
        if drops.count == 0:
            self.board.clear(key)
            self._show_reports_failure()
            return
        if drops.flooding:
            self._flooding(drops.source)
        if drops.count == 1:
            payload: dict[str, Any] = {"error": drops.reason}
            text = f"{drops.source}: message dropped: {drops.reason}"
        else:
            payload = {"error": drops.reason, "dropped": drops.count}
            text = (
                f"{drops.source}: {drops.count} more messages dropped in the last minute "
                f"(the last: {drops.reason})"
            )
        device = drops.source if drops.source in self.drivers else None
        self._record("error", payload, device=device, text=text)

    def _flooding(self, source: str) -> None:
        """A message of `source` (a device, or `INBOX`) dropped in a flood: its `input:`
        warning stands from now, though the journal waits for the minute's summary (a flood
        behind a drop already journaled this minute is in front of the commands now)."""
        key = f"input:{source}"
        if key in self.board.alerts:
            return
        message = f"{source} sends too many messages; some are dropped unread"
        if source == INBOX:
            message = "too many messages arrive; some are dropped unread"
        self.board.raise_alert(key, "device", "warning", message, self.recorder.wall_ns())
        self._show_reports_failure()

    def _availability_changed(self, device_id: str, driver: Driver) -> None:
        available = driver.availability
        self._record(
            "availability",
            {"available": available.value},
            device=device_id,
            text=f"{device_id} {available.value}",
        )
        device = self.room.devices[device_id]
        self.board.device(device_id, device, available.value, self.recorder.wall_ns())
        if available is Availability.ONLINE:
            self._reassert(device_id)

    def _hold_the_latch(self, device_id: str, state: dict[str, Any]) -> None:
        """While latched, a light that reports itself below its safe level, or a headset or
        BLS device that reports content playing or a set running (something else did it: a
        stray controller, a replay, a command left retained), gets its safe target or its
        stop again, at most once a second (docs/emergency.md#nothing-darker-nothing-louder)."""
        latch = self.output.latch
        if latch is None:
            return
        broken = _breaks_the_latch(state, latch.floors.get(device_id))
        if self._colour_too_dark(device_id, state):
            broken = True  # at its safe level in a colour that leaves it dark
        if broken is None:
            return
        if not broken:
            self._floor_owed.pop(device_id, None)  # back where it should be
            return
        now = self._real(self.now())
        at = self._floor_reasserted.get(device_id, -math.inf) + FLOOR_RESEND_S
        if now >= at:
            self._resend_floor(device_id, now)
        else:
            self._floor_owed[device_id] = at  # `tick` sends it then

    def _colour_too_dark(self, device_id: str, state: dict[str, Any]) -> bool:
        """Whether a light's report gives a colour that leaves less of its light than its safe
        target's colour (judged only for a light whose safe target gives an RGB colour)."""
        safe = self._safe_colours.get(device_id)
        driver = self.drivers.get(device_id)
        rgb = state.get("rgb")
        if safe is None or not isinstance(driver, LightDriver) or not isinstance(rgb, list):
            return False
        return driver.colour_shares((rgb[0], rgb[1], rgb[2])).output < safe - FLOOR_TOLERANCE

    def _resend_floor(self, device_id: str, now: float) -> None:
        """What the latch holds the device to goes out again (`now`: real s)."""
        self._floor_owed.pop(device_id, None)
        self._floor_reasserted[device_id] = now
        self._restate(device_id)

    def _restate(self, device_id: str) -> None:
        """What the device should be doing goes out again: a light's target (at the next
        `lights.tick`; the safe one while latched), a headset's stop (always while latched),
        a BLS device's stop when it runs no set of ours."""
        now = self.now()
        self.lights.forget(device_id)
        self.vr.reassert(device_id, now, latched=self.emergency is not None)
        self.bls.reassert(device_id, now)

    def _reassert(self, device_id: str) -> None:
        """A device (back) online gets its current target again."""
        self._restate(device_id)
        self.checks.back_online(device_id)

    def _reassert_all(self) -> None:
        for device_id in self.drivers:
            self._reassert(device_id)
            self.output.query(device_id)

    def _vitals(self, device_id: str, reading: dict[str, Any], topic: str) -> None:
        self.vitals[device_id] = reading
        self._record("vitals", reading, device=device_id, topic=topic)
        self.checks.reading(device_id, reading, self.now())
        changes = self.board.vitals(device_id, reading, self.limits.vitals, self.recorder.wall_ns())
        for change in changes:
            if change.message is not None:
                payload: dict[str, Any] = {"key": change.key, "message": change.message}
                text = change.message
            else:
                payload = {"key": change.key, "cleared": True}
                text = f"alert cleared: {change.key}"
            self._record("alert", payload, device=device_id, text=text)

    # ================================================================== recording

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
        """The operator record of a command; its payload is made when the recorder writes it
        out (after the command's device messages while the service holds the recorder)."""
        text = f"{command.action}" + (f" refused: {refused}" if refused else "")
        self._record("operator", functools.partial(self._operator, command, refused), text=text)

    def _operator(self, command: Command, refused: str | None) -> dict[str, Any]:
        # docs/safety.md#privacy: a note's words never go into an operator record (which the
        # events topic carries), accepted or refused.
        # A therapist's reasons and recovery answers are private words too (engine.checks).
        private = {"id", "text", "reason", "items"}
        hidden = private | {"participant"} if refused else private
        params = command.model_dump(exclude=hidden, exclude_none=True)
        return {**params, "refused": refused} if refused else {**params, **self._progress()}

    def _progress(self) -> dict[str, Any]:
        """What a resumed engine needs to continue where this one was."""
        if self.session is None:
            return {}
        return {
            "run": self.session.run.snapshot(),
            "scene": self._room_scene,
            "overrides": {
                "scene": self.scene_override,
                "lights": dict(self.lights.overrides),
                "volume": self.volume_override,
            },
            "in_emergency": self.emergency is not None,
            **({"emergency_since": self.emergency.since_wall} if self.emergency else {}),
        }

    def _safety(self, device_id: str, verdict: Verdict[Any]) -> None:
        self._record("safety", verdict.payload(), device=device_id, text=verdict.reason)
        self.board.safety(device_id, verdict.reason, self.recorder.wall_ns())

    # ================================================================== state

    def snapshot(self) -> RoomState:
        now = self.now()
        session = self.session
        info = None
        phase = None
        if session is not None:
            t = now - session.origin
            info = SessionInfo(
                id=session.journal.session_id,
                plan=session.plan,
                plan_title=session.run.plan.title,
                participant=session.participant,
                started=iso_wall(session.started_wall_ns),
                t=t,
            )
            phase = phase_info(session.run, t)
        return RoomState(
            room=self.room.room_id,
            name=self.room.settings.name,
            engine_version=__version__,
            updated=iso_wall(self.recorder.wall_ns()),
            time_scale=self.scale,
            plans={name: plan.title for name, plan in self.room.plans.items()},
            session=info,
            plan_phases=plan_phases(session.run.plan) if session is not None else [],
            phase=phase,
            scene=self.scene,
            overrides={
                "scene": self.scene_override,
                "lights": dict(self.lights.overrides),
                "volume": self.volume_override,
            },
            devices=self._device_infos(now),
            music=self.music.info(now),
            bls=self.bls.info(now),
            vitals={key: VitalsInfo.model_validate(value) for key, value in self.vitals.items()},
            alerts=self.board.values(),
            emergency=EmergencyInfo(
                active=self.emergency is not None,
                since=self.emergency.since_wall if self.emergency else None,
                immediate=self.emergency.immediate if self.emergency else False,
            ),
            timeline=list(self.recorder.timeline),
            preflight=self._preflight(),
            checks=self.checks.info(now, self.session_t()),
        )

    def _device_infos(self, now: float) -> dict[str, Any]:
        infos = {}
        for device in self.room.devices.values():
            driver = self.drivers.get(device.id)
            if driver is None:
                local = self.music.player if device.driver == "vlc" else self.tones
                available = "online" if local is not None else "offline"
                state: dict[str, Any] = {}
            else:
                available = driver.availability.value
                state = dict(driver.state)
            target: dict[str, Any] | None = None
            light = self.lights.targets.get(device.id)
            if light is not None:
                target = {"level": self.lights.level(device.id, now), "on": light.on}
            infos[device.id] = device_info(
                device.id, device, available=available, state=state, target=target
            )
        return infos

    def _preflight(self) -> Preflight:
        """What the last look at the disk saw (a new look is asked for every
        DISK_LOOK_EVERY_S, on the disk chores' thread), and the journal's own problem."""
        now = self._real(self.now())
        if self._disk_asked is None and (
            self._disk is None or now - self._disk.at >= DISK_LOOK_EVERY_S
        ):
            self._disk_asked = now
            self._disk_chore(
                "looking at the disk",
                functools.partial(self._look_at_disk, now),
                on=self._on_look,
            )
        problem = self.journal_problem
        disk = self._disk
        folder = (disk.folder, disk.writable) if disk else None
        missing = set(disk.playlists_missing) if disk else set()
        if self._disk_asked is not None and now - self._disk_asked >= DISK_SILENT_S:
            silent_s = now - self._disk_asked
            if self._disk_folder is None:
                problem = problem or f"{self.room.data_dir} has not answered for {silent_s:.0f} s"
            else:  # the data folder answered; a playlist's files (another disk) have not
                folder = self._disk_folder
                if self._disk_playlist is not None:
                    missing.add(self._disk_playlist)
        if problem is None and folder is not None and not folder[1]:
            problem = f"{folder[0]} is not writable"
        return Preflight(
            journal_writable=problem is None,
            journal_problem=problem,
            playlists_missing=sorted(missing),
        )

    def _look_at_disk(self, asked: float) -> None:
        """On the disk chores' thread: look, and hand what was seen to the engine's thread (the
        data folder first, then which playlist's files are being looked at: a look that hangs
        on one says which disk does not answer)."""
        data_dir = self.room.data_dir
        try:
            folder = data_dir if data_dir.exists() else data_dir.parent
            writable = os.access(folder, os.W_OK)
            self._from_thread(functools.partial(self._looking, (folder, writable), None))
            missing: list[str] = []
            for name, playlist in sorted(self.room.playlists.items()):
                self._from_thread(functools.partial(self._looking, (folder, writable), name))
                if any(not track.path.exists() for track in playlist.tracks):
                    missing.append(name)
            look = DiskLook(asked, folder, writable, tuple(missing))
        except OSError:  # a failing disk (an I/O error where a missing file would be said)
            look = DiskLook(asked, data_dir, False, ())
        except Exception:  # a fault of ours (told by `_disk_chore`), not a disk that is silent
            self._from_thread(functools.partial(self._not_looked, asked))
            raise
        self._from_thread(functools.partial(self._looked, look))

    def _looking(self, folder: tuple[Path, bool], playlist: str | None) -> None:
        self._disk_folder, self._disk_playlist = folder, playlist

    def _looked(self, look: DiskLook) -> None:
        self._disk, self._disk_asked = look, None
        self._disk_folder = self._disk_playlist = None

    def _not_looked(self, asked: float) -> None:
        """A look that failed of a fault of ours: the last one stands, and the next is asked
        for DISK_LOOK_EVERY_S after this one (with none before, at the next state)."""
        self._disk_asked = None
        self._disk_folder = self._disk_playlist = None
        if self._disk is not None:
            self._disk = replace(self._disk, at=asked)


def _write_marker(path: Path, since_wall: str | None) -> None:
    """Write the emergency marker (0600) and sync it to the disk: not through a link put in its
    place, nor blocking on a FIFO there. The file alone latches the room: a disk that then
    refuses its words (full) is logged, not a fault (the next engine takes its time as now)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | os.O_NOFOLLOW
    descriptor = os.open(path, flags, 0o600)
    try:
        words = json.dumps({"since": since_wall}).encode()
        if os.write(descriptor, words) != len(words):
            raise OSError(errno.ENOSPC, "written in part")
        os.fsync(descriptor)
    except OSError as error:
        log.warning(
            "the emergency marker %s is in place; its time was not written: %s", path, error
        )
    finally:
        os.close(descriptor)
    # its name too: outside a session the marker alone keeps the room latched after a power cut
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@dataclass(frozen=True)
class DiskLook:
    """What the preflight last saw on the disk, and when (real seconds)."""

    at: float
    folder: Path
    """The data folder, or the folder it is to be made in."""
    writable: bool
    playlists_missing: tuple[str, ...]


def _breaks_the_latch(state: dict[str, Any], floor: float | None) -> bool | None:
    """Whether a device's reported state breaks the latch: a light below its safe level
    (`floor`), a headset playing, a BLS device running; None when the report does not say."""
    if floor is not None:
        level = 0.0 if state.get("on") is False else state.get("level")
        if not isinstance(level, int | float):
            return None
        return bool(level < floor - FLOOR_TOLERANCE)
    if "status" in state:  # a headset or display
        return bool(state["status"] == "playing")
    if "running" in state:  # a BLS device
        return state["running"] is True
    return None


def _fraction(value: object) -> bool:
    """A level from 0 to 1 (not a bool, not NaN)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def describe_error(error: BaseException) -> str:
    """An exception in one line: its type and the start of its message."""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def describe_command(command: Command) -> str:
    """An action in a few words for a refusal (`vr play`, `lights`), never a note's text."""
    op = getattr(command, "op", None)
    return f"{command.action} {op}" if isinstance(op, str) else command.action


@dataclass(frozen=True)
class Marker:
    """What the room's emergency marker said as the engine started."""

    present: bool
    since: str | None = None
    """When its emergency began, when it says (`_marker_since`)."""
    unread: str | None = None
    """Why it could not be read (its data folder did not answer): the room starts latched."""


def latch_path(room: Room) -> Path:
    """The room's emergency marker: present while an emergency is active."""
    return room.data_dir / f"{room.room_id}.emergency"


def read_marker(path: Path) -> Marker:
    """Whether the room's emergency marker is there, and since when (blocks on the disk)."""
    present = os.path.lexists(path)
    return Marker(present, _marker_since(path) if present else None)


def _marker_since(marker: Path) -> str | None:
    """When the emergency the room's marker carries began; None when the marker does not say
    (written before its time was known, unreadable, or not the engine's)."""
    try:  # not blocking: a FIFO in its place would hold the engine's start forever
        with os.fdopen(os.open(marker, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            since = json.loads(file.read(MARKER_MAX_BYTES)).get("since")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return _since(since)


def _since(value: object) -> str | None:
    """`value` if it is an emergency's start as the engine writes it (`iso_wall`): read from
    the room's marker or a journal's progress record, neither is taken on trust."""
    return value if isinstance(value, str) and MARKER_SINCE.fullmatch(value) else None
