"""One Zigbee2MQTT 2.x light as seen over MQTT: `/set` and `/get`, optimistic state, bulb reports.

Modelled on Zigbee2MQTT's publish extension and zigbee-herdsman-converters' light
converters: a `/set` is applied at once and Zigbee2MQTT publishes the target values
straight away (`optimistic`, its default); while a `transition` runs the bulb reports its
level every `REPORT_INTERVAL_S` and once at the end, and each report republishes the
whole cached state. The state topic is not retained (the device option `retain` is off by
default); `/get` reads the bulb and republishes.
"""

from __future__ import annotations

from typing import Any

from controller.config.models import Device
from controller.sim.colour import kelvin_to_mireds, parse_hex_rgb, rgb_to_xy
from controller.sim.fade import Fade, ProgressReports
from controller.sim.model import (
    Availability,
    DeviceModel,
    Publication,
    compact_json,
    decode_text,
    is_number,
    parse_json,
    round_half_up,
)

STATE_VALUES = ("on", "off", "toggle")
MAX_BRIGHTNESS = 254
READ_BACK = {
    "state": ("state",),
    "brightness": ("brightness",),
    "color_temp": ("color_temp", "color_mode"),
    "color": ("color", "color_mode"),
}
"""What a `/get` of each attribute reads from the bulb."""
COLOR_TEMP_PRESETS = {"cool": 250, "neutral": 370, "warm": 454}
"""Named colour temperatures in mireds; `coolest` and `warmest` are the light's own limits."""


def js_number(value: Any) -> float | None:
    """A JSON number or numeric string as JavaScript's Number() reads it, or None."""
    if is_number(value):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value)
        except ValueError:
            return None
    return None


