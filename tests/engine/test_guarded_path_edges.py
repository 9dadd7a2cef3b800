"""Edges of the engine and its one output path, each found by attacking it and each naming
the rule (docs/safety.md, docs/emergency.md, docs/control-api.md) it holds. Driven
in-process on a manual clock, as test_engine.

1. The emergency's lights-up to a Tasmota light that is fading up natively arrives within
   min(safe fade_s, emergency_fade_s), wherever the light was; a Tasmota light told to go
   bright and dark faster than its fades end flashes no more than the gate counts.
2. `music fade_out` (accepted while latched) never stretches the emergency's fade-out past
   `emergency_fade_s`.
3. A Tasmota light whose target names no colour gets its target again after a broker
   reconnect or its own return online: during an emergency it gets the safe scene.
4. After a session ends, the retained state names no participant and holds no vitals.
5. The latch survives an engine restart outside a session (emergency without a session,
   or `end` during an emergency): the new engine starts in the safe scene, latched.
6. `vr resume` brings paused content back ramping in from silence.
7. `parse_command` refuses hostile JSON (deep nesting, over-long integers) as BadCommand.
8. A scene BLS set the room cannot start is journaled; the tick, `clear_emergency` and
   phase moves go on and the room stays as the reply says.
9. A cued note's words stay off the `events` topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from controller.api.client import EngineUnreachable, RoomClient
from controller.api.commands import BadCommand, parse_command
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.config.models import BlsTarget
from controller.config.settings import BrokerSettings
from controller.engine.clock import ManualClock
from controller.engine.engine import VR_RETRY_S, Engine
from controller.engine.phases import CommandRefused
from controller.engine.resume import resume_or_close
from controller.engine.service import RoomService, public_event
from controller.media.outputs import LocalOutputs, open_local_outputs
from controller.sim.model import Publication
from controller.sim.tasmota import TasmotaLight
from tests.conftest import REPO
from tests.engine.test_engine import START_WALL_NS, Room
from tests.engine.test_safety_properties import Points, busiest_second
from tests.support.mosquitto import Mosquitto
from tests.support.requirements import require_libvlc

CEILING = "zigbee2mqtt/ceiling_light/set"
FLOOR_LAMP = "cmnd/floorlamp/Backlog"
HEADSET = "vr/headset/set"
SAFE_CEILING = 203
"""The safe scene's ceiling (80 %) as Zigbee2MQTT brightness."""


@pytest.fixture
def room(tmp_path: Path) -> Room:
    return Room(tmp_path)


def room_copy(tmp_path: Path, scene: str, old: str, new: str) -> Path:
    """A copy of the shipped room with one scene line changed; returns its config.yaml."""
    copy = tmp_path / "room"
    copy.mkdir()
    shutil.copy(REPO / "config.yaml", copy / "config.yaml")
    for folder in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / folder, copy / folder)
    path = copy / "scenes" / f"{scene}.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    return copy / "config.yaml"


# --------------------------------------------------------------------------- 1. lights-up


class SimulatedFloorLamp:
    """The repository's own simulated Tasmota (controller.sim.tasmota) as the floor lamp: fed
    the Backlogs the engine sends, answering the engine as the lamp would, and keeping each
    straight piece its output moves along."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.model = TasmotaLight(room.engine.room.devices["floor-lamp"])
        self.fades = [self.model.output]
        self._answer(self.model.connected(room.clock.now()))

    def tick(self, seconds: float = 0.0) -> None:
        for payload in self.room.tick(seconds).get(FLOOR_LAMP, []):
            self._answer(self.model.handle(FLOOR_LAMP, payload.encode(), self.room.clock.now()))
        self._answer(self.model.tick(self.room.clock.now()))

    def run_for(self, seconds: float, step: float = 0.05) -> None:
        for _ in range(round(seconds / step)):
            self.tick(step)

    def alone_for(self, seconds: float, step: float = 0.05) -> None:
        """No engine listens (it was killed): the lamp carries on by itself."""
        for _ in range(round(seconds / step)):
            self.room.clock.advance(step)
            self.model.tick(self.room.clock.now())
            self._keep_output()

    def _answer(self, publications: list[Publication]) -> None:
        for publication in publications:
            self.room.device(publication.topic, publication.payload)
        self._keep_output()

    def _keep_output(self) -> None:
        if self.model.output is not self.fades[-1]:
            self.fades.append(self.model.output)

    def channel_corners(self, since: float) -> list[tuple[float, tuple[float, ...]]]:
        """The corners (seconds, channels 0–255) of the lamp's output from `since`: where
        each straight piece begins, and where it ends unless the next one cut it short."""
        corners: list[tuple[float, tuple[float, ...]]] = []
        fades = [fade for fade in self.fades if fade.begins >= since]
        for fade, after in zip(fades, [*fades[1:], None], strict=True):
            corners.append((fade.begins, fade.start))
            if after is None or fade.ends < after.begins:
                corners.append((fade.ends, fade.target))
        return corners

    def brightness_corners(self, since: float) -> Points:
        """The corners (ms, 0–1) of the lamp's white brightness (cold + warm) from `since`."""
        corners = self.channel_corners(since)
        assert not any(any(channels[:3]) for _, channels in corners), "the lamp stays white"
        return [(round(at * 1000), Fraction(sum(channels[3:])) / 255) for at, channels in corners]


