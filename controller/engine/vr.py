"""VR headsets and meditation displays: content, pause/resume/stop, and a volume that ramps.

Content starts silent and fades to the wanted volume on the engine's clock, each step
through the gate, never above the room's cap (docs/safety.md#loudness). While an emergency
is latched, nothing starts and no volume rises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.drivers.base import VrCommand, VrDriver
from controller.engine.output import RoomOutput
from controller.engine.safety import Verdict
from controller.engine.volume import VolumeFades

DEFAULT_VR_VOLUME = 0.5
"""Content played without a volume plays at this (before the room's cap)."""


class VrControl:
    """What each headset was told, and its content's volume."""

    def __init__(
        self, drivers: Mapping[str, VrDriver], *, output: RoomOutput, volumes: VolumeFades
    ) -> None:
        self.ids = list(drivers)
        self._output = output
        self._volumes = volumes
        self.sent: dict[str, VrCommand] = {}
        """Headset → the last command asked of it (before the gate)."""
        self.wanted: dict[str, float] = {}
        """Headset → the volume its content should play at (it ramps there)."""

    def send(
        self, device_id: str, command: VrCommand, now: float, *, again: bool = False
    ) -> Verdict[Any] | None:
        """Send a command, unless it is what the headset was last told (and not `again`).

        Returns the output path's verdict (refused while latched for play/resume), or None
        when nothing needed sending.
        """
        wanted = command.volume if command.volume is not None else DEFAULT_VR_VOLUME
        if command.action == "play":
            command = VrCommand("play", content=command.content, volume=wanted)
        if device_id not in self.ids or (self.sent.get(device_id) == command and not again):
            return None
        # Content starts silent and fades in at the room's ramp.
        starting = VrCommand("play", command.content, 0.0) if command.action == "play" else None
        verdict = self._output.vr(device_id, starting or command, now)
        if not verdict.allowed:
            return verdict
        self.sent[device_id] = command
        if starting is not None:
            self.wanted[device_id] = wanted
        if starting is not None or command.action == "resume":
            self._volumes.started_at(device_id, 0.0, now)
            self._volumes.fade_to(device_id, self.wanted.get(device_id, 0.0), 0.0, now)
        elif command.action == "stop":
            self._volumes.silence(device_id, now)
        return verdict

    def stop(self, device_id: str, now: float) -> None:
        """Tell a headset to stop, whatever it was told last (the emergency's stop)."""
        self.send(device_id, VrCommand("stop"), now, again=True)

    def volume_lost(self, device_id: str, now: float) -> bool:
        """Volumes sent to one of the headsets were dropped or held up on the way
        (`GatedMessage.chain`): what it plays at is not known, so it counts as silent, and
        content it plays fades in again from silence at the room's ramp (a lower volume at
        once, never a jump up). Whether content fades in again (not paused or stopped)."""
        self._volumes.silence(device_id, now)
        last = self.sent.get(device_id)
        if last is None or last.action not in ("play", "resume"):
            return False
        self._volumes.fade_to(device_id, self.wanted.get(device_id, 0.0), 0.0, now)
        return True

    def reassert(self, device_id: str, now: float, *, latched: bool = False) -> None:
        """A headset (back) online is told to stop again if stop was the last word, and
        always while an emergency is latched: one offline at the press never got its stop,
        whatever was sent since (a pause)."""
        last = self.sent.get(device_id)
        if latched or (last is not None and last.action == "stop"):
            self.send(device_id, VrCommand("stop"), now, again=True)
