"""Bilateral-stimulation sets: what runs on which device, its pass count and its end.

`BlsControl` starts and stops sets on the MQTT BLS devices and the room PC's tones through
the output path (the gate checks speed, length, intensity and tone; the emergency latch
lets no set start); the tones' volume ramps in like every other sound.

MQTT tappers and light bars keep their own timing (docs/device-protocols.md); the engine still
counts passes on the session clock so the console shows them even before a device reports,
and knows when a set is over: half a second later it tells the device to stop, so no set
runs on past the length the gate judged. A device's own `pass` report wins when it has one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from controller.api.state import BlsInfo
from controller.config import Room
from controller.config import models as config
from controller.config.limits import BLS_DEFAULT_SPEED_HZ as DEFAULT_SPEED_HZ
from controller.config.settings import SafetyLimits
from controller.engine.output import TONES, Record, RoomOutput
from controller.engine.phases import CommandRefused
from controller.engine.safety import BlsMode, BlsRequest
from controller.engine.targets import BlsTarget
from controller.engine.volume import VolumeFades

NO_TONE_PLAYER = "bilateral tones are not available on this room PC"

STOP_GRACE_S = 0.5
"""Real seconds after a set's length has passed before its MQTT device is told to stop: the
device, which started the set when the start reached it, ends it by itself first; one that
restarted it (a start delivered again after a lost acknowledgement) or whose timing runs
slow would go on past the length the gate judged (the engine's sets, and a live replay's)."""


@dataclass(frozen=True)
class BlsSet:
    """One running set on one device."""

    device_id: str
    request: BlsRequest
    started: float
    """Session time the set started."""
    time_scale: float = 1.0
    """Session seconds per real second: the device taps (and the tones sound) in real time,
    so a set lasts its seconds, or `passes / speed_hz`, in real seconds, whatever the time
    scale of a rehearsal."""
    grace_s: float = STOP_GRACE_S
    """Real seconds after its length before its MQTT device is told to stop (`stop_grace_s`)."""

    @property
    def length_s(self) -> float:
        """The set's length in session seconds."""
        if self.request.seconds is not None:
            return self.request.seconds * self.time_scale
        assert self.request.passes is not None  # the gate requires passes or seconds
        return self.request.passes / self.request.speed_hz * self.time_scale

    def elapsed_s(self, now: float) -> float:
        return min(max(0.0, now - self.started), self.length_s)

    def pass_count(self, now: float) -> int:
        """Passes begun so far (the first pass is pass 1)."""
        speed = self.request.speed_hz / self.time_scale
        count = math.floor(self.elapsed_s(now) * speed + 1e-9) + 1
        total = math.ceil(self.length_s * speed - 1e-9)
        return min(count, max(total, 1))

    def done(self, now: float) -> bool:
        return now - self.started >= self.length_s

    @property
    def stop_due(self) -> float:
        """When its MQTT device is told to stop all the same: `grace_s` after its end."""
        return self.started + self.length_s + self.grace_s * self.time_scale


def stop_grace_s(device: config.Device, safety: SafetyLimits) -> float:
    """`STOP_GRACE_S`, and for a screen's light bar (`sessionroom display`) the longest its dot
    may take to come back to the left before the set's passes begin: a whole cycle at the
    bar's top speed (it turns only at an end: on its way right, it goes on to the right end
    first). A light bar of its own firmware gets no more than any BLS device."""
    if device.mode != "visual" or device.display is None:
        return STOP_GRACE_S
    return STOP_GRACE_S + 1 / safety.light_bar_speeds_hz[1]


DEFAULT_TONE_VOLUME = 0.3
"""Tones play at the music's volume, or at this when no music sounds (before the cap)."""