def test_the_lights_up_of_a_tasmota_light_fading_up_is_not_slowed_to_20_s(room: Room) -> None:
    """docs/emergency.md#first-press: each light gets "a transition of at most min(safe
    scene fade_s, emergency_fade_s)" (here 1 s); docs/safety.md: the lights-up is "never
    delayed".

    `LightControl.lights_up` measures the change from `self.level()`, which for a native
    fade is already the fade's *target*. A Tasmota light timing its fade from where it was
    heading would see a tiny change (5 %) when the light is still far below a target close
    to the safe level, and the lamp, fading from where it really is, would take seconds.

    Operator steps: the safe scene as a scene override (a bright room for a check-in), the
    floor lamp down, then up again, and the emergency a tenth of a second later.
    """
    lamp = SimulatedFloorLamp(room)
    room.do("start", plan="rehearsal", participant="P014")
    lamp.run_for(6.0)
    room.do("scene", name="lights-up")
    lamp.run_for(3.0)
    room.do("lights", level=0.1, device="floor-lamp")
    lamp.run_for(3.0)
    room.do("lights", level=0.85, device="floor-lamp")
    lamp.run_for(0.1)
    room.do("emergency")
    lamp.tick()

    output = lamp.model.output
    lights_up_s = output.ends - room.clock.now()
    assert lights_up_s <= 1.0 + 0.05, (
        f"the floor lamp's lights-up fade lasts {lights_up_s:.1f} s "
        f"(from {output.at(room.clock.now())} to {output.target})"
    )


def test_a_tasmota_light_told_bright_and_dark_every_0_12_s_flashes_no_more_than_allowed(
    room: Room,
) -> None:
    """docs/safety.md#flash-rate: a change moves the level "in a straight line from wherever
    it is at that moment ... over the change's transition time", and no light flashes more
    than 3 times a second (6 counting transitions).

    A Tasmota light fading at a fixed slew rate (its default: Speed is the time of a
    full-scale fade) moves far faster than that when each command comes before the last fade
    ended: the operator's 1 s overrides alternating full and off every 0.12 s swung the lamp
    by 15 % each time, 10 transitions a second, while the gate saw small wiggles. Judged here
    on the simulated lamp's own output, by the checker that shares no code with the gate.
    """
    lamp = SimulatedFloorLamp(room)
    room.do("start", plan="rehearsal", participant="P014")
    lamp.run_for(6.0)
    since = room.clock.now()
    for n in range(25):
        room.do("lights", level=1.0 - n % 2, device="floor-lamp")
        lamp.run_for(0.12, step=0.04)
    lamp.run_for(2.0)

    corners = lamp.brightness_corners(since)
    assert len(corners) > 25, "the lamp took the commands"
    allowed = 2 * room.engine.room.settings.safety.max_flashes_per_s
    busiest = busiest_second(corners)
    assert busiest <= allowed, f"{busiest} transitions in a second at the lamp"


def test_an_engine_started_again_at_once_flashes_the_headset_no_more_than_allowed(
    room: Room,
) -> None:
    """docs/safety.md#flash-rate ("What one gate sees"): an engine started again does not
    know what the one before it sent. The operator played and stopped the headset's content
    as fast as the gate let it, the engine was killed, started again by hand 0.3 s later and
    resumed the session; its scene's play and the operator's next stops and plays went out
    at once: 7 transitions in a second at the headset (the limit is 6, 3 flashes)."""
    screen = HeadsetScreen()
    room.do("start", plan="rehearsal", participant="P014")
    screen.saw(room.clock.now(), room.run_for(6.0))

    def play_and_stop(times: int) -> None:
        for n in range(times):
            with contextlib.suppress(CommandRefused):  # a play too soon is refused
                room.do("vr", op="stop" if n % 2 else "play", content="breathing-meadow")
            screen.saw(room.clock.now(), room.tick(0.1))

    play_and_stop(6)
    assert room.engine.session is not None and room.engine.session.journal.flush()
    room.clock.advance(0.3)  # killed; started again by hand
    room.engine = Engine(
        room.engine.room,
        clock=room.clock,
        wall_ns=lambda: START_WALL_NS + int(room.clock.now() * 1e9),
    )
    assert resume_or_close(room.engine, room.engine.room.data_dir, "room-a") is not None
    restarted = room.clock.now()
    screen.saw(restarted, room.tick())
    play_and_stop(20)

    allowed = 2 * room.engine.room.settings.safety.max_flashes_per_s
    after = [t for t in screen.changes if t >= restarted]
    assert len(after) >= allowed, f"the engine started again played and stopped: {after}"
    assert screen.busiest_second() <= allowed, f"at the headset: {screen.changes}"


def test_light_bar_sets_started_again_and_again_are_held_to_the_flash_rate(room: Room) -> None:
    """docs/safety.md#flash-rate: each set that replaces a running one darkens the light bar
    and lights it again at the same brightness; the operator starting one every 0.1 s had
    every start sent (20 in 2 s)."""
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(3.0)
    sent: list[float] = []
    for _ in range(20):
        with contextlib.suppress(CommandRefused):  # a start too soon is refused
            room.do("bls", op="start", device="lightbar", mode="visual", speed_hz=1.0, passes=8)
        if room.tick(0.1).get("bls/lightbar/set"):
            sent.append(room.clock.now())
    busiest = max(sum(1 for t in sent if start <= t < start + 1.0 - 1e-9) for start in sent)
    assert busiest <= 3, f"light bar sets started at {sent}"


class HeadsetScreen:
    """The headset's screen as its messages light and darken it: a play shows the content
    at full brightness (no brightness is set here), a stop darkens it."""

    def __init__(self) -> None:
        self.lit: bool | None = None
        self.changes: list[float] = []
        """When the screen went from dark to lit or back."""

    def saw(self, now: float, wire: dict[str, list[str]]) -> None:
        for payload in wire.get("vr/headset/set", []):
            action = json.loads(payload)["action"]
            if action in ("play", "stop") and (action == "play") != self.lit:
                self.lit = action == "play"
                self.changes.append(now)

    def busiest_second(self) -> int:
        return max(
            sum(1 for t in self.changes if start <= t < start + 1.0 - 1e-9)
            for start in self.changes
        )


# --------------------------------------------------------------------------- 2. music


@pytest.fixture
def music_engine(tmp_path: Path) -> Iterator[Engine]:
    require_libvlc()
    loaded = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=tmp_path))
    for device_id in ("music", "tones"):
        loaded.devices[device_id] = loaded.devices[device_id].model_copy(update={"aout": "adummy"})
    outputs: LocalOutputs = open_local_outputs(loaded, on_error=lambda problem: None)
    assert outputs.problem is None
    engine = Engine(loaded, clock=ManualClock(), music=outputs.music, tones=outputs.tones)
    yield engine
    outputs.close()


