"""Tasmota lights: one `cmnd/<topic>/Backlog` message per change, state from stat/ and tele/.

Source: tasmota/docs Commands.md ("Light", "Backlog", SetOption17/20/34) and MQTT.md.

Why one Backlog: the fade settings and the new values must arrive together; separate
`cmnd/<topic>/<Command>` messages could be split by a reconnect (Speed set, Dimmer lost) and
reach the light as visible steps. Every command is preceded by `NoDelay`, so Tasmota runs the
whole list at once instead of 200 ms apart (SetOption34), the form Home Assistant's Tasmota
integration sends: `NoDelay;Fade 1;NoDelay;Speed2 8;NoDelay;Dimmer 100`.

Fades: `Fade 1` plus `Speed2 <1–40>`. Speed is the time in 0.5 s units for a full-scale
0→100 % fade, so a change of |Δ| over T s needs Speed = 2·T/|Δ|; the longest native fade of a
change is 20 s × |Δ|, and the engine steps longer ones. `Speed2` is the variant that is not
saved to flash (a fade per scene change would otherwise wear it). T = 0 sends `Fade 0`.
|Δ| is measured from where the light is heading: the last command sent or state reported,
whichever is newer; a colour change counts as a change of the brighter end's level, because
that is how far a colour channel can move. Unknown start: full scale.

`Dimmer` (0–100) turns the light on by itself (SetOption20 0, the default); a colour-only
change sends `Power ON`. RGB goes as `Color2 r,g,b` ("set color adjusted to current Dimmer
value") so the colour never drags the brightness up before the Dimmer arrives. `CT` is mireds
clamped to the light's range and to Tasmota's 153–500.

Commands are never retained (Tasmota warns that retained `cmnd/…/Power` causes ghost switching).
A `{"Command":"Unknown"}` reply is reported as an error.

`decode` reads a Backlog back: `Power OFF` as on=False, `Dimmer d` as level d/100 (within
1/200 of the level sent), `Power ON` as no level, `CT m` as Kelvin 1,000,000/m (within a
mired of the Kelvin sent, after clamping) and `Color2 r,g,b` as RGB. A Backlog names the
fade's speed, not its time, and the time also depends on where the light started, which
decode does not know: `Fade 1;Speed2 n` comes back as transition_s = n × 0.5 s, the time of a
full-scale fade at that speed (0.5–20 s; a change of |Δ| fades in |Δ| of it), and `Fade 0` as
0. From a light whose start is unknown the driver times a fade as full scale, so the round
trip gives the transition to 0.25 s, at least 0.5 s and at most 20 s. Commands this driver
never sends (a `Scheme`, a `Power BLINK`, single `cmnd/<topic>/Dimmer` messages) are refused.
"""

from __future__ import annotations

import re
from typing import Any

from controller.config.models import Device
from controller.drivers.base import LightCommand, LightDriver, Outgoing
from controller.drivers.conversions import kelvin_from_mireds, mireds, round_half_up, to_scale
from controller.drivers.payloads import (
    PayloadError,
    decimal,
    decode_text,
    excerpt,
    hex_channels,
    json_object,
    on_off,
    same_form,
    text,
    whole_number,
)

DIMMER_TOP = 100
CT_MIREDS = (153, 500)
SPEED_RANGE = (1, 40)
SPEED_UNIT_S = 0.5
"""Speed counts half-seconds for a full-scale fade."""
MAX_FULL_SCALE_FADE_S = SPEED_RANGE[1] * SPEED_UNIT_S

_DECIMAL_CHANNEL = re.compile(r" *[0-9]{1,3} *")
BACKLOG_COMMANDS = ("Fade", "Speed2", "Power", "CT", "Color2", "Dimmer")
"""The commands this driver puts in a Backlog."""


