"""Bilateral-stimulation tappers and light bars on Sessionroom's own `bls/<id>` convention.

Start a set on `bls/<id>/set` with `{"running":true,"mode":"tactile|visual","speed_hz":…,
"intensity":0-100,"passes":N|null,"duration_s":S|null,"colour":"#RRGGBB"}`: mode (the
device's own unless the command names one), passes and duration_s are always sent (null =
not limited by it, so a previous set's limit never lingers); speed, intensity and colour
when given. `{"running":false}` stops at once. The device keeps its own timing and reports a
whole snapshot on `bls/<id>/state`: `{"running":…,"pass":n,"speed_hz":…}`. A reported speed
outside 0–2 Hz is an error, never a state (SAFETY.md's hard bound is 2.0 Hz).
"""

from __future__ import annotations

import json
from typing import Any

from controller.config import limits
from controller.drivers.base import BlsCommand, BlsDriver, Outgoing
from controller.drivers.conversions import to_scale
from controller.drivers.payloads import PayloadError, boolean, json_object, number, whole_number

MAX_REPORTED_PASS = 1_000_000


class MqttBls(BlsDriver):
    """A BLS device speaking `bls/<id>`."""

    @property
    def _base(self) -> str:
        return f"bls/{self.topic}"

    def command_topics(self) -> tuple[str, ...]:
        return (f"{self._base}/set",)

    def availability_topic(self) -> str:
        return f"{self._base}/availability"

    def state_topics(self) -> tuple[str, ...]:
        return (f"{self._base}/state",)

    def command(self, target: BlsCommand) -> list[Outgoing]:
        message: dict[str, Any] = {"running": target.running}
        if target.running:
            mode = target.mode or self.device.mode
            if mode != self.device.mode:
                raise ValueError(
                    f"BLS device {self.device.id!r} renders {self.device.mode}, not {mode}"
                )
            message["mode"] = mode
            if target.speed_hz is not None:
                message["speed_hz"] = target.speed_hz
            if target.intensity is not None:
                message["intensity"] = to_scale(target.intensity, 100)
            message["passes"] = target.passes
            message["duration_s"] = target.duration_s
            if target.colour is not None:
                message["colour"] = target.colour
        return [Outgoing(f"{self._base}/set", json.dumps(message, separators=(",", ":")))]

    def parse_state(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        report = json_object(payload)
        if "running" not in report:
            raise PayloadError('BLS state has no "running"')
        state: dict[str, Any] = {"running": boolean(report["running"], "running")}
        if report.get("pass") is not None:
            state["pass"] = whole_number(report["pass"], "pass", 0, MAX_REPORTED_PASS)
        if report.get("speed_hz") is not None:
            state["speed_hz"] = number(report["speed_hz"], "speed_hz", 0, limits.BLS_SPEED_MAX_HZ)
        return state