def command(engine: Engine, action: str, **fields: object) -> None:
    engine.command(parse_command(json.dumps({"id": "t", "action": action, **fields}).encode()))


def run_engine(engine: Engine, seconds: float, step: float = 0.25) -> None:
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    for _ in range(round(seconds / step)):
        clock.advance(step)
        engine.tick()


@pytest.mark.parametrize("fields", [{}, {"seconds": 600}], ids=["default-5s", "600s"])
def test_a_music_fade_out_during_the_emergency_does_not_stretch_its_fade(
    music_engine: Engine, fields: dict[str, object]
) -> None:
    """docs/emergency.md#first-press: the music "fades out within the room's
    emergency_fade_s (at most 3 s), then stops". `music fade_out` is accepted while latched
    (docs/emergency.md#accepted-commands); `MusicControl.fade_out` hands its `seconds` (5 s
    by default, up to 600) to `MusicPlayer.fade_out`, which re-plans the master ramp from
    where the emergency's fade has got to, so the music plays on past the 3 s.
    """
    command(music_engine, "start", plan="standard", participant="P014")
    run_engine(music_engine, 10.0)
    assert music_engine.snapshot().music.volume > 0.3
    command(music_engine, "emergency")
    run_engine(music_engine, 1.0)
    command(music_engine, "music", op="fade_out", **fields)  # a therapist's reflex
    run_engine(music_engine, 2.25)  # 3.25 s after the emergency

    music = music_engine.snapshot().music
    assert (music.status, music.volume) == ("stopped", 0.0), (
        f"3.25 s after the emergency the music is {music.status} at {music.volume:.3f}"
    )


# --------------------------------------------------------------------------- 3. re-assert


@pytest.fixture
def level_only_room(tmp_path: Path) -> Room:
    """The shipped room with the floor lamp (Tasmota) in the safe scene at a level only, no
    colour: a valid room (`sessionroom check` passes), e.g. a plain Tasmota dimmer."""
    config = room_copy(
        tmp_path, "lights-up", "floor-lamp: {level: 80, kelvin: 4000}", "floor-lamp: {level: 80}"
    )
    room = Room.__new__(Room)
    loaded = apply_overrides(load_room(config), Overrides(data_dir=tmp_path / "data"))
    room.clock = ManualClock()
    room.engine = Engine(
        loaded, clock=room.clock, wall_ns=lambda: START_WALL_NS + int(room.clock.now() * 1e9)
    )
    room.engine.tick()
    room.engine.take_outgoing()
    room._count = 0
    return room


@pytest.mark.parametrize("comes_back", ["broker reconnects", "lamp back online"])
def test_a_tasmota_light_gets_the_safe_target_again_when_it_comes_back(
    level_only_room: Room, comes_back: str
) -> None:
    """docs/emergency.md#offline-devices-and-console: "A device that comes back online, or a
    broker that comes back, gets the safe targets again" (device-protocols.md: "gets its
    current target again").

    `_reassert` forgets what was sent; on the next tick `LightControl._apply` finds the lamp
    at its target (change 0); a light whose native fade shrank with the change (Tasmota
    timed at a slew rate: 20 s × |change| = 0 s) took the 1 s transition as "not native" and
    planned a stepped fade from the level to the same level, which never yields a step.
    Only the colour branch would send something, and this target has no colour. Nothing
    goes out; a lamp that rebooted dark stays dark through the emergency.
    """
    room = level_only_room
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    room.do("emergency")
    # a colour lamp named by its level alone is lit white (docs/emergency.md#first-press)
    assert room.tick()[FLOOR_LAMP] == [
        "NoDelay;Fade 1;NoDelay;SetOption117 1;NoDelay;Speed2 2;NoDelay;CT 250;NoDelay;Dimmer 80"
    ]
    room.run_for(4.0)

    if comes_back == "broker reconnects":
        room.engine.broker_changed(True, None, 5.0)
    else:
        room.device("tele/floorlamp/LWT", "Offline")
        room.run_for(1.0)
        room.device("tele/floorlamp/LWT", "Online")
    wire = room.run_for(2.0)

    again = [p for p in wire.get(FLOOR_LAMP, []) if "Dimmer 80" in p]
    assert again, f"after '{comes_back}' the floor lamp got {wire.get(FLOOR_LAMP)}"


# --------------------------------------------------------------------------- 4. privacy


def test_after_a_session_ends_the_retained_state_names_no_participant_and_holds_no_vitals(
    room: Room,
) -> None:
    """docs/safety.md#privacy: "After a session ends the retained state names no
    participant and holds no vitals" (also docs/control-api.md#retained-state).

    The state's timeline keeps "session started: …, participant P014" and the vitals
    alerts' readings; `Engine.vitals` and the vitals alerts outlive the session. A front-desk
    overview (which may read `state`, docs/control-api.md#topics) sees them until 40 newer
    events push the timeline on, and the vitals until the next reading.
    """
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(2.0)
    room.device("vitals/oximeter", '{"hr":150,"spo2":90}')
    room.run_for(1.0)
    room.do("end")
    room.run_for(1.0)

    state = room.engine.snapshot()
    retained = state.model_dump_json()
    assert "P014" not in retained, [e.text for e in state.timeline if "P014" in e.text]
    assert state.vitals == {}, state.vitals
    assert state.devices["oximeter"].state == {}, "nor in the sensor's device state"
    assert "150 bpm" not in retained, [a.message for a in state.alerts]


# --------------------------------------------------------------------------- 5. restart