class BlsControl:
    """Starts, stops and counts BLS sets on the room's BLS devices and the tones."""

    def __init__(
        self,
        room: Room,
        *,
        output: RoomOutput,
        volumes: VolumeFades,
        record: Record,
    ) -> None:
        self._room = room
        self._limits = room.settings.safety
        self._output = output
        self._volumes = volumes
        self._record = record
        self.devices = frozenset(device.id for device in room.devices_of_kind("bls"))
        """The room's BLS devices."""
        self.sets: dict[str, BlsSet] = {}
        self.stops_owed: dict[str, float] = {}
        """MQTT BLS devices whose set is complete, and the session time they are told to stop."""

    def scene_devices(self, scene: config.Scene | None) -> list[str]:
        """The BLS devices a scene names, or every BLS device when it names none; but the
        tones on a room PC that has no tone player (reported unavailable), unless nothing
        else is left (`left_out`)."""
        chosen = self._named_by(scene)
        playable = [d for d in chosen if not self._unplayable_tones(d)]
        return playable or chosen

    def left_out(self, scene: config.Scene | None) -> list[str]:
        """The BLS devices of a scene that `scene_devices` leaves out."""
        playing = self.scene_devices(scene)
        return [d for d in self._named_by(scene) if d not in playing]

    def _named_by(self, scene: config.Scene | None) -> list[str]:
        devices = config.DeviceIndex(self._room.devices.values())
        keys = scene.bls if scene else {}
        named = [device.id for key in keys for device in devices.select(key, "bls")]
        return named or [d.id for d in self._room.devices_of_kind("bls")]

    def _unplayable_tones(self, device_id: str) -> bool:
        return self._room.devices[device_id].driver == "tones" and self._output.tones is None

    def start(
        self,
        device_id: str,
        target: BlsTarget,
        now: float,
        music_volume: float,
        *,
        trial: bool = False,
    ) -> None:
        """Start a set, or raise CommandRefused with the gate's (or the latch's) reason.

        `trial`: only raise the refusal a start now would meet; nothing starts
        (`RoomOutput.bls_start`).
        """
        device = self._room.devices[device_id]
        tones = device.driver == "tones"
        if self._unplayable_tones(device_id):
            raise CommandRefused(NO_TONE_PLAYER)
        mode: BlsMode = "audio" if tones else ("visual" if device.mode == "visual" else "tactile")
        passes = target.passes
        if passes is None and target.seconds is None:
            passes = self._limits.bls_set_max_passes
        request = BlsRequest(
            mode=mode,
            speed_hz=target.speed_hz if target.speed_hz is not None else DEFAULT_SPEED_HZ,
            passes=passes,
            seconds=target.seconds if passes is None else None,
            intensity=target.intensity if not tones else None,
            tone_hz=(target.tone_hz or 440.0) if tones else None,
            confirmed=target.confirmed,
        )
        verdict = self._output.bls_start(device_id, request, now, colour=target.colour, trial=trial)
        if verdict.value is None:
            raise CommandRefused(verdict.reason or "the BLS set was refused")
        if trial:
            return
        self.stops_owed.pop(device_id, None)
        allowed = verdict.value
        if tones:
            self._volumes.silence(TONES, now)
            self._volumes.fade_to(TONES, music_volume or DEFAULT_TONE_VOLUME, 0.0, now)
        grace = stop_grace_s(device, self._limits)
        self.sets[device_id] = BlsSet(
            device_id, allowed, now, self._room.settings.time_scale, grace_s=grace
        )
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

    def stop(self, device_id: str, why: str, now: float) -> None:
        """Stop a device's set at once (a device without one is told to stop all the same)."""
        self.stops_owed.pop(device_id, None)
        self._output.bls_stop(device_id, now)
        if self._room.devices[device_id].driver == "tones":
            self._volumes.silence(TONES, now)
        if self.sets.pop(device_id, None) is not None:
            self._record(
                "command",
                {"bls": "stop", "why": why},
                device=device_id,
                text=f"BLS stopped on {device_id} ({why})",
            )

    def to_stop(self) -> list[str]:
        """What the emergency stops: every device running a set, and every MQTT BLS device
        whether or not it runs one."""
        return [
            device.id
            for device in self._room.devices_of_kind("bls")
            if device.id in self.sets or device.driver != "tones"
        ]

    def reassert(self, device_id: str, now: float) -> None:
        """A BLS device (back) online that runs no set of ours is told to stop (it may have
        kept running through an emergency while it was unreachable)."""
        device = self._room.devices.get(device_id)
        if device is not None and device.kind == "bls" and device_id not in self.sets:
            self._output.bls_stop(device_id, now)

    def finish(self, now: float) -> None:
        """Sets whose length has passed are complete; a device still owed its stop gets it
        (in the same call when it is due already: a tick that came late sends it at once)."""
        for device_id, bls_set in list(self.sets.items()):
            if bls_set.done(now):
                del self.sets[device_id]
                if self._room.devices[device_id].driver == "tones":
                    self._output.bls_stop(device_id, now)
                    self._volumes.silence(TONES, now)
                else:
                    self.stops_owed[device_id] = bls_set.stop_due
                self._record(
                    "command",
                    {"bls": "set complete"},
                    device=device_id,
                    text=f"BLS set complete on {device_id}",
                )
        for device_id, due in list(self.stops_owed.items()):
            if now >= due:
                del self.stops_owed[device_id]
                self._output.bls_stop(device_id, now)

    def info(self, now: float) -> BlsInfo:
        return bls_info(self.sets, now)


def bls_info(sets: Mapping[str, BlsSet], now: float) -> BlsInfo:
    """The state's BLS panel for the running sets (the engine's and a replay's)."""
    if not sets:
        return BlsInfo()
    first = next(iter(sets.values()))
    request = first.request
    return BlsInfo(
        running=True,
        devices=sorted(sets),
        mode=request.mode,
        speed_hz=request.speed_hz,
        tone_hz=request.tone_hz,
        intensity=request.intensity,
        pass_count=first.pass_count(now),
        passes=request.passes,
        set_elapsed_s=first.elapsed_s(now),
        seconds=request.seconds,
    )
