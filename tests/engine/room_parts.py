"""The engine's parts on the shipped example room, wired as `Engine` wires them, for unit tests.

Each medium's module (`lights`, `volume`, `music`, `bls`, `vr`) and the output path under it
run here on the real drivers of the example room (`config.yaml`), the real safety gate and
the real fade engine, driven tick by tick on times the test gives: no clock, no sleeps, no
broker. What the output path lets out is read back with `RoomParts.take`.

Recorders stand in for the rest: the journal (a list of what the engine's recorder was asked
to record), the safety reports, and the room PC's music and tone players (see
`RecordingMusic` for why).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from controller.bus.outbox import Pending
from controller.config import Playlist, Room, load_room
from controller.drivers.base import Driver, LightDriver, VrDriver
from controller.drivers.registry import make_driver
from controller.engine.bls import BlsControl
from controller.engine.engine import MAX_UPDATES_PER_S
from controller.engine.fades import FadeEngine
from controller.engine.lights import LightControl
from controller.engine.music import MusicControl
from controller.engine.output import GatedMessage, RoomOutput
from controller.engine.safety import BlsRequest, SafetyGate, Verdict
from controller.engine.volume import VolumeFades
from controller.engine.vr import VrControl
from tests.conftest import REPO

STEP_S = 1.0 / MAX_UPDATES_PER_S
"""A stepped fade's step, in real seconds (what the engine passes for each step)."""

CEILING = "zigbee2mqtt/ceiling_light/set"
FLOOR_LAMP = "cmnd/floorlamp/Backlog"
STRIP = "wled/wled-strip/api"
HEADSET = "vr/headset/set"
TAPPERS = "bls/tappers/set"
LIGHTBAR = "bls/lightbar/set"


def example_room() -> Room:
    return load_room(REPO / "config.yaml")


@dataclass(frozen=True)
class Recorded:
    """One event the output path or a medium asked the journal to record."""

    kind: str
    payload: Any
    device: str | None = None
    topic: str | None = None
    text: str | None = None


@dataclass
class Journal:
    """The engine's recorder, as a list (the `Record` protocol of the output path)."""

    events: list[Recorded] = field(default_factory=list)

    def __call__(
        self,
        kind: str,
        payload: Any,
        *,
        device: str | None = None,
        topic: str | None = None,
        text: str | None = None,
    ) -> None:
        self.events.append(Recorded(kind, payload, device, topic, text))

    def take(self) -> list[Recorded]:
        taken, self.events = self.events, []
        return taken


@dataclass
class SafetyReports:
    """What the parts report to the engine's safety journal (device, verdict), in order."""

    reports: list[tuple[str, Verdict[Any]]] = field(default_factory=list)

    def __call__(self, device_id: str, verdict: Verdict[Any]) -> None:
        self.reports.append((device_id, verdict))


@dataclass(frozen=True)
class Playing:
    """What `RecordingMusic` says it plays (the `NowPlaying` protocol)."""

    playlist: str | None = None
    title: str | None = None
    position_s: float | None = None
    duration_s: float | None = None
    volume: float = 0.0
    state: str = "stopped"


@dataclass
class RecordingMusic:
    """A stand-in for the room PC's music player (`MusicOutput`) that records each call.

    The real VLC player has its own tests in tests/media; here only what the engine tells it
    matters: which playlist, when (real seconds), with which crossfades, and each volume.
    """

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    playing: Playing = field(default_factory=Playing)

    def play(
        self,
        playlist: Playlist,
        now: float,
        *,
        volume: float,
        crossfade_s: float = 0.0,
        track_crossfade_s: float = 0.0,
        order: Literal["sequential", "shuffle"] = "sequential",
        loop: bool = True,
    ) -> None:
        self.calls.append(
            ("play", playlist.name, now, volume, crossfade_s, track_crossfade_s, order, loop)
        )

    def pause(self) -> None:
        self.calls.append(("pause",))

    def resume(self, now: float) -> None:
        self.calls.append(("resume", now))

    def skip(self, now: float) -> None:
        self.calls.append(("skip", now))

    def previous(self, now: float) -> None:
        self.calls.append(("previous", now))

    def set_volume(self, level: float, now: float, over_s: float | None = None) -> None:
        self.calls.append(("set_volume", level, now, over_s))

    def fade_out(self, seconds: float, now: float) -> None:
        self.calls.append(("fade_out", seconds, now))

    def stop(self, now: float) -> None:
        self.calls.append(("stop", now))

    def tick(self, now: float) -> None:
        """Ticks are not recorded: every tick passes one, nothing is decided there."""

    def moving(self, now: float) -> bool:
        return False

    def snapshot(self, now: float) -> Playing:
        return self.playing

    def volumes(self) -> list[float]:
        """The levels of the `set_volume` calls, in order."""
        return [call[1] for call in self.calls if call[0] == "set_volume"]