@pytest.mark.parametrize("with_session", [True, False], ids=["ended-during-it", "no-session"])
def test_the_latch_survives_a_restart_of_the_engine_outside_a_session(
    room: Room, with_session: bool
) -> None:
    """docs/emergency.md#latch: the emergency "lasts until clear_emergency, whatever else
    happens"; docs/emergency.md#ending-the-session: after `end` during an emergency "the room
    stays latched in the safe scene until clear_emergency; the idle scene is not applied
    meanwhile"; the emergency "works with or without a session running".

    Only a session's journal remembers an emergency (`in_emergency` in its progress). With
    no session open (pressed outside one, or the session ended during it), an engine that
    restarts (crash, power cut, an update) starts unlatched and applies the idle scene:
    the ceiling drops from 80 % to 60 %, the strip goes off.
    """
    if with_session:
        room.do("start", plan="rehearsal", participant="P014")
        room.run_for(5.0)
    room.do("emergency")
    room.run_for(4.0)
    if with_session:
        room.do("end")
        room.run_for(1.0)
    assert room.engine.snapshot().emergency.active

    clock = ManualClock()
    restarted = Engine(room.engine.room, clock=clock)  # the same room, after a restart
    restarted.tick()
    wire = {m.topic: m.payload for m in restarted.take_outgoing()}

    assert restarted.snapshot().emergency.active, f"the restarted engine sends {wire}"
    ceiling = json.loads(wire.get(CEILING, '{"brightness":203}'))
    assert ceiling.get("brightness", 0) >= SAFE_CEILING, wire[CEILING]


@pytest.mark.parametrize(
    "marker",
    [
        b"",
        b"{",
        b"[1, 2]",
        b'{"since": 5}',
        b'{"since": "yesterday"}',
        b'{"since": "2026-11-18T11:06:45.000000Z\\n<b>"}',
        b'{"since": "' + b"9" * 100_000 + b'"}',
        b"\xff\xfe" * 10_000,
        b"[" * 4096,
    ],
    ids=["empty", "broken", "list", "number", "words", "trailing", "huge", "binary", "nested"],
)
def test_a_marker_that_does_not_say_when_still_latches_the_restarted_room(
    room: Room, marker: bytes
) -> None:
    """The room's emergency marker says when the emergency began, so a restart shows that
    time; a marker that cannot say (damaged, not the engine's) latches the room all the
    same, the emergency shown as beginning at the restart."""
    room.engine.latch_file.parent.mkdir(parents=True, exist_ok=True)
    room.engine.latch_file.write_bytes(marker)

    restarted = Engine(room.engine.room, clock=ManualClock())

    emergency = restarted.snapshot().emergency
    assert emergency.active
    assert emergency.since is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", emergency.since)
    assert emergency.since not in marker.decode(errors="replace")


def test_the_marker_is_not_written_through_a_link_in_its_place(room: Room, tmp_path: Path) -> None:
    """A link where the marker goes would have the emergency overwrite what it points to."""
    other = tmp_path / "not-the-marker.txt"
    other.write_text("kept")
    room.engine.latch_file.parent.mkdir(parents=True, exist_ok=True)
    room.engine.latch_file.symlink_to(other)

    room.do("emergency")

    assert room.engine.snapshot().emergency.active
    assert other.read_text() == "kept"


def test_a_marker_that_cannot_be_written_is_loud_and_the_room_latches_all_the_same(
    room: Room,
) -> None:
    """docs/emergency.md#crash-and-resume: the press writes the room's marker; a disk that
    refuses it (here a folder in its place: the write fails as on a full or read-only disk)
    keeps nothing from the emergency, and a critical alert says the marker was not kept."""
    room.engine.latch_file.mkdir(parents=True)

    room.do("emergency")

    state = room.engine.snapshot()
    assert state.emergency.active and state.scene == "lights-up"
    [alert] = [alert for alert in state.alerts if alert.key == "engine"]
    assert alert.level == "critical"
    assert "keeping the emergency marker" in alert.message


def test_a_fifo_in_the_marker_s_place_does_not_hold_the_engine_s_start(room: Room) -> None:
    """Read without blocking: a FIFO with no writer where the marker is would otherwise keep
    the engine from starting at all (the room latched all the same, as for any marker)."""
    room.engine.latch_file.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(room.engine.latch_file)
    started: list[Engine] = []
    starting = threading.Thread(
        target=lambda: started.append(Engine(room.engine.room, clock=ManualClock())), daemon=True
    )  # a thread, so that a start held forever fails this test instead of hanging it

    starting.start()
    starting.join(timeout=10.0)

    assert started, "the engine's start is held by the FIFO"
    assert started[0].snapshot().emergency.active


# --------------------------------------------------------------------------- 6. VR resume


def test_resuming_vr_content_ramps_its_volume_in_from_silence(room: Room) -> None:
    """docs/safety.md#volume-ramp: "A rise is never faster than volume_ramp_per_s" and the
    loudness rules hold "whatever asks for the volume"; paused content is silent, and the
    music's own resume "fades in from silence at the ramp limit" (MusicPlayer.resume).

    `RoomOutput.vr` passes `resume` without touching the volume, so the headset goes from
    silence to the 40 % it was at (up to the 70 % cap) in one message. The volume fade even
    keeps stepping while the content is paused.
    """
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(8.0)  # the centering scene's content has ramped to 40 %
    room.do("vr", op="pause")
    room.run_for(30.0)
    room.do("vr", op="resume")
    wire = room.tick()

    told: list[dict[str, object]] = [json.loads(p) for p in wire.get(HEADSET, [])]
    assert {"action": "resume"} in told
    before = told[: told.index({"action": "resume"})]
    volumes = [m["volume"] for m in before if "volume" in m]
    last_volume = (volumes or [room.engine.output.volume_of("headset") * 100])[-1]
    assert isinstance(last_volume, int | float)
    assert last_volume <= 5, (
        f"the headset resumes at {last_volume:g} % straight from silence; the ramp allows 5 %"
    )


# --------------------------------------------------------------------------- 7. parse_command