class TasmotaLight(LightDriver):
    """A Tasmota light (PWM, RGB, CCT or RGBCCT), addressed by its %topic%."""

    def __init__(self, device: Device) -> None:
        super().__init__(device)
        self._heading: dict[str, Any] = {}
        """Where the light is going: the newer of the last command and the last report."""

    def availability_topic(self) -> str:
        return f"tele/{self.topic}/LWT"

    def state_topics(self) -> tuple[str, ...]:
        return (
            f"stat/{self.topic}/RESULT",
            f"stat/{self.topic}/POWER",
            f"tele/{self.topic}/STATE",
        )

    def native_fade_s(self, level_change: float) -> float:
        return MAX_FULL_SCALE_FADE_S * abs(level_change)

    def forget_start(self) -> None:
        """Tasmota times a fade by its speed over full scale: from an unknown start, `Speed2`
        is set for a full-scale change, so any change arrives within the transition."""
        self._heading.clear()

    def query(self) -> list[Outgoing]:
        return [Outgoing(f"cmnd/{self.topic}/State", "")]

    def command_topics(self) -> tuple[str, ...]:
        return (f"cmnd/{self.topic}/Backlog",)

    def _translate(self, target: LightCommand) -> list[Outgoing]:
        _, turns_off, ct = self._values(target)
        speed = self._speed(target, turns_off, ct) if target.transition_s > 0 else None
        self._remember(target, turns_off, ct)
        return [Outgoing(self.command_topics()[0], self._backlog(target, speed))]

    def _values(self, target: LightCommand) -> tuple[int | None, bool, int | None]:
        """The target's Dimmer, whether it turns the light off, and its CT."""
        dimmer = None if target.level is None else to_scale(target.level, DIMMER_TOP)
        turns_off = not target.on or dimmer == 0
        ct = None
        if target.kelvin is not None and not turns_off:
            assert self.device.kelvin_range is not None  # checked by LightDriver.command
            ct = mireds(target.kelvin, self.device.kelvin_range, CT_MIREDS)
        return dimmer, turns_off, ct

    def _backlog(self, target: LightCommand, speed: int | None) -> str:
        """The Backlog bringing the light to `target`, fading at `speed` (None: at once)."""
        dimmer, turns_off, ct = self._values(target)
        commands = ["Fade 0"] if speed is None else ["Fade 1", f"Speed2 {speed}"]
        if turns_off:
            commands.append("Power OFF")
        else:
            if ct is not None:
                commands.append(f"CT {ct}")
            if target.rgb is not None:
                commands.append("Color2 {},{},{}".format(*target.rgb))
            commands.append("Power ON" if dimmer is None else f"Dimmer {dimmer}")
        return ";".join(f"NoDelay;{command}" for command in commands)

    def _decode(self, topic: str, payload: str) -> LightCommand:
        commands = _backlog_commands(payload)
        if "Fade" not in commands:
            raise PayloadError("the Backlog sets no Fade")
        speed = None
        if decimal(commands["Fade"], "Fade", 0, 1):
            if "Speed2" not in commands:
                raise PayloadError("the Backlog sets Fade 1 without a Speed2")
            speed = decimal(commands["Speed2"], "Speed2", *SPEED_RANGE)
        transition = 0.0 if speed is None else speed * SPEED_UNIT_S
        if not on_off(commands.get("Power", "ON"), "Power"):
            target = LightCommand(on=False, transition_s=transition)
        else:
            target = LightCommand(
                level=_dimmer_level(commands.get("Dimmer")),
                kelvin=self._ct_kelvin(commands.get("CT")),
                rgb=self._colour2(commands.get("Color2")),
                transition_s=transition,
            )
        same_form(payload, self._backlog(target, speed))
        return target

    def _ct_kelvin(self, ct: str | None) -> int | None:
        value = None if ct is None else decimal(ct, "CT", *CT_MIREDS)
        return self._kelvin_for("CT", value, CT_MIREDS, in_mireds=True)

    def _colour2(self, value: str | None) -> tuple[int, int, int] | None:
        if value is None:
            return None
        channels = value.split(",")
        if len(channels) != 3:
            raise PayloadError(f"Color2 {excerpt(value)} is not r,g,b")
        return self._rgb_for("Color2", [decimal(c, "Color2", 0, 255) for c in channels])

    def _speed(self, target: LightCommand, turns_off: bool, ct: int | None) -> int:
        change = self._channel_change(target, turns_off, ct)
        full_scale_s = target.transition_s / change if change else target.transition_s
        low, high = SPEED_RANGE
        # Capped before rounding: a tiny change makes full_scale_s huge, even infinite.
        return max(round_half_up(min(full_scale_s / SPEED_UNIT_S, high)), low)

    def _channel_change(
        self, target: LightCommand, turns_off: bool, ct: int | None
    ) -> float | None:
        """How far (0–1) the largest output channel moves; None when the start is unknown."""
        start: float | None = (
            0.0 if self._heading.get("on") is False else self._heading.get("level")
        )
        end: float | None = 0.0 if turns_off else target.level
        if end is None:
            end = start
        if start is None or end is None:
            return None
        change = abs(end - start)
        colour_moves = (
            ct is not None and self._heading.get("kelvin") != kelvin_from_mireds(ct)
        ) or (target.rgb is not None and self._heading.get("rgb") != list(target.rgb))
        if colour_moves:
            change = max(change, start, end)
        return change

    def _remember(self, target: LightCommand, turns_off: bool, ct: int | None) -> None:
        if turns_off:
            self._heading["on"] = False
            return
        self._heading["on"] = True
        if target.level is not None:
            self._heading["level"] = target.level
        if ct is not None:
            self._heading["kelvin"] = kelvin_from_mireds(ct)
            self._heading.pop("rgb", None)
        if target.rgb is not None:
            self._heading["rgb"] = list(target.rgb)
            self._heading.pop("kelvin", None)

    def parse_state(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        if topic == f"stat/{self.topic}/POWER":
            update = {"on": on_off(decode_text(payload), "POWER")}
        else:
            update = self._parse_report(json_object(payload))
        self._heading.update(update)
        return update or None

    def _parse_report(self, report: dict[str, Any]) -> dict[str, Any]:
        """The light's keys of a RESULT or STATE object (other keys are other features')."""
        if "Command" in report:
            raise PayloadError(
                f"the device did not take a command (Command {excerpt(report['Command'])})"
            )
        update: dict[str, Any] = {}
        if "POWER" in report:
            update["on"] = on_off(report["POWER"], "POWER")
        if "Dimmer" in report:
            update["level"] = whole_number(report["Dimmer"], "Dimmer", 0, DIMMER_TOP) / DIMMER_TOP
        if "CT" in report:
            kelvin = kelvin_from_mireds(whole_number(report["CT"], "CT", *CT_MIREDS))
            if self.device.kelvin_range is not None:
                update["kelvin"] = kelvin
        if "Color" in report:
            rgb = _hue_at_full(_colour_channels(text(report["Color"], "Color")))
            if self.device.rgb and rgb is not None:
                update["rgb"] = rgb
        return update


def _colour_channels(value: str) -> list[int]:
    """`Color` as channel values: hex `FF8000…` (default) or decimal `255,128,0,…` (SetOption17)."""
    if "," in value:
        parts = value.split(",")
        if not all(_DECIMAL_CHANNEL.fullmatch(part) for part in parts):
            raise PayloadError(f"Color {excerpt(value)} is not decimal channels")
        channels = [int(part) for part in parts]
        if any(channel > 255 for channel in channels):
            raise PayloadError(f"Color {excerpt(value)} has a channel above 255")
    else:
        channels = hex_channels(value, "Color")
    if len(channels) > 5:
        raise PayloadError(f"Color {excerpt(value)} has more than 5 channels")
    return channels


def _hue_at_full(channels: list[int]) -> list[int] | None:
    """The RGB part scaled so its brightest channel is 255 (the Dimmer carries brightness).

    None when there is no RGB part or it is dark (a white-only or CT setting).
    """
    if len(channels) < 3 or max(channels[:3]) == 0:
        return None
    peak = max(channels[:3])
    return [round_half_up(channel * 255 / peak) for channel in channels[:3]]


def _backlog_commands(payload: str) -> dict[str, str]:
    """A Backlog this driver wrote, `NoDelay;<Command> <value>;…`, as {command: value}."""
    parts = payload.split(";")
    if len(parts) % 2 or any(part != "NoDelay" for part in parts[0::2]):
        raise PayloadError("the Backlog is not NoDelay;<command> pairs")
    commands: dict[str, str] = {}
    for item in parts[1::2]:
        name, _, value = item.partition(" ")
        if name not in BACKLOG_COMMANDS:
            raise PayloadError(f"Backlog command {excerpt(name)} is not one this driver sends")
        if name in commands:
            raise PayloadError(f"the Backlog sends {name} twice")
        commands[name] = value
    return commands


def _dimmer_level(dimmer: str | None) -> float | None:
    """A Backlog's `Dimmer d` as level d/100; None when it sets none."""
    return None if dimmer is None else decimal(dimmer, "Dimmer", 1, DIMMER_TOP) / DIMMER_TOP