@dataclass
class RecordingTones:
    """A stand-in for the room PC's tone player (`ToneOutput`) that records each call.

    The real VLC tone player has its own tests in tests/media; here only what the engine
    tells it matters: which set starts at which volume, each volume after, and the stop.
    """

    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def start(self, request: BlsRequest, *, volume: float) -> None:
        self.calls.append(("start", request, volume))

    def set_volume(self, volume: float) -> None:
        self.calls.append(("set_volume", volume))

    def stop(self) -> None:
        self.calls.append(("stop",))

    def poll(self) -> None:
        """Polls are not recorded: the engine polls on every tick."""

    def volumes(self) -> list[float]:
        return [call[1] for call in self.calls if call[0] == "set_volume"]


class RoomParts:
    """The example room's output path and media, wired as the engine wires them.

    `scale` is the time scale (session seconds per real second); times given to the parts
    are session seconds, as in the engine. Without `music`/`tones` the room PC has no such
    player (no libvlc), one of the product's own modes: the recorders are then not wired in
    and record nothing.
    """

    def __init__(
        self,
        *,
        scale: float = 1.0,
        music: bool = True,
        tones: bool = True,
        music_problem: str | None = None,
    ) -> None:
        self.room = example_room()
        self.room.settings = self.room.settings.model_copy(update={"time_scale": scale})
        self.scale = scale
        self.drivers: dict[str, Driver] = {
            device.id: make_driver(device)
            for device in self.room.devices.values()
            if not device.is_local
        }
        self.journal = Journal()
        self.safety = SafetyReports()
        self.player = RecordingMusic()
        self.tone_player = RecordingTones()
        self.gate = SafetyGate(self.room.settings.safety)
        self.fades = FadeEngine(max_rate_hz=MAX_UPDATES_PER_S / scale)
        self.output = RoomOutput(
            self.drivers,
            self.gate,
            time_scale=scale,
            record=self.journal,
            on_safety=self.safety,
            music=self.player if music else None,
            tones=self.tone_player if tones else None,
        )
        self.volumes = VolumeFades(
            self.fades, self.output, self.gate, time_scale=scale, step_s=STEP_S
        )
        self.lights = LightControl(
            {key: d for key, d in self.drivers.items() if isinstance(d, LightDriver)},
            output=self.output,
            fades=self.fades,
            time_scale=scale,
            on_safety=self.safety,
        )
        self.music = MusicControl(
            self.room,
            self.player if music else None,
            output=self.output,
            volumes=self.volumes,
            record=self.journal,
            time_scale=scale,
            problem=music_problem,
        )
        self.bls = BlsControl(
            self.room, output=self.output, volumes=self.volumes, record=self.journal
        )
        self.vr = VrControl(
            {key: d for key, d in self.drivers.items() if isinstance(d, VrDriver)},
            output=self.output,
            volumes=self.volumes,
        )

    def tick(self, now: float) -> list[tuple[str, str]]:
        """What the engine's tick does for the lights and the fades; what went out."""
        return [(message.topic, message.payload) for message in self.tick_gated(now)]

    def tick_gated(self, now: float) -> list[GatedMessage]:
        """`tick`, with the messages as the output path let them out (deadline, chain)."""
        self.lights.tick(now)
        for (device_id, attribute), value in self.fades.tick(now):
            if attribute == "level":
                self.lights.step(device_id, value, STEP_S, now)
            else:
                self.volumes.step(device_id, value, now)
        return self.output.take()

    def run(self, times: list[float]) -> list[tuple[float, str, str]]:
        """Tick at each of `times`; every message let out, with the time it went."""
        return [(now, topic, payload) for now in times for topic, payload in self.tick(now)]

    def take(self) -> list[tuple[str, str]]:
        """(topic, payload) of each message the output path let out since the last call."""
        return [(message.topic, message.payload) for message in self.output.take()]


def ticks(start: float, end: float, hz: float = 4.0) -> list[float]:
    """Tick times from `start` to `end` inclusive, `hz` a second, computed (not accumulated)."""
    count = round((end - start) * hz)
    return [start + index / hz for index in range(count + 1)]


def payloads(sent: list[tuple[float, str, str]], topic: str) -> list[str]:
    return [payload for _, on, payload in sent if on == topic]


def volumes_sent(sent: list[tuple[float, str, str]], topic: str = HEADSET) -> list[int]:
    """The volumes (percent, as the VR driver writes them) of the volume commands on `topic`."""
    return [
        json.loads(payload)["volume"]
        for payload in payloads(sent, topic)
        if json.loads(payload)["action"] == "volume"
    ]


def queued_at(message: GatedMessage, at: float) -> Pending:
    """`message` as `Bus.publish_gated` queues it at `at` (monotonic seconds) for the broker:
    its deadline counted from then, its chain and whether it is kept however late."""
    expires_at = math.inf if message.expires_s is None else at + message.expires_s
    return Pending(
        message.topic,
        message.payload.encode(),
        message.qos,
        message.retain,
        expires_at,
        message.chain,
        message.keep,
    )