@pytest.mark.parametrize(
    ("what", "payload"),
    [
        ("deeply nested JSON", b"[" * 5000 + b"]" * 5000),
        ("an integer of 5000 digits", b'{"id":"a","action":"lights","level":' + b"9" * 5000 + b"}"),
    ],
    ids=["deep-nesting", "5000-digit-int"],
)
def test_hostile_json_on_the_command_topic_is_a_bad_command(what: str, payload: bytes) -> None:
    """docs/control-api.md#replies: a payload that is not JSON (or not usable) "is refused with
    the reason", replied to on `reply/invalid`. `parse_command` catches only
    UnicodeDecodeError and JSONDecodeError: `json.loads` raises RecursionError for deep
    nesting and a plain ValueError for an integer longer than Python's 4300 digits (both
    fit in 16 KiB). The service's handler then dies in the bus's catch-all: no reply at all,
    and a traceback in the log for every such message.
    """
    try:
        parse_command(payload)
    except BadCommand:
        return
    except Exception as problem:
        pytest.fail(f"{what}: parse_command raised {type(problem).__name__}, not BadCommand")
    pytest.fail(f"{what}: parsed")


# --------------------------------------------------------------------------- 8. scene BLS


TONES_IN_PEAK = (
    "peak",
    "  tappers: {running: false}",
    "  tappers: {running: false}\n  tones: {running: true, speed_hz: 1.0, passes: 8}",
)
"""The peak scene starts a short set of bilateral tones: a valid room (`sessionroom check`
passes), run here as on a room PC without libvlc, which docs/device-protocols.md#vlc says
"runs without music and tones and reports them as unavailable"."""


def test_a_scene_whose_bls_set_cannot_start_does_not_break_the_tick(tmp_path: Path) -> None:
    """docs/safety.md#emergency: the emergency is "always available"; a refusal "changes
    nothing" (docs/safety.md#verdicts).

    `Engine._apply_target` calls `BlsControl.start`, which raises CommandRefused (here:
    "bilateral tones are not available on this room PC"; equally any set the gate refuses).
    Nothing on the scene path catches it: the auto-advance into peak raises out of
    `Engine.tick()`, the rest of the scene is never applied, and in `RoomService._tick_forever`
    the exception ends the service (see the service test below).
    """
    config = room_copy(tmp_path, *TONES_IN_PEAK)
    loaded = apply_overrides(load_room(config), Overrides(data_dir=tmp_path / "data"))
    clock = ManualClock()
    engine = Engine(loaded, clock=clock)
    command(engine, "start", plan="rehearsal", participant="P014")
    try:
        for _ in range(70 * 4):  # the rehearsal's centering phase advances at 60 s
            clock.advance(0.25)
            engine.tick()
    except Exception as problem:
        pytest.fail(f"Engine.tick() raised {type(problem).__name__}: {problem}")


def test_a_refused_clear_emergency_leaves_the_room_latched(tmp_path: Path) -> None:
    """docs/control-api.md#replies: a refused command changes nothing ("nothing is sent; the
    device carries on as before"). `_clear_emergency` releases the latch and forgets the
    emergency *before* applying the phase's scene; when that scene's BLS set is refused,
    the operator is told "refused" while the room is no longer latched (and half of the
    scene applied)."""
    config = room_copy(tmp_path, *TONES_IN_PEAK)
    loaded = apply_overrides(load_room(config), Overrides(data_dir=tmp_path / "data"))
    clock = ManualClock()
    engine = Engine(loaded, clock=clock)
    command(engine, "start", plan="rehearsal", participant="P014")
    clock.advance(3.0)
    engine.tick()
    with contextlib.suppress(Exception):
        command(engine, "goto", phase="peak")  # refused the same way, yet the phase moves
    engine.tick()
    command(engine, "emergency")
    clock.advance(4.0)
    engine.tick()

    try:
        command(engine, "clear_emergency")
    except CommandRefused as refusal:
        assert engine.snapshot().emergency.active, f"told '{refusal}', yet the latch is gone"


