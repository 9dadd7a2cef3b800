"""One WLED strip as seen over MQTT: `wled/<id>`, `/col`, `/api` in, `/g`, `/c`, `/v` out.

Modelled on WLED's mqtt.cpp, json.cpp and led.cpp: the plain topic takes a brightness
(parsed like C's `strtoul` into a byte, so `300` becomes 44 and text without a digit 0),
or anything containing `ON`/`on`/`true` (back to the last brightness) or a `T`/`t`
(toggle). `/col` takes `#RRGGBB`/`#WWRRGGBB` (hex after `#`, decimal otherwise). `/api`
takes the JSON API: `on` (bool or "t"), `bri`, `transition` (kept) and `tt` (this call
only) in 100 ms units, and per segment `on`, `col` and `cct`; a root-level `cct` is
ignored as WLED ignores it. Every change fades over the transition time (0.75 s by
default). WLED publishes the *target* brightness and colour, not retained, at most once
per second.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from controller.config.models import Device
from controller.sim.colour import kelvin_to_rgb
from controller.sim.fade import Fade
from controller.sim.model import (
    Availability,
    DeviceModel,
    Publication,
    parse_json,
    strtoul,
)

Rgbw = tuple[int, int, int, int]

DEFAULT_TRANSITION_S = 0.75
INTERFACE_UPDATE_COOLDOWN_S = 1.0
"""WLED publishes its state at most this often; later changes wait and are merged."""
TRANSITION_UNIT_S = 0.1
MAX_TRANSITION_UNITS = 65535
CCT_KELVIN_RANGE = (1900, 10091)


def json_int(value: Any) -> int | None:
    """A JSON integer as ArduinoJson's is<int>() accepts it (not a bool, not a float)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def colour_from_hex(text: str) -> Rgbw | None:
    """WLED's colorFromHexString: exactly 6 (RRGGBB) or 8 (WWRRGGBB) hex digits, no `#`."""
    if len(text) not in (6, 8) or any(c not in "0123456789abcdefABCDEF" for c in text):
        return None
    return unpack_wrgb(int(text, 16))


def unpack_wrgb(value: int) -> Rgbw:
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF, (value >> 24) & 0xFF


