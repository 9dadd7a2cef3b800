"""Bilateral-stimulation tappers and light bars on Sessionroom's own `bls/<id>` convention.

Start a set on `bls/<id>/set` with `{"running":true,"mode":"tactile|visual","speed_hz":…,
"intensity":0-100,"passes":N|null,"duration_s":S|null,"colour":"#RRGGBB"}`: mode (the
device's own unless the command names one), passes and duration_s are always sent (null =
not limited by it, so a previous set's limit never lingers); speed, intensity and colour
when given. `{"running":false}` stops at once. The device keeps its own timing and reports a
whole snapshot on `bls/<id>/state`: `{"running":…,"pass":n,"speed_hz":…}`. A reported speed
outside 0–2 Hz is an error, never a state (SAFETY.md's hard bound is 2.0 Hz).

`decode` reads a `/set` message back into its BlsCommand: `{"running":false}` as a bare stop,
a start with the mode named (the device's own), intensity as percent/100 (sent as whole
percent rounded down, so the room's maximum is never passed: within 1/100 of what was
sent), and speed, passes, seconds and colour as sent. Values are not held to the room's
limits here: that is the safety gate's job, on the decoded command.
"""

from __future__ import annotations

import math
import re
from typing import Any

from controller.config import limits
from controller.config.settings import HEX_COLOUR
from controller.drivers.base import BlsCommand, BlsDriver, Outgoing, compact_json
from controller.drivers.conversions import to_scale_below
from controller.drivers.payloads import (
    PayloadError,
    boolean,
    excerpt,
    from_scale,
    integer,
    json_object,
    number,
    require_keys,
    required,
    same_form,
    text,
    whole_number,
)

MAX_REPORTED_PASS = 1_000_000


class MqttBls(BlsDriver):
    """A BLS device speaking `bls/<id>`."""

    @property
    def _base(self) -> str:
        return f"bls/{self.topic}"

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
                message["intensity"] = to_scale_below(target.intensity, 100)
            message["passes"] = target.passes
            message["duration_s"] = target.duration_s
            if target.colour is not None:
                message["colour"] = target.colour
        return [Outgoing(f"{self._base}/set", compact_json(message))]

    def command_topics(self) -> tuple[str, ...]:
        return (f"{self._base}/set",)

    def _decode(self, topic: str, payload: str) -> BlsCommand:
        message = json_object(payload)
        if not boolean(required(message, "running"), "running"):
            require_keys(message, ("running",), name="a stop command")
            target = BlsCommand(running=False)
        else:
            require_keys(
                message,
                ("running", "mode", "passes", "duration_s"),
                ("speed_hz", "intensity", "colour"),
            )
            mode = text(message["mode"], "mode")
            if mode != self.device.mode:
                raise PayloadError(f"mode {excerpt(mode)} is not {self.device.mode}, its own")
            passes, colour = message["passes"], message.get("colour")
            target = BlsCommand(
                running=True,
                mode=mode,
                speed_hz=_as_sent(message.get("speed_hz"), "speed_hz"),
                intensity=from_scale(message.get("intensity"), "intensity", 100),
                passes=None if passes is None else integer(passes, "passes", 1),
                duration_s=_as_sent(message["duration_s"], "duration_s"),
                colour=None if colour is None else _hex_colour(colour),
            )
        same_form(payload, self.command(target)[0].payload)
        return target

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


def _as_sent(value: Any, name: str) -> Any:
    """A number above 0 kept as sent (1 stays 1, to be written back alike); None for null."""
    if value is not None and not number(value, name, -math.inf, math.inf) > 0:
        raise PayloadError(f"{name} {excerpt(value)} is not above 0")
    return value


def _hex_colour(value: Any) -> str:
    colour = text(value, "colour")
    if not re.fullmatch(HEX_COLOUR, colour):
        raise PayloadError(f"colour {excerpt(colour)} is not #RRGGBB")
    return colour