async def test_the_engine_service_survives_a_scene_whose_bls_set_cannot_start(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """docs/safety.md#emergency: "One command, always available". The same room as above run
    by `sessionroom run`'s service (at time scale 40): when the plan advances into peak, the
    CommandRefused out of `Engine.tick()` ends `RoomService._tick_forever` and with it the
    service (the engine's will publishes `offline`); the next `emergency` gets no answer.
    Restarting does not help: `_resume_open_session` catches only ResumeError and
    JournalError, and `Engine.resume` re-applies the peak scene and raises again."""
    config = room_copy(tmp_path, *TONES_IN_PEAK)
    loaded = apply_overrides(
        load_room(config),
        Overrides(
            broker=private_mosquitto.url,
            room_id=f"r{uuid.uuid4().hex[:8]}",
            data_dir=tmp_path / "data",
        ),
    )
    loaded.settings = loaded.settings.model_copy(update={"time_scale": 40.0})
    settings = BrokerSettings(
        mode="external", host=private_mosquitto.host, port=private_mosquitto.port
    )
    service = RoomService(loaded, local_outputs=False)
    task = asyncio.create_task(service.run())
    try:
        async with RoomClient(settings, room=loaded.room_id, client_id="attack") as client:
            reply = await client.command("start", timeout=5, plan="rehearsal", participant="P1")
            assert reply["ok"], reply
            await asyncio.sleep(2.5)  # 100 s of session time: the plan is in peak
            try:
                reply = await client.command("emergency", timeout=3)
            except EngineUnreachable as silence:
                pytest.fail(
                    f"no answer to `emergency`: {silence}; the service "
                    f"{'ended with ' + repr(task.exception()) if task.done() else 'hangs'}"
                )
            assert reply["ok"], reply
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --------------------------------------------------------------------------- 9. cue notes


def test_a_cued_notes_words_stay_off_the_events_topic(tmp_path: Path) -> None:
    """docs/safety.md#privacy: a note's text "is never ... carried on `events`" (also
    docs/control-api.md#note). A plan may cue a note (`CUE_ACTIONS` includes `note`;
    `sessionroom check` accepts it). `Engine._cue` journals the cue as an `operator` event
    whose payload carries the cue's `do` as written, note text included, and
    `service.public_event` blanks only `note` events: the words go out on
    `sessionroom/<room>/events` (the skipped-cue record during an emergency does the same).
    """
    config = room_copy(
        tmp_path,
        "plans/rehearsal",
        "    transition_s: 5\n  - name: peak",
        "    transition_s: 5\n    cues:\n      - at: +5s\n        label: reminder\n"
        '        do: {action: note, text: "Ask about the panic attack last week"}\n'
        "  - name: peak",
    )
    loaded = apply_overrides(load_room(config), Overrides(data_dir=tmp_path / "data"))
    clock = ManualClock()
    engine = Engine(loaded, clock=clock)
    command(engine, "start", plan="rehearsal", participant="P014")
    for _ in range(8 * 4):
        clock.advance(0.25)
        engine.tick()

    on_events = [json.dumps(public_event(event)) for event in engine.take_events()]
    assert any('"kind": "note"' in event for event in on_events), "the cue wrote its note"
    leaks = [event for event in on_events if "panic attack" in event]
    assert not leaks, leaks


# --------------------------------------------------------------------------- 10. doc vs gate


# --------------------------------------------------------------------------- 11. VR brightness


def test_a_scene_s_dim_content_is_dimmed_before_it_plays(tmp_path: Path) -> None:
    """docs/safety.md#flash-rate: a brightness change is kept for the next play while the
    screen's content is stopped, and "a play lights it at its brightness". A scene that
    plays content at 5 % sent the play first, so the screen lit at its last brightness (full
    here) and the scene's 5 % came after, a second swing: after the headset was tried twice
    (`vr play`, `vr stop`) the gate refused that swing and the content stayed at full
    brightness, with nothing journaled. Its brightness goes first: the play lights it at 5 %."""
    config = room_copy(
        tmp_path,
        "centering",
        'content: "breathing:6", volume: 40}',
        'content: "breathing:6", volume: 40, brightness: 5}',
    )
    loaded = apply_overrides(load_room(config), Overrides(data_dir=tmp_path / "data"))
    clock = ManualClock()
    engine = Engine(loaded, clock=clock)
    run_engine(engine, 2.0)
    for op in ("play", "stop", "play", "stop"):
        command(engine, "vr", op=op, content="breathing:6")
        clock.advance(0.1)
        engine.tick()
    engine.take_outgoing()
    command(engine, "scene", name="centering")
    told = [m.payload for m in engine.take_outgoing() if m.topic == HEADSET]
    assert told == [
        '{"action":"brightness","level":5}',
        '{"action":"play","content":"breathing:6","volume":0}',
    ]


def test_a_scene_s_brightness_the_gate_refuses_is_journaled(tmp_path: Path) -> None:
    """docs/safety.md#flash-rate: "Nothing is dropped silently. Every verdict that is not
    `ok` is journaled as a `safety` event". Scenes that swing playing content between 5 %
    and full faster than the flash rate have swings refused; each refusal is journaled (it
    was not: the screen stayed at a brightness no scene asked for, and nothing said so)."""
    config = room_copy(
        tmp_path,
        "centering",
        'content: "breathing:6", volume: 40}',
        'content: "breathing:6", volume: 40, brightness: 5}',
    )
    bright = (config.parent / "scenes" / "centering.yaml").read_text()
    (config.parent / "scenes" / "bright.yaml").write_text(
        bright.replace("brightness: 5}", "brightness: 100}")
    )
    loaded = apply_overrides(load_room(config), Overrides(data_dir=tmp_path / "data"))
    clock = ManualClock()
    engine = Engine(loaded, clock=clock)
    run_engine(engine, 2.0)
    engine.take_outgoing()
    engine.take_events()
    for name in ["centering", "bright"] * 4:
        command(engine, "scene", name=name)
        clock.advance(0.1)
        engine.tick()
    told = [m.payload for m in engine.take_outgoing() if m.topic == HEADSET]
    refused = 8 - sum('"brightness"' in payload for payload in told)
    reported = [
        event
        for event in engine.take_events()
        if event["kind"] == "safety" and event.get("device") == "headset"
    ]
    assert refused > 0
    assert len(reported) == refused, f"{refused} brightness changes refused, {reported}"


def test_each_headset_s_content_is_judged_on_its_own_screen(tmp_path: Path) -> None:
    """docs/control-api.md#vr: `vr play` plays on every headset, refused where it would make
    a screen flash. A scene toggled fast (its content on the first headset only) leaves that
    one's screen with no flash to spare: the second headset, whose screen showed nothing,
    still gets the content (it did not: the first refusal ended the command)."""
    config = room_copy(tmp_path, "peak", "headset: {action: stop}", "headset: {action: stop}")
    (config.parent / "devices" / "vr2.yaml").write_text(
        "id: headset2\nlabel: second screen\nkind: vr\ndriver: mqtt-vr\ntopic: headset2\n"
    )
    loaded = apply_overrides(load_room(config), Overrides(data_dir=tmp_path / "data"))
    clock = ManualClock()
    engine = Engine(loaded, clock=clock)
    run_engine(engine, 2.0)
    for name in ["centering", "peak"] * 3:
        command(engine, "scene", name=name)
        clock.advance(0.08)
        engine.tick()
    engine.take_outgoing()
    with pytest.raises(CommandRefused, match=r"^headset: content played now would flash it; "):
        command(engine, "vr", op="play", content="breathing:6")
    told = [(m.topic, m.payload) for m in engine.take_outgoing() if m.topic.startswith("vr/")]
    assert told == [("vr/headset2/set", '{"action":"play","content":"breathing:6","volume":0}')]


def headset_played_and_stopped_three_times(
    data_dir: Path, config: Path = REPO / "config.yaml"
) -> Engine:
    """The shipped room (or `config`), its headset just played and stopped three times (0.05 s
    apart): the screen's flash window has no play to spare for a second."""
    loaded = apply_overrides(load_room(config), Overrides(data_dir=data_dir))
    engine = Engine(loaded, clock=ManualClock())
    run_engine(engine, 2.0)
    for op in ("play", "stop") * 3:
        command(engine, "vr", op=op, content="breathing:6")
        run_engine(engine, 0.05, step=0.05)
    return engine


@pytest.mark.parametrize("first", [None, "emergency", "vr stop"])
def test_a_scene_s_content_the_flash_rate_refused_plays_once_the_screen_can_take_it(
    tmp_path: Path, first: str | None
) -> None:
    """docs/safety.md#flash-rate: "once a device has been still for a second, any change
    passes". A scene's content refused because the headset was just played and stopped three
    times is played a second later (the phase would otherwise run without its content), once;
    the emergency or the operator's own `vr` command meanwhile takes its place."""
    engine = headset_played_and_stopped_three_times(tmp_path)
    engine.take_outgoing()

    command(engine, "scene", name="centering")
    if first == "emergency":
        command(engine, "emergency")
    elif first == "vr stop":
        command(engine, "vr", op="stop")
    run_engine(engine, 0.5, step=0.1)
    early = [m.payload for m in engine.take_outgoing() if m.topic == HEADSET]
    run_engine(engine, 3.0, step=0.1)
    later = [m.payload for m in engine.take_outgoing() if m.topic == HEADSET]

    assert not any('"play"' in payload for payload in early), early
    plays = [payload for payload in later if '"play"' in payload]
    assert plays == ([] if first else ['{"action":"play","content":"breathing:6","volume":0}'])


def test_the_engine_wakes_for_the_content_a_scene_still_owes(tmp_path: Path) -> None:
    """The service sleeps until the engine's next work (`seconds_to_work`, up to IDLE_TICK_S
    when nothing is ahead); the retry of a scene's refused content is such work, due a second
    after the refusal, not at the next idle tick after it."""
    still = room_copy(tmp_path, "centering", "fade_s: 20", "fade_s: 0")
    scene = still.parent / "scenes" / "centering.yaml"  # nothing else moves after it is set
    scene.write_text(scene.read_text().replace("crossfade_s: 8", "crossfade_s: 0"))
    engine = headset_played_and_stopped_three_times(tmp_path / "data", still)
    engine.take_outgoing()
    command(engine, "scene", name="centering")
    run_engine(engine, 0.25, step=0.25)

    assert engine.seconds_to_work() == pytest.approx(VR_RETRY_S - 0.25)


def test_a_link_with_nothing_behind_it_in_the_marker_s_place_still_latches_the_restart(
    room: Room, tmp_path: Path
) -> None:
    """The press does not write through a link where the marker goes; the link itself then
    stands for the marker, so that the restarted room is latched as the press left it."""
    room.engine.latch_file.parent.mkdir(parents=True, exist_ok=True)
    room.engine.latch_file.symlink_to(tmp_path / "nothing-here")

    room.do("emergency")
    restarted = Engine(room.engine.room, clock=ManualClock())

    assert restarted.snapshot().emergency.active
    assert not (tmp_path / "nothing-here").exists()


def test_a_scene_that_comes_first_takes_the_place_of_the_content_a_scene_still_owed(
    tmp_path: Path,
) -> None:
    """docs/safety.md#flash-rate: a scene's refused content is tried again "unless another
    scene ... comes first", also a scene that does not name the headset (integration)."""
    engine = headset_played_and_stopped_three_times(tmp_path)
    command(engine, "scene", name="centering")
    command(engine, "scene", name="integration")
    engine.take_outgoing()

    run_engine(engine, 3.0, step=0.1)

    later = [m.payload for m in engine.take_outgoing() if m.topic == HEADSET]
    assert not any('"play"' in payload for payload in later), later


def engine_with_a_light_bar_in(tmp_path: Path, scene: str, *, latched: bool = False) -> Engine:
    """The example room, `scene` running a set on the light bar, just started (`latched`:
    an emergency's marker left by the engine before)."""
    room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=tmp_path))
    bar = BlsTarget(mode="visual", speed_hz=1.0, passes=20)
    room.scenes[scene] = room.scenes[scene].model_copy(update={"bls": {"lightbar": bar}})
    if latched:
        tmp_path.mkdir(parents=True, exist_ok=True)
        (tmp_path / f"{room.room_id}.emergency").write_text("2026-12-06T10:00:00Z")
    engine = Engine(room, clock=ManualClock())
    engine.tick()
    return engine


