"""One Tasmota light (PWM 1–5 channels) as seen over MQTT: `cmnd/<topic>/<Command>` and its answers.

Modelled on Tasmota's xdrv_04_light: commands answer on `stat/<topic>/RESULT` with the
new *target* state at once (Tasmota never reports a fade's intermediate levels); the
output then fades if `Fade` is on (or `Speed2` asks for one fade) from wherever it is at
that moment (a running fade is interrupted there), taking `Speed` × 0.5 s for a full-scale
change and proportionally less for smaller ones, or `Speed` × 0.5 s for any change when
`SetOption117` (fade at a fixed duration, off by default) is on. A value out of range
changes nothing and the answer repeats the current value; an unknown command answers
`{"Command":"Unknown"}`. `Backlog` runs its `;`-separated commands 200 ms apart
(`Backlog0` at once); a `NoDelay` entry runs the command after it at once, as Tasmota
does, and the commands run at once change the output in one fade. `tele/<topic>/STATE` is
published on connect and every `TelePeriod` seconds (300 by default).
"""

from __future__ import annotations

import re
import time
from collections import deque
from typing import Any

from controller.config.models import Device
from controller.sim.colour import hue_saturation_to_rgb, rgb_to_hue_saturation
from controller.sim.fade import Fade
from controller.sim.model import Availability, DeviceModel, Publication, compact_json, strtoul

CT_MIN = 153
CT_MAX = 500
CT_STEP = 34
DIMMER_STEP = 10
DEFAULT_TELE_PERIOD_S = 300
BACKLOG_DELAY_S = 0.2
"""SetOption34's default: the pause between two commands of a Backlog."""

QUERY = -99
"""The payload number Tasmota gives an empty or non-numeric value."""
STATE_WORDS = {
    "OFF": 0,
    "FALSE": 0,
    "STOP": 0,
    "ON": 1,
    "TRUE": 1,
    "START": 1,
    "TOGGLE": 2,
    "BLINK": 3,
    "BLINKOFF": 4,
}
COMMAND_NAME = re.compile(r"([A-Za-z]+?)(\d*)")
LEADING_INTEGER = re.compile(r"\s*([+-]?\d+)")


