"""WLED strips: the JSON API on `wled/<id>/api`, state from `wled/<id>/g` and `wled/<id>/c`.

Sources: wled/WLED-Docs interfaces/mqtt.md and interfaces/json-api.md; wled/WLED
wled00/json.cpp for two details the docs leave open:

* `tt` is in 100 ms units but WLED multiplies it by 100 into a 16-bit millisecond count, so
  only 0–655 (65.5 s, the docs' "max 65 seconds") arrives intact; longer fades are capped
  here and stepped by the engine (native_fade_s says 65.5 s).
* `{"on": true, "bri": 0}` makes WLED restore its last brightness (toggleOnOff), so a level
  that rounds to 0 is sent as `{"on": false}`, as the docs recommend.

Every "on" command sets segment 0 to the Solid effect (`"fx": 0`): a strip left running a
strobe or a playlist from the WLED app must not keep flashing under our levels. Colour goes
to segment 0 as `"col": [[r, g, b]]`, colour temperature as `"cct"` in Kelvin (clamped to the
light's range and WLED's 1900–10091 K).

`wled/<id>/v` (the XML API response) is not read: it carries the brightness and colour that
WLED publishes on `/g` and `/c` at the same moment. WLED has no MQTT read request, so query()
is empty; WLED publishes its state on every change and when it connects.
"""

from __future__ import annotations

import json
import re
from typing import Any

from controller.drivers.base import LightCommand, LightDriver, Outgoing
from controller.drivers.conversions import clamp_kelvin, round_half_up, to_scale
from controller.drivers.payloads import PayloadError, decode_text, excerpt, hex_channels

BRI_TOP = 255
MAX_TT = 655
"""tt × 100 ms must fit WLED's 16-bit millisecond transition."""
MAX_TRANSITION_S = MAX_TT / 10
CCT_KELVIN = (1900, 10091)
SOLID_EFFECT = 0

_BRIGHTNESS = re.compile(r"[0-9]{1,3}")


class WledLight(LightDriver):
    """A WLED controller, addressed by its MQTT device topic id (`wled/<id>`)."""

    @property
    def _base(self) -> str:
        return f"wled/{self.topic}"

    def availability_topic(self) -> str:
        return f"{self._base}/status"

    def state_topics(self) -> tuple[str, ...]:
        return (f"{self._base}/g", f"{self._base}/c")

    def native_fade_s(self, level_change: float) -> float:
        return MAX_TRANSITION_S

    def _translate(self, target: LightCommand) -> list[Outgoing]:
        bri = None if target.level is None else to_scale(target.level, BRI_TOP)
        lit = target.on and bri != 0
        message: dict[str, Any] = {"on": lit}
        if lit:
            if bri is not None:
                message["bri"] = bri
            segment: dict[str, Any] = {"fx": SOLID_EFFECT}
            if target.kelvin is not None:
                assert self.device.kelvin_range is not None  # checked by LightDriver.command
                segment["cct"] = clamp_kelvin(target.kelvin, self.device.kelvin_range, CCT_KELVIN)
            if target.rgb is not None:
                segment["col"] = [list(target.rgb)]
            message["seg"] = [segment]
        message["tt"] = round_half_up(min(target.transition_s, MAX_TRANSITION_S) * 10)
        return [Outgoing(f"{self._base}/api", json.dumps(message, separators=(",", ":")))]

    def parse_state(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        value = decode_text(payload)
        if topic.endswith("/g"):
            if not _BRIGHTNESS.fullmatch(value) or int(value) > BRI_TOP:
                raise PayloadError(f"brightness {excerpt(value)} is not a number 0–255")
            brightness = int(value)
            if brightness == 0:
                return {"on": False}
            return {"on": True, "level": brightness / BRI_TOP}
        channels = hex_channels(value, "colour")
        if len(channels) not in (3, 4):
            raise PayloadError(f"colour {excerpt(value)} is not #RRGGBB or #WWRRGGBB")
        if not self.device.rgb:
            return None
        return {"rgb": channels[-3:]}
