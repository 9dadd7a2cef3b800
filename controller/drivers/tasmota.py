"""Tasmota lights: one `cmnd/<topic>/Backlog` message per change, state from stat/ and tele/.

Source: tasmota/docs Commands.md ("Light", "Backlog", SetOption17/20/34/117) and MQTT.md;
arendst/Tasmota xdrv_04_light (how a fade is timed).

Why one Backlog: the fade settings and the new values must arrive together; separate
`cmnd/<topic>/<Command>` messages could be split by a reconnect (Speed set, Dimmer lost) and
reach the light as visible steps. Every command is preceded by `NoDelay`, so Tasmota runs the
whole list at once instead of 200 ms apart (SetOption34), the form Home Assistant's Tasmota
integration sends: `NoDelay;Fade 1;NoDelay;Speed2 8;NoDelay;Dimmer 100`.

Fades: `Fade 1;SetOption117 1;Speed2 <1–40>`. By default Tasmota fades at a fixed slew rate
(Speed is the time of a full-scale fade, a smaller change takes proportionally less) from
wherever its output is, so commands sent before the last fade ended would move the light
faster than the transition they name. SetOption117 (Tasmota 9.2 and later) makes every fade
take the Speed's time, from wherever the output is: exactly the straight line the safety
gate models (docs/safety.md#flash-rate). It is sent with every fade because a setting
changed on the device (its web console, a reset) would otherwise go unnoticed; Tasmota
writes its settings to flash only when they changed, so repeating it wears nothing. Speed2
is then the transition in 0.5 s units, rounded to the nearest, 1–40 (0.5–20 s whatever the
change), so the longest native fade is 20 s and the engine steps longer ones. `Speed2` is
the variant that is not saved to flash (a fade per scene change would otherwise wear it).
T = 0 sends `Fade 0`.

`Dimmer` (0–100) turns the light on by itself (SetOption20 0, the default); a colour-only
change sends `Power ON`. RGB goes as `Color2 r,g,b` ("set color adjusted to current Dimmer
value") so the colour never drags the brightness up before the Dimmer arrives. `CT` is mireds
clamped to the light's range and to Tasmota's 153–500.

Commands are never retained (Tasmota warns that retained `cmnd/…/Power` causes ghost switching).
A `{"Command":"Unknown"}` reply is reported as an error.

`decode` reads a Backlog back: `Power OFF` as on=False, `Dimmer d` as level d/100 (within
1/200 of the level sent), `Power ON` as no level, `CT m` as Kelvin 1,000,000/m (within a
mired of the Kelvin sent, after clamping) and `Color2 r,g,b` as RGB. `Fade 1;SetOption117
1;Speed2 n` comes back as transition_s = n × 0.5 s, the time the light takes, and `Fade 0` as
0: the round trip gives the transition to 0.25 s, at least 0.5 s and at most 20 s. A fade
without `SetOption117 1` is refused (its time would depend on where the light started).
Commands this driver never sends (a `Scheme`, a `Power BLINK`, single
`cmnd/<topic>/Dimmer` messages) are refused.
"""

from __future__ import annotations

import re
from typing import Any

from controller.drivers.base import (
    ColourShares,
    LightCommand,
    LightDriver,
    Outgoing,
    hue_at_level,
)
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
"""With SetOption117, Speed counts the half-seconds a fade takes."""
MAX_FADE_S = SPEED_RANGE[1] * SPEED_UNIT_S
FIXED_DURATION = "SetOption117"
"""Tasmota's option to fade at a fixed duration instead of a fixed slew rate."""

_DECIMAL_CHANNEL = re.compile(r" *[0-9]{1,3} *")
BACKLOG_COMMANDS = ("Fade", FIXED_DURATION, "Speed2", "Power", "CT", "Color2", "Dimmer")
"""The commands this driver puts in a Backlog."""


class TasmotaLight(LightDriver):
    """A Tasmota light (PWM, RGB, CCT or RGBCCT), addressed by its %topic%."""

    def availability_topic(self) -> str:
        return f"tele/{self.topic}/LWT"

    def state_topics(self) -> tuple[str, ...]:
        return (
            f"stat/{self.topic}/RESULT",
            f"stat/{self.topic}/POWER",
            f"tele/{self.topic}/STATE",
        )

    def native_fade_s(self) -> float:
        return MAX_FADE_S

    def colour_shares(self, rgb: tuple[int, int, int]) -> ColourShares:
        """`Color2` keeps the Dimmer: a colour is its hue at the Dimmer's brightness; black is
        dark."""
        return hue_at_level(rgb, black=ColourShares(0.0, 0.0))

    def transition_sent_s(self, transition_s: float) -> float:
        return _speed(transition_s) * SPEED_UNIT_S if transition_s > 0 else 0.0

    def query(self) -> list[Outgoing]:
        return [Outgoing(f"cmnd/{self.topic}/State", "")]

    def command_topics(self) -> tuple[str, ...]:
        return (f"cmnd/{self.topic}/Backlog",)

    def _translate(self, target: LightCommand) -> list[Outgoing]:
        speed = _speed(target.transition_s) if target.transition_s > 0 else None
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
        """The Backlog bringing the light to `target` in `speed` half-seconds (None: at once)."""
        dimmer, turns_off, ct = self._values(target)
        commands = (
            ["Fade 0"] if speed is None else ["Fade 1", f"{FIXED_DURATION} 1", f"Speed2 {speed}"]
        )
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
            if commands.get(FIXED_DURATION) != "1":
                raise PayloadError(
                    f"the Backlog fades without {FIXED_DURATION} 1 (at a slew rate, not in a time)"
                )
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

    def parse_state(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        if topic == f"stat/{self.topic}/POWER":
            update = {"on": on_off(decode_text(payload), "POWER")}
        else:
            update = self._parse_report(json_object(payload))
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


def _speed(transition_s: float) -> int:
    """`Speed2` for a fade of `transition_s` (> 0) at a fixed duration: half-seconds, 1–40."""
    low, high = SPEED_RANGE
    # Capped before rounding: a transition may be huge, even infinite.
    return max(round_half_up(min(transition_s / SPEED_UNIT_S, high)), low)


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