class Zigbee2MqttLight(DeviceModel):
    """A Zigbee light paired to Zigbee2MQTT under the device's friendly name (`topic`)."""

    protocol = "zigbee2mqtt"

    def __init__(self, device: Device, *, unix_offset: float = 0.0) -> None:
        super().__init__(device, unix_offset=unix_offset)
        base = device.zigbee2mqtt_base
        assert base is not None  # a zigbee2mqtt device has one
        self.bridge_base = base
        """Zigbee2MQTT's `mqtt.base_topic`."""
        self.base = f"{self.bridge_base}/{device.topic}"
        self.mireds_range: tuple[int, int] | None = None
        if device.kelvin_range is not None:
            warm, cool = device.kelvin_range
            self.mireds_range = (kelvin_to_mireds(cool), kelvin_to_mireds(warm))
        self.on = False
        self.remembered_brightness = MAX_BRIGHTNESS
        """The bulb's level while it is off: what a plain ON brings back."""
        self.level = Fade.steady((0.0,))
        """What the bulb emits, 0–254; 0 while off."""
        self.colour_mode: str | None = None
        self.colour = Fade.steady(())
        if self.mireds_range is not None:
            self.colour_mode, self.colour = "color_temp", Fade.steady((self.mireds_range[1],))
        elif device.rgb:
            self.colour_mode, self.colour = "xy", Fade.steady(rgb_to_xy((255, 255, 255)))
        self._turned_off_with_transition = False
        self._off_when_faded = False
        self._reports = ProgressReports()
        self.reported: dict[str, Any] = self._bulb_report(0.0)
        """Zigbee2MQTT's cached state of the device: what it publishes."""

    # ------------------------------------------------------------------ protocol surface

    @property
    def availability(self) -> Availability:
        return Availability(
            f"{self.base}/availability", '{"state":"online"}', '{"state":"offline"}'
        )

    @property
    def state_topic(self) -> str:
        return self.base

    def subscriptions(self) -> list[str]:
        return [f"{self.base}/set", f"{self.base}/set/+", f"{self.base}/get", f"{self.base}/get/+"]

    def connected(self, now: float) -> list[Publication]:
        return [self._publish_state()]

    def handle(self, topic: str, payload: bytes, now: float) -> list[Publication]:
        for kind in ("set", "get"):
            prefix = f"{self.base}/{kind}"
            if topic == prefix or topic.startswith(prefix + "/"):
                attribute = topic[len(prefix) + 1 :] or None
                message = self._parse_message(attribute, payload)
                if message is None:
                    return self.ignore(f"an invalid /{kind} message", payload)
                if kind == "set":
                    return self._set(message, now)
                return self._get(message, now)
        return self.ignore(f"a message on {topic}", payload)

    def tick(self, now: float) -> list[Publication]:
        if self._off_when_faded and self.level.finished(now):
            self._off_when_faded = False
            self.on = False
            self.level = Fade.steady((0.0,))
        if self._reports.due(now, max(self.level.ends, self.colour.ends)):
            self.reported.update(self._bulb_report(now))
            return [self._publish_state()]
        return []

    # ------------------------------------------------------------------ what the bulb shows

    def brightness(self, now: float) -> int:
        """The brightness attribute: the current level while on, the level kept while off."""
        if self.on:
            return round_half_up(self.level.at(now)[0])
        return self.remembered_brightness

    def _bulb_report(self, now: float) -> dict[str, Any]:
        report: dict[str, Any] = {
            "state": "ON" if self.on else "OFF",
            "brightness": self.brightness(now),
        }
        report.update(self._colour_report(now))
        return report

    def _colour_report(self, now: float) -> dict[str, Any]:
        values = self.colour.at(now)
        if self.colour_mode == "color_temp":
            return {"color_mode": "color_temp", "color_temp": round_half_up(values[0])}
        if self.colour_mode == "xy":
            return {
                "color_mode": "xy",
                "color": {"x": round(values[0], 4), "y": round(values[1], 4)},
            }
        if self.colour_mode == "hs":
            hue, saturation = (round_half_up(v) for v in values)
            return {"color_mode": "hs", "color": {"hue": hue, "saturation": saturation}}
        return {}

    def _publish_state(self) -> Publication:
        return Publication(self.base, compact_json(self.reported))

    # ------------------------------------------------------------------ commands

    def _parse_message(self, attribute: str | None, payload: bytes) -> dict[str, Any] | None:
        """A `/set` or `/get` payload as Zigbee2MQTT reads it, or None when it skips it."""
        text = decode_text(payload)
        if text is None:
            return None
        try:
            value = parse_json(payload)
        except ValueError:
            if attribute is not None:
                return {attribute: text}
            if text.lower() in STATE_VALUES:
                return {"state": text}
            return None
        if attribute is not None:
            return {attribute: value}
        return value if isinstance(value, dict) else {}

    def _set(self, message: dict[str, Any], now: float) -> list[Publication]:
        duration = self._transition_s(message)
        optimistic: dict[str, Any] = {}
        for key, value in message.items():
            if key in ("state", "brightness", "transition"):
                continue
            if key == "color_temp":
                optimistic.update(self._set_color_temp(value, duration, now))
            elif key == "color":
                optimistic.update(self._set_colour(value, duration, now))
            elif key == "effect":
                self.ignore(
                    "an effect (not simulated; docs/safety.md forbids flashing effects)", str(value)
                )
            else:
                self.ignore(f"{key!r} (no converter)", compact_json(value))
        if "state" in message or "brightness" in message:
            optimistic.update(self._switch(message, duration, now))
        if not (self.level.finished(now) and self.colour.finished(now)):
            self._reports.begin(now)
        if not optimistic:
            return []
        self.reported.update(optimistic)
        return [self._publish_state()]

    def _transition_s(self, message: dict[str, Any]) -> float | None:
        """The message's transition in seconds (tenths, as sent over Zigbee); None when absent."""
        if "transition" not in message:
            return None
        seconds = js_number(message["transition"])
        if seconds is None or seconds < 0:
            self.ignore("an invalid transition", compact_json(message["transition"]))
            return None
        return round_half_up(seconds * 10) / 10

    def _switch(
        self, message: dict[str, Any], duration: float | None, now: float
    ) -> dict[str, Any]:
        """state and brightness, as herdsman-converters' light_onoff_brightness applies them."""
        state: str | None = None
        if "state" in message:
            raw = message["state"]
            if not isinstance(raw, str) or raw.lower() not in STATE_VALUES:
                self.ignore("a state that is not ON, OFF or TOGGLE", compact_json(raw))
                return {}
            state = raw.lower()
        brightness: int | None = None
        if "brightness" in message:
            number = js_number(message["brightness"])
            if number == MAX_BRIGHTNESS + 1:
                number = MAX_BRIGHTNESS
            if number is None or not 0 <= number <= MAX_BRIGHTNESS:
                self.ignore("a brightness outside 0–254", compact_json(message["brightness"]))
                return {}
            brightness = round_half_up(number)
        if state is None:
            state = "off" if brightness == 0 else "on"
        if state == "toggle":
            state = "off" if self.reported.get("state") == "ON" else "on"
        if state == "off":
            return self._turn_off(brightness, duration, now)
        return self._turn_on(brightness, duration, now)

    def _turn_off(
        self, brightness: int | None, duration: float | None, now: float
    ) -> dict[str, Any]:
        fade_out = duration is not None or brightness == 0
        if self.on and self.reported.get("state") == "ON":
            self.remembered_brightness = max(1, int(self.reported.get("brightness", 1)))
            self._turned_off_with_transition = fade_out
        if self.on and fade_out and duration:
            self.level = self.level.towards((0.0,), now, duration)
            self._off_when_faded = True
        else:
            self.on = False
            self._off_when_faded = False
            self.level = Fade.steady((0.0,))
        result: dict[str, Any] = {"state": "OFF"}
        if brightness is not None:
            result["brightness"] = 0
        return result

    def _turn_on(
        self, brightness: int | None, duration: float | None, now: float
    ) -> dict[str, Any]:
        if brightness is None and duration is None and not self._turned_off_with_transition:
            if not self.on or self._off_when_faded:
                self.level = Fade.steady((float(self.remembered_brightness),))
            self.on, self._off_when_faded = True, False
            return {"state": "ON"}
        target = self.remembered_brightness if brightness is None else max(1, brightness)
        self.remembered_brightness = target
        self._turned_off_with_transition = False
        start = self.level if self.on else Fade.steady((0.0,))
        self.level = start.towards((float(target),), now, duration or 0.0)
        self.on, self._off_when_faded = True, False
        return {"state": "ON", "brightness": target}

    def _set_color_temp(self, value: Any, duration: float | None, now: float) -> dict[str, Any]:
        if self.mireds_range is None:
            self.ignore("color_temp (the light has no colour temperature)", compact_json(value))
            return {}
        coolest, warmest = self.mireds_range
        presets = {"coolest": coolest, "warmest": warmest, **COLOR_TEMP_PRESETS}
        number = presets.get(value.lower()) if isinstance(value, str) else None
        if number is None:
            read = js_number(value)
            if read is None:
                self.ignore("a color_temp that is not a number or preset", compact_json(value))
                return {}
            number = round_half_up(read)
        mireds = min(warmest, max(coolest, number))
        if mireds != number:
            self.log.info(
                "%s clamps color_temp %s to its range %s–%s",
                self.device.id,
                number,
                coolest,
                warmest,
            )
        self._move_colour("color_temp", (float(mireds),), duration, now)
        return {"color_temp": mireds, "color_mode": "color_temp"}

    def _set_colour(self, value: Any, duration: float | None, now: float) -> dict[str, Any]:
        if not self.device.rgb:
            self.ignore("color (the light has no RGB)", compact_json(value))
            return {}
        parsed = self._parse_colour(value)
        if parsed is None:
            self.ignore("an unreadable color", compact_json(value))
            return {}
        mode, values = parsed
        self._move_colour(mode, values, duration, now)
        return self._colour_report(now + (duration or 0.0))

    def _parse_colour(self, value: Any) -> tuple[str, tuple[float, float]] | None:
        if not isinstance(value, dict):
            return None
        if is_number(value.get("x")) and is_number(value.get("y")):
            x, y = float(value["x"]), float(value["y"])
            return ("xy", (x, y)) if 0 <= x <= 1 and 0 <= y <= 1 else None
        if all(is_number(value.get(c)) and 0 <= value[c] <= 255 for c in "rgb"):
            return "xy", rgb_to_xy((round(value["r"]), round(value["g"]), round(value["b"])))
        if isinstance(value.get("hex"), str):
            rgb = parse_hex_rgb(value["hex"])
            return ("xy", rgb_to_xy(rgb)) if rgb is not None else None
        if is_number(value.get("hue")) and is_number(value.get("saturation")):
            saturation = float(value["saturation"])
            return (
                ("hs", (float(value["hue"]) % 360, saturation)) if 0 <= saturation <= 100 else None
            )
        return None

    def _move_colour(
        self, mode: str, values: tuple[float, ...], duration: float | None, now: float
    ) -> None:
        if mode == self.colour_mode:
            self.colour = self.colour.towards(values, now, duration or 0.0)
        else:
            self.colour_mode, self.colour = mode, Fade.steady(values)

    def _get(self, message: dict[str, Any], now: float) -> list[Publication]:
        """Read attributes from the bulb into the cached state, and publish it."""
        bulb = self._bulb_report(now)
        read = False
        for key in message:
            if not self._can_read(key):
                self.ignore(f"a read of {key!r} (no converter)")
                continue
            for name in READ_BACK[key]:
                if name in bulb:
                    self.reported[name] = bulb[name]
                    read = True
        return [self._publish_state()] if read else []

    def _can_read(self, key: str) -> bool:
        if key == "color_temp":
            return self.mireds_range is not None
        if key == "color":
            return self.device.rgb
        return key in READ_BACK