def change_uint_scale(value: int, from_min: int, from_max: int, to_min: int, to_max: int) -> int:
    """Tasmota's integer rescaling with rounding (changeUIntScale)."""
    value = max(from_min, min(from_max, value))
    if from_max == from_min:
        return to_min
    numerator = (value - from_min) * (to_max - to_min) * 2
    return (numerator // (from_max - from_min) + 1) // 2 + to_min


def command_number(data: str) -> int:
    """The number Tasmota reads from a command's value (ON → 1, TOGGLE → 2, "40.5" → 40)."""
    if not data:
        return QUERY
    word = STATE_WORDS.get(data.upper())
    if word is not None:
        return word
    match = LEADING_INTEGER.match(data)
    return int(match.group(1)) if match else QUERY


class TasmotaLight(DeviceModel):
    """A Tasmota light whose channels follow the device's `rgb` and `kelvin_range`."""

    protocol = "tasmota"

    def __init__(
        self,
        device: Device,
        *,
        unix_offset: float = 0.0,
        tele_period_s: int = DEFAULT_TELE_PERIOD_S,
    ) -> None:
        super().__init__(device, unix_offset=unix_offset)
        self.topic = device.topic
        has_ct = device.kelvin_range is not None
        self.channel_count = {(True, True): 5, (True, False): 3, (False, True): 2}.get(
            (device.rgb, has_ct), 1
        )
        self.power = False
        self.bri = 255
        """Overall brightness 0–255 (Dimmer 100)."""
        self.last_lit_bri = 255
        self.colour_mode = "ct" if has_ct else "rgb"
        self.rgb_full = (255, 255, 255)
        """The colour at full brightness; brightness comes from `bri`."""
        self.ct = CT_MIN
        self.fade = False
        self.speed = 1
        self.fade_fixed_duration = False
        """SetOption117: every fade takes the Speed's time, not that time per full scale."""
        self._fade_once: bool | None = None
        self._speed_once: int | None = None
        self.tele_period_s = tele_period_s
        self.output = Fade.steady((0.0,) * self.channel_count)
        """The channels' PWM levels 0–255 as they are now (fading towards the target)."""
        self._backlog: deque[str] = deque()
        self._next_backlog_at = 0.0
        self._fade_owed: bool | None = None
        """While a Backlog's commands run at once: the output's fade is owed (whether it may
        fade), started when they are done."""
        self._running_backlog = False
        self._started_at: float | None = None
        self._last_tele = 0.0
        self._mqtt_count = 0
        self._commands = {
            "power": self._power,
            "dimmer": self._dimmer,
            "ct": self._ct,
            "color": self._color,
            "hsbcolor": self._hsb_color,
            "fade": self._fade_command,
            "speed": self._speed_command,
            "setoption": self._set_option,
            "state": self._state_command,
            "teleperiod": self._tele_period,
            "backlog": self._backlog_command,
        }

    # ------------------------------------------------------------------ protocol surface

    @property
    def availability(self) -> Availability:
        return Availability(f"tele/{self.topic}/LWT", "Online", "Offline")

    @property
    def state_topic(self) -> str:
        return f"tele/{self.topic}/STATE"

    def subscriptions(self) -> list[str]:
        return [f"cmnd/{self.topic}/+"]

    def connected(self, now: float) -> list[Publication]:
        if self._started_at is None:
            self._started_at = now
        self._mqtt_count += 1
        self._last_tele = now
        return [Publication(self.state_topic, compact_json(self._telemetry(now)))]

    def handle(self, topic: str, payload: bytes, now: float) -> list[Publication]:
        prefix = f"cmnd/{self.topic}/"
        if not topic.startswith(prefix):
            return self.ignore(f"a message on {topic}", payload)
        return self._command(topic[len(prefix) :], payload.decode("utf-8", "replace"), now)

    def tick(self, now: float) -> list[Publication]:
        publications = self._run_due_backlog(now)
        if self.tele_period_s and now >= self._last_tele + self.tele_period_s:
            self._last_tele = now
            publications.append(Publication(self.state_topic, compact_json(self._telemetry(now))))
        return publications

    def _run_due_backlog(self, now: float) -> list[Publication]:
        """The Backlog's commands due now. Those run at once (`NoDelay`) change the light
        together, as Tasmota's light driver animates between loop passes, not within a
        command: one fade to where they leave it, at the `Speed2` among them."""
        publications: list[Publication] = []
        outermost, self._running_backlog = not self._running_backlog, True
        try:
            while self._backlog and now >= self._next_backlog_at:
                entry = self._backlog.popleft()
                no_delay = entry.lower() == "nodelay"
                if no_delay:
                    if not self._backlog:
                        break
                    entry = self._backlog.popleft()
                name, _, data = entry.partition(" ")
                publications += self._command(name, data, now)
                self._next_backlog_at = now if no_delay else now + BACKLOG_DELAY_S
        finally:
            self._running_backlog = not outermost
        if not outermost:
            return publications
        owed, self._fade_owed = self._fade_owed, None
        if owed is not None:
            self._start_output_fade(now, allow_fade=owed)
        return publications

    # ------------------------------------------------------------------ state

    def dimmer(self) -> int:
        dimmer = change_uint_scale(self.bri, 0, 255, 0, 100)
        return 1 if dimmer == 0 and self.bri > 0 else dimmer

    def levels(self) -> tuple[int, ...]:
        """The target channel levels 0–255 (Tasmota's current_color), power aside."""
        if self.channel_count == 1:
            return (self.bri,)
        red, green, blue = (change_uint_scale(c, 0, 255, 0, self.bri) for c in self.rgb_full)
        warm = change_uint_scale(self.ct, CT_MIN, CT_MAX, 0, 255)
        cold, warm = (change_uint_scale(c, 0, 255, 0, self.bri) for c in (255 - warm, warm))
        if self.colour_mode == "rgb":
            cold = warm = 0
        else:
            red = green = blue = 0
        return {2: (cold, warm), 3: (red, green, blue)}.get(
            self.channel_count, (red, green, blue, cold, warm)
        )

    def _light_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"POWER": "ON" if self.power else "OFF", "Dimmer": self.dimmer()}
        if self.channel_count == 1:
            return state
        levels = self.levels()
        state["Color"] = "".join(f"{level:02X}" for level in levels)
        if self.channel_count >= 3:
            hue, saturation = rgb_to_hue_saturation(self.rgb_full)
            brightness = self.dimmer() if self.colour_mode == "rgb" else 0
            state["HSBColor"] = f"{hue},{saturation},{brightness}"
        if self.channel_count in (2, 5):
            state["White"] = self.dimmer() if self.colour_mode == "ct" else 0
            state["CT"] = self.ct
        percents = [change_uint_scale(level, 0, 255, 0, 100) for level in levels]
        state["Channel"] = [
            1 if p == 0 and level else p for p, level in zip(percents, levels, strict=True)
        ]
        return state

    def _telemetry(self, now: float) -> dict[str, Any]:
        uptime = int(now - (self._started_at if self._started_at is not None else now))
        days, rest = divmod(uptime, 86400)
        clock = time.strftime("%H:%M:%S", time.gmtime(rest))
        telemetry: dict[str, Any] = {
            "Time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.unix_time(now))),
            "Uptime": f"{days}T{clock}",
            "UptimeSec": uptime,
            "MqttCount": self._mqtt_count,
        }
        telemetry.update(self._light_state())
        if self.channel_count >= 3:
            telemetry["Scheme"] = 0
        telemetry.update(
            {"Fade": "ON" if self.fade else "OFF", "Speed": self.speed, "LedTable": "ON"}
        )
        return telemetry

    # ------------------------------------------------------------------ commands

    def _command(self, name_with_index: str, data: str, now: float) -> list[Publication]:
        data = data.strip()
        if data == "?":
            data = ""
        match = COMMAND_NAME.fullmatch(name_with_index)
        command = self._commands.get(match.group(1).lower()) if match else None
        if match is None or command is None:
            self.log.warning("%s: unknown command %r", self.device.id, name_with_index)
            return [self._result({"Command": "Unknown"})]
        index = int(match.group(2)) if match.group(2) else 1
        return command(index, data, now)

    def _result(self, answer: dict[str, Any]) -> Publication:
        return Publication(f"stat/{self.topic}/RESULT", compact_json(answer))

    def _answer(self, name: str, value: Any) -> list[Publication]:
        return [self._result({name: value})]

    def _power(self, index: int, data: str, now: float) -> list[Publication]:
        if index != 1:
            return [self._result({"Command": "Unknown"})]
        number = command_number(data)
        if number in (3, 4):
            self.ignore("Power BLINK (not simulated: docs/safety.md forbids flashing)", data)
        elif number in (0, 1, 2):
            self.power = {0: False, 1: True, 2: not self.power}[number]
            if self.power and self.bri == 0:
                self.bri = self.last_lit_bri
            self._start_output_fade(now)
        elif data:
            self.ignore("an invalid Power value", data)
        text = "ON" if self.power else "OFF"
        return [self._result({"POWER": text}), Publication(f"stat/{self.topic}/POWER", text)]

    def _render(self, now: float, *, allow_fade: bool = True) -> list[Publication]:
        """After a light change: power follows brightness, the output fades, the state is sent."""
        if self.bri:
            self.last_lit_bri = self.bri
            self.power = True
        else:
            self.power = False
        self._start_output_fade(now, allow_fade=allow_fade)
        return [self._result(self._light_state())]

    def _start_output_fade(self, now: float, *, allow_fade: bool = True) -> None:
        if self._running_backlog:
            self._fade_owed = allow_fade and self._fade_owed is not False
            return
        levels = self.levels() if self.power else (0,) * self.channel_count
        target = tuple(float(level) for level in levels)
        if target == self.output.target:
            return
        fade = self.fade if self._fade_once is None else self._fade_once
        speed = self.speed if self._speed_once is None else self._speed_once
        self._fade_once = self._speed_once = None
        duration = 0.0
        if fade and allow_fade and speed:
            current = self.output.at(now)
            distance = max(abs(t - c) for t, c in zip(target, current, strict=True)) / 255
            duration = speed * 0.5 * (1.0 if self.fade_fixed_duration and distance else distance)
        self.output = self.output.towards(target, now, duration)

    def _dimmer(self, index: int, data: str, now: float) -> list[Publication]:
        current = self.dimmer()
        number = command_number(data)
        if data and data[0] in "+-":
            step = strtoul(data[1:]) if len(data) > 1 else DIMMER_STEP
            if step >= 1:
                number = min(100, current + step) if data[0] == "+" else max(1, current - step)
        elif data in ("<", ">"):
            number = 1 if data == "<" else 100
        if not 0 <= number <= 100:
            if data:
                self.ignore("a Dimmer outside 0–100", data)
            return self._answer("Dimmer", current)
        self.bri = change_uint_scale(number, 0, 100, 0, 255)
        return self._render(now, allow_fade=index != 3)

    def _ct(self, index: int, data: str, now: float) -> list[Publication]:
        if self.channel_count not in (2, 5):
            return self.ignore("CT (the light has no colour temperature)", data)
        number = command_number(data)
        if data == "+":
            number = min(CT_MAX, self.ct + CT_STEP)
        elif data == "-":
            number = max(CT_MIN, self.ct - CT_STEP)
        if not CT_MIN <= number <= CT_MAX:
            if data:
                self.ignore("a CT outside 153–500", data)
            return self._answer("CT", self.ct)
        self.ct, self.colour_mode = number, "ct"
        return self._render(now)

    def _color(self, index: int, data: str, now: float) -> list[Publication]:
        if self.channel_count == 1 or index not in (1, 2):
            return [self._result({"Command": "Unknown"})]
        channels = self._parse_colour_entry(data) if data else None
        if channels is None:
            if data:
                self.ignore("an unreadable Color", data)
            return self._answer("Color", self._light_state()["Color"])
        kept_bri = self.bri
        self._apply_channels(channels)
        if index == 2 and self.bri:
            self.bri = kept_bri
        return self._render(now)

    def _parse_colour_entry(self, data: str) -> tuple[int, int, int, int, int] | None:
        """Color's value as five channels r, g, b, cold, warm (decimal `r,g,b` or hex)."""
        text = data[1:] if data.startswith("#") else data
        values: list[int]
        if "," in text:
            values = [strtoul(part) & 0xFF for part in text.split(",")[:5]]
        elif len(text) == 2 * self.channel_count or len(text) > 3:
            values = [strtoul(text[i : i + 2], 16) for i in range(0, min(len(text), 10), 2)]
        else:
            return None
        if self.channel_count == 2:
            values = [0, 0, 0, *values]
        padded = (values + [0] * 5)[:5]
        return padded[0], padded[1], padded[2], padded[3], padded[4]

    def _apply_channels(self, channels: tuple[int, int, int, int, int]) -> None:
        red, green, blue, cold, warm = channels
        brightest = max(red, green, blue)
        if brightest and self.channel_count >= 3:
            self.colour_mode = "rgb"
            self.rgb_full = (
                change_uint_scale(red, 0, brightest, 0, 255),
                change_uint_scale(green, 0, brightest, 0, 255),
                change_uint_scale(blue, 0, brightest, 0, 255),
            )
            self.bri = brightest
        elif (cold or warm) and self.channel_count in (2, 5):
            self.colour_mode = "ct"
            self.ct = change_uint_scale(warm, 0, cold + warm, CT_MIN, CT_MAX)
            self.bri = min(255, cold + warm)
        else:
            self.bri = 0

    def _hsb_color(self, index: int, data: str, now: float) -> list[Publication]:
        if self.channel_count < 3:
            return [self._result({"Command": "Unknown"})]
        if not data:
            return [self._result(self._light_state())]
        hue, saturation = rgb_to_hue_saturation(self.rgb_full)
        hsb = [hue, saturation, self.dimmer()]
        if index in (2, 3):
            hsb[index - 1] = min(100, strtoul(data))
        else:
            for position, part in enumerate(data.split(",")[:3]):
                hsb[position] = min(360 if position == 0 else 100, strtoul(part))
        self.rgb_full = hue_saturation_to_rgb(hsb[0], hsb[1])
        self.colour_mode = "rgb"
        self.bri = change_uint_scale(hsb[2], 0, 100, 0, 255)
        return self._render(now)

    def _fade_command(self, index: int, data: str, now: float) -> list[Publication]:
        number = command_number(data)
        if number in (0, 1):
            self.fade = bool(number)
        elif number == 2:
            self.fade = not self.fade
        elif data:
            self.ignore("an invalid Fade value", data)
        return self._answer("Fade", "ON" if self.fade else "OFF")

    def _speed_command(self, index: int, data: str, now: float) -> list[Publication]:
        number = command_number(data)
        if index == 2:
            if data == "!":
                self._fade_once = self._speed_once = None
                return self._answer("Speed2", "Done")
            if 0 <= number <= 40:
                self._fade_once, self._speed_once = number > 0, number
            elif data:
                self.ignore("a Speed2 outside 0–40", data)
            return self._answer("Speed2", self._speed_once or 0)
        if data == "+" and self.speed > 1:
            number = self.speed - 1
        elif data == "-" and self.speed < 40:
            number = self.speed + 1
        if 1 <= number <= 40:
            self.speed = number
        elif data:
            self.ignore("a Speed outside 1–40", data)
        return self._answer("Speed", self.speed)

    def _set_option(self, index: int, data: str, now: float) -> list[Publication]:
        if index != 117:
            return self.ignore(f"SetOption{index} (not simulated)", data)
        number = command_number(data)
        if number in (0, 1):
            self.fade_fixed_duration = bool(number)
        elif data:
            self.ignore("an invalid SetOption117 value", data)
        return self._answer("SetOption117", "ON" if self.fade_fixed_duration else "OFF")

    def _state_command(self, index: int, data: str, now: float) -> list[Publication]:
        return [self._result(self._telemetry(now))]

    def _tele_period(self, index: int, data: str, now: float) -> list[Publication]:
        number = command_number(data)
        if number == 1:
            self.tele_period_s = DEFAULT_TELE_PERIOD_S
        elif number == 0 or 10 <= number <= 3600:
            self.tele_period_s = number
        elif data:
            self.ignore("a TelePeriod outside 10–3600", data)
        return self._answer("TelePeriod", self.tele_period_s)

    def _backlog_command(self, index: int, data: str, now: float) -> list[Publication]:
        entries = [entry.strip() for entry in data.split(";") if entry.strip()]
        if not entries:
            return self.ignore("an empty Backlog")
        if index == 0:
            publications: list[Publication] = []
            for entry in entries:
                name, _, value = entry.partition(" ")
                if name.lower() != "nodelay":
                    publications += self._command(name, value, now)
            return publications
        if not self._backlog:
            self._next_backlog_at = now
        self._backlog.extend(entries)
        return self._run_due_backlog(now)