def light_bar_sets_over(engine: Engine, seconds: float) -> list[bool]:
    """Tick `seconds` in tenths; whether each light-bar set sent meanwhile runs."""
    sets = []
    for _ in range(round(seconds * 10)):
        run_engine(engine, 0.1, step=0.1)
        sets += [m.payload for m in engine.take_outgoing() if m.topic == "bls/lightbar/set"]
    return [json.loads(payload)["running"] for payload in sets]


def test_a_session_started_in_the_engine_s_first_second_gets_its_light_bar_set(
    tmp_path: Path,
) -> None:
    """docs/safety.md#flash-rate ("What one gate sees"): the first phase's scene waits for
    the engine to settle and goes out then, its light bar's set with it; sent at once, the
    set was refused (the light bar's history is not known yet) and never tried again."""
    engine = engine_with_a_light_bar_in(tmp_path, "centering")
    run_engine(engine, 0.3, step=0.3)
    command(engine, "start", plan="rehearsal", participant="P014")
    assert light_bar_sets_over(engine, 2.0) == [True]
    assert engine.snapshot().scene == "centering"


def test_a_scene_the_operator_chooses_in_the_engine_s_first_second_gets_its_light_bar_set(
    tmp_path: Path,
) -> None:
    """docs/safety.md#flash-rate ("What one gate sees"): a scene asked for before the engine
    has settled goes out once it has, whole. Seen to fail before: sent at once, its light
    bar's set was refused and never tried again (no set at all)."""
    engine = engine_with_a_light_bar_in(tmp_path, "centering")
    run_engine(engine, 0.3, step=0.3)
    command(engine, "scene", name="centering")
    assert light_bar_sets_over(engine, 2.0) == [True]
    assert engine.snapshot().scene == "centering"


