"""A bilateral-stimulation device (tappers or light bar) speaking our `bls/<id>` convention.

`bls/<id>/set` takes `{"running": true, "mode", "speed_hz", "intensity", "passes" |
"duration_s", "colour"}` and starts a new set at once; `{"running": false}` stops at once,
not at the end of the pass. The device keeps its own timing: passes (full left-right
cycles) count up at `speed_hz`, and the set ends by itself after `passes` or
`duration_s` (neither: it runs until stopped). It reports `bls/<id>/state`
`{"running", "pass", "speed_hz"}` (retained) at each pass and at start and stop. Like
the firmware, it clamps speed to 0.2–2.0 Hz and intensity to 0–100 % (80 % for tactile
motors), and refuses a set for a mode it cannot render or with an unreadable count.
"""

from __future__ import annotations

import math
from typing import Any

from controller.config import limits
from controller.config.models import Device
from controller.sim.model import (
    EPSILON_S,
    Publication,
    SetStateDevice,
    clamp,
    compact_json,
    is_number,
    parse_json,
)


class BlsDevice(SetStateDevice):
    """Tappers (mode tactile) or a light bar (mode visual), as the device's `mode` says."""

    protocol = "mqtt-bls"
    prefix = "bls"

    def __init__(self, device: Device, *, unix_offset: float = 0.0) -> None:
        super().__init__(device, unix_offset=unix_offset)
        self.mode = device.mode or "tactile"
        self.running = False
        self.speed_hz = 1.0
        self.intensity = 50.0
        self.colour = "#FFFFFF"
        self.passes: int | None = None
        self.duration_s: float | None = None
        self.completed_passes = 0
        self._started_at = 0.0

    def connected(self, now: float) -> list[Publication]:
        return [self._report()]

    @property
    def intensity_max(self) -> float:
        return limits.TACTILE_INTENSITY_MAX if self.mode == "tactile" else 100.0

    def handle(self, topic: str, payload: bytes, now: float) -> list[Publication]:
        if topic != f"{self.base}/set":
            return self.ignore(f"a message on {topic}", payload)
        try:
            command = parse_json(payload)
        except ValueError:
            return self.ignore("a command that is not JSON", payload)
        if not isinstance(command, dict) or not isinstance(command.get("running"), bool):
            return self.ignore("a command without running true/false", payload)
        if not command["running"]:
            self.tick(now)
            self.running = False
            return [self._report()]
        problem = self._start_problem(command)
        if problem:
            return self.ignore(problem, payload)
        self._start(command, now)
        return [self._report()]

    def _start_problem(self, command: dict[str, Any]) -> str | None:
        """Why the device refuses to start this set, or None."""
        if command.get("mode", self.mode) != self.mode:
            return f"a set for mode {command.get('mode')!r} (this device is {self.mode})"
        for key in ("speed_hz", "intensity"):
            if key in command and not is_number(command[key]):
                return f"a set with an unreadable {key}"
        passes = command.get("passes")
        if passes is not None and (
            not isinstance(passes, int) or isinstance(passes, bool) or passes < 1
        ):
            return "a set whose passes is not a whole number from 1"
        duration = command.get("duration_s")
        if duration is not None and (not is_number(duration) or duration <= 0):
            return "a set whose duration_s is not a positive number"
        colour = command.get("colour")
        if colour is not None and not isinstance(colour, str):
            return "a set with an unreadable colour"
        return None

    def _start(self, command: dict[str, Any], now: float) -> None:
        if "speed_hz" in command:
            speed = float(command["speed_hz"])
            self.speed_hz = clamp(speed, limits.BLS_SPEED_MIN_HZ, limits.BLS_SPEED_MAX_HZ)
            if self.speed_hz != speed:
                self.log.warning(
                    "%s clamps speed_hz %s to %s", self.device.id, speed, self.speed_hz
                )
        if "intensity" in command:
            intensity = float(command["intensity"])
            self.intensity = clamp(intensity, 0, self.intensity_max)
            if self.intensity != intensity:
                self.log.warning(
                    "%s clamps intensity %s to %s", self.device.id, intensity, self.intensity
                )
        if command.get("colour") is not None:
            self.colour = command["colour"]
        self.passes = command.get("passes")
        duration = command.get("duration_s")
        self.duration_s = float(duration) if duration is not None else None
        self.running, self.completed_passes, self._started_at = True, 0, now

    def tick(self, now: float) -> list[Publication]:
        if not self.running:
            return []
        elapsed = now - self._started_at
        if self.duration_s is not None:
            elapsed = min(elapsed, self.duration_s)
        passes = math.floor(elapsed * self.speed_hz + EPSILON_S)
        if self.passes is not None:
            passes = min(passes, self.passes)
        finished = (self.passes is not None and passes >= self.passes) or (
            self.duration_s is not None and now - self._started_at >= self.duration_s - EPSILON_S
        )
        if passes == self.completed_passes and not finished:
            return []
        self.completed_passes = passes
        self.running = not finished
        return [self._report()]

    def _report(self) -> Publication:
        state = {"running": self.running, "pass": self.completed_passes, "speed_hz": self.speed_hz}
        return Publication(self.state_topic, compact_json(state), retain=True)