class WledLight(DeviceModel):
    """A WLED controller with one segment, addressed by its MQTT device topic `wled/<topic>`."""

    protocol = "wled"

    def __init__(self, device: Device, *, unix_offset: float = 0.0) -> None:
        super().__init__(device, unix_offset=unix_offset)
        self.base = f"wled/{device.topic}"
        self.bri = 128
        self.bri_last = 128
        self.colour: Rgbw = (255, 160, 0, 0)
        """The primary colour (r, g, b, w), as WLED starts."""
        self.segment_on = True
        self.cct = 127
        """White balance 0 (warm) – 255 (cold); it shapes white channels, never published."""
        self.transition_s = DEFAULT_TRANSITION_S
        self.output = Fade.steady(self._target())
        """What the strip shows: (brightness, r, g, b, w), 0–255 each."""
        self._publish_pending = False
        self._last_publish = float("-inf")

    # ------------------------------------------------------------------ protocol surface

    @property
    def availability(self) -> Availability:
        return Availability(f"{self.base}/status", "online", "offline")

    @property
    def state_topic(self) -> str:
        return f"{self.base}/g"

    def subscriptions(self) -> list[str]:
        return [self.base, f"{self.base}/col", f"{self.base}/api"]

    def connected(self, now: float) -> list[Publication]:
        return self._publish_state(now)

    def handle(self, topic: str, payload: bytes, now: float) -> list[Publication]:
        text = payload.decode("latin-1")
        before = self._snapshot()
        once: float | None = None
        if topic == self.base:
            self._brightness_payload(text)
        elif topic == f"{self.base}/col":
            self._colour_payload(text)
        elif topic == f"{self.base}/api":
            if not text.startswith("{"):
                return self.ignore("an HTTP-style /api request (not simulated)", payload)
            once = self._json_api(payload)
        else:
            return self.ignore(f"a message on {topic}", payload)
        return self._state_updated(now, changed=self._snapshot() != before, transition_s=once)

    def tick(self, now: float) -> list[Publication]:
        if self._publish_pending and now >= self._last_publish + INTERFACE_UPDATE_COOLDOWN_S:
            return self._publish_state(now)
        return []

    # ------------------------------------------------------------------ state

    def _snapshot(self) -> tuple[Any, ...]:
        return self.bri, self.colour, self.segment_on

    def _target(self) -> tuple[float, ...]:
        return (float(self.bri if self.segment_on else 0), *(float(c) for c in self.colour))

    def _toggle(self) -> None:
        if self.bri == 0:
            self.bri = self.bri_last
        else:
            self.bri_last, self.bri = self.bri, 0

    def _state_updated(
        self, now: float, *, changed: bool, transition_s: float | None
    ) -> list[Publication]:
        if self.bri > 0:
            self.bri_last = self.bri
        duration = self.transition_s if transition_s is None else transition_s
        if self._target() != self.output.target:
            self.output = self.output.towards(self._target(), now, duration)
        if changed:
            self._publish_pending = True
        return self.tick(now)

    def _publish_state(self, now: float) -> list[Publication]:
        self._publish_pending = False
        self._last_publish = now
        red, green, blue, white = self.colour
        wrgb = (white << 24) | (red << 16) | (green << 8) | blue
        name = escape(self.device.label or self.device.id)
        xml = (
            f'<?xml version="1.0" ?><vs><ac>{self.bri}</ac><cl>{red}</cl><cl>{green}</cl>'
            f"<cl>{blue}</cl><ds>{name}</ds></vs>"
        )
        return [
            Publication(f"{self.base}/g", str(self.bri)),
            Publication(f"{self.base}/c", f"#{wrgb:06X}"),
            Publication(f"{self.base}/v", xml),
        ]

    # ------------------------------------------------------------------ commands

    def _brightness_payload(self, text: str) -> None:
        if "ON" in text or "on" in text or "true" in text:
            self.bri = self.bri_last
        elif "T" in text or "t" in text:
            self._toggle()
        else:
            value = strtoul(text) & 0xFF
            if value == 0 and self.bri > 0:
                self.bri_last = self.bri
            self.bri = value

    def _colour_payload(self, text: str) -> None:
        if not text:
            return
        if text[0] in "#hH":
            self.colour = unpack_wrgb(strtoul(text[1:], 16))
        else:
            self.colour = unpack_wrgb(strtoul(text))

    def _json_api(self, payload: bytes) -> float | None:
        """Apply a JSON API request; return its one-off transition (`tt`) in seconds, if any."""
        try:
            root = parse_json(payload)
        except ValueError:
            self.ignore("an /api request that is not JSON", payload)
            return None
        if not isinstance(root, dict):
            self.ignore("an /api request that is not a JSON object", payload)
            return None
        on_before = self.bri > 0
        bri = json_int(root.get("bri"))
        if bri is not None and bri >= 0:
            self.bri = bri if bri <= 255 else 0
        on = root.get("on")
        wanted_on = on if isinstance(on, bool) else self.bri > 0
        if (not wanted_on) != (not self.bri):
            self._toggle()
        if isinstance(on, str) and on.startswith("t") and (on_before or not self.bri):
            self._toggle()
        transition = json_int(root.get("transition"))
        if transition is not None and transition >= 0:
            self.transition_s = min(transition, MAX_TRANSITION_UNITS) * TRANSITION_UNIT_S
        segments = root.get("seg")
        if isinstance(segments, list):
            segments = segments[0] if segments else None
        if isinstance(segments, dict) and json_int(segments.get("id", 0)) == 0:
            self._segment(segments)
        once = json_int(root.get("tt"))
        if once is not None and once >= 0:
            return min(once, MAX_TRANSITION_UNITS) * TRANSITION_UNIT_S
        return None

    def _segment(self, segment: dict[str, Any]) -> None:
        if isinstance(segment.get("on"), bool):
            self.segment_on = segment["on"]
        cct = json_int(segment.get("cct"))
        if cct is not None and cct >= 0:
            low, high = CCT_KELVIN_RANGE
            self.cct = (min(high, max(low, cct)) - low) >> 5 if cct > 255 else cct
        colours = segment.get("col")
        if isinstance(colours, list) and colours:
            primary = self._segment_colour(colours[0])
            if primary is not None:
                self.colour = primary

    def _segment_colour(self, value: Any) -> Rgbw | None:
        """One entry of a segment's `col`: [r,g,b(,w)], "RRGGBB", {"r":…}, or Kelvin."""
        red, green, blue, white = self.colour
        if isinstance(value, list):
            if not value:
                return None
            channels = [(json_int(v) or 0) & 0xFF for v in value[:4]] + [0] * 4
            return channels[0], channels[1], channels[2], channels[3]
        if isinstance(value, dict):
            pick = {key: json_int(value.get(key)) for key in "rgbw"}
            return (
                (pick["r"] if pick["r"] is not None else red) & 0xFF,
                (pick["g"] if pick["g"] is not None else green) & 0xFF,
                (pick["b"] if pick["b"] is not None else blue) & 0xFF,
                (pick["w"] if pick["w"] is not None else white) & 0xFF,
            )
        if isinstance(value, str):
            return colour_from_hex(value)
        kelvin = json_int(value)
        if kelvin is None or kelvin < 0:
            return None
        if kelvin == 0:
            return 0, 0, 0, 0
        return (*kelvin_to_rgb(kelvin), 0)