def test_an_emergency_cleared_in_the_engine_s_first_second_gives_back_a_scene_with_its_light_bar(
    tmp_path: Path,
) -> None:
    """docs/emergency.md: an engine that starts latched (the marker of the one before) shows
    the lights-up at once; cleared within the first second, the idle scene goes out once the
    engine has settled, its light bar's set with it (before: at once, the set refused and
    lost)."""
    engine = engine_with_a_light_bar_in(tmp_path, "idle", latched=True)
    assert engine.emergency is not None
    run_engine(engine, 0.3, step=0.3)
    sent = [m.payload for m in engine.take_outgoing() if m.topic == "bls/lightbar/set"]
    assert [json.loads(payload)["running"] for payload in sent] == [False]  # the latch's stop
    command(engine, "clear_emergency")
    assert engine.snapshot().scene == "lights-up"  # until the engine has settled
    assert light_bar_sets_over(engine, 2.0) == [True]
    assert engine.snapshot().scene == "idle"


@pytest.mark.parametrize("ask", ["start", "scene"])
def test_a_scene_asked_for_once_settled_but_before_the_tick_is_not_undone_by_the_one_owed(
    tmp_path: Path, ask: str
) -> None:
    """docs/safety.md#flash-rate ("What one gate sees"): the last scene asked for is the one
    that goes out. A command handled once the flash window has passed but before the tick
    that sends the idle scene owed since start-up (the service wakes for it a little late)
    had its scene go out at once; the tick after it then sent the idle scene over it: the
    session's first phase (or the operator's scene) undone, the room idle."""
    engine = engine_with_a_light_bar_in(tmp_path, "centering")
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(1.001)  # the window has passed; the service's tick is not yet due
    if ask == "start":
        command(engine, "start", plan="rehearsal", participant="P014")
    else:
        command(engine, "scene", name="centering")

    assert light_bar_sets_over(engine, 2.0) == [True]
    assert engine.snapshot().scene == "centering"


def test_a_session_resumed_after_the_engine_s_first_second_keeps_its_scene(room: Room) -> None:
    """docs/robustness.md: a crashed session is resumed in its phase and scene. The service
    builds the engine, then waits for the broker (on a facility broker, a few seconds
    listening for an engine still online after a crash) before it resumes the session: the
    gate has seen its window by then and the resumed scene goes out at once. The first tick
    after it sent the idle scene owed since start-up over it: the session resumed in the
    idle scene (its headset stopped, its music gone), the state saying so."""
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(5.0)
    room.do("goto", phase="return")
    room.run_for(3.0)
    session = room.engine.session
    assert session is not None and session.journal.flush()
    room.clock.advance(0.5)  # killed; started again
    engine = Engine(
        room.engine.room,
        clock=room.clock,
        wall_ns=lambda: START_WALL_NS + int(room.clock.now() * 1e9),
    )
    room.engine = engine
    room.clock.advance(3.0)  # the broker, the look for another engine
    assert resume_or_close(engine, engine.room.data_dir, "room-a") is not None

    wire = room.run_for(3.0)

    assert engine.snapshot().scene == "return"
    assert '{"action":"stop"}' not in wire.get(HEADSET, [])


def restarted(room: Room, after_s: float) -> Engine:
    """The room's engine killed (its journal flushed) and started again `after_s` later, the
    session it left open resumed."""
    session = room.engine.session
    assert session is not None and session.journal.flush()
    room.clock.advance(after_s)
    room.engine = Engine(
        room.engine.room,
        clock=room.clock,
        wall_ns=lambda: START_WALL_NS + int(room.clock.now() * 1e9),
    )
    assert resume_or_close(room.engine, room.engine.room.data_dir, "room-a") is not None
    room.engine.tick()
    return room.engine


def test_a_session_whose_emergency_was_cleared_in_the_engine_s_first_second_resumes_in_its_scene(
    room: Room,
) -> None:
    """docs/emergency.md: after `clear_emergency` the session's phase scene comes back; the
    journal's progress record is what a resumed engine carries on from. Cleared within the
    engine's first second, the phase's scene goes out once settled, but the progress record
    journaled with the clear named the lights-up as the session's scene: a second restart,
    any time before the next progress record, resumed the session (unlatched) in the
    lights-up, its phase's scene never coming back."""
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(5.0)
    room.do("emergency")
    room.run_for(4.0)
    engine = restarted(room, 0.3)  # the marker latches it again
    assert engine.emergency is not None
    room.tick(0.2)
    room.do("clear_emergency")
    room.run_for(20.0)
    assert engine.snapshot().scene == "centering"

    engine = restarted(room, 0.3)
    room.run_for(3.0)

    assert engine.emergency is None
    assert engine.snapshot().scene == "centering"


def test_a_bls_start_after_an_emergency_cleared_in_the_engine_s_first_second_is_the_phase_s(
    room: Room,
) -> None:
    """A `bls start` naming no device runs the scene's BLS devices with the scene's settings
    (docs/control-api.md). Given in the engine's first second after `clear_emergency`, the
    phase's scene (tappers at intensity 40) was still owed and the lights-up's went for the
    room's: every BLS device was started, the light bar's set refused for the unknown
    history, and the whole command refused with the light bar's reason."""
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(5.0)
    room.do("goto", phase="return")
    room.run_for(3.0)
    room.do("emergency")
    room.run_for(4.0)
    engine = restarted(room, 0.3)
    assert engine.emergency is not None
    room.tick(0.2)
    room.do("clear_emergency")
    room.tick(0.1)

    room.do("bls", op="start")
    wire = room.run_for(2.0, step=0.1)

    assert sorted(engine.bls.sets) == ["tappers"]
    starts = [json.loads(p) for p in wire.get("bls/tappers/set", []) if '"running":true' in p]
    assert [s["intensity"] for s in starts] == [40], wire.get("bls/tappers/set")
