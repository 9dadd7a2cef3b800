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

`decode` reads that one message back: `{"on":false,"tt":n}` as on=False, otherwise bri as
level bri/255 (within 1/510 of the level sent), cct as Kelvin, col as RGB and tt as n/10 s
(so a fade beyond 65.5 s comes back as 65.5 s). A segment with any effect but Solid, or any
key this driver does not send (presets, playlists, a second segment), is refused.

`wled/<id>/v` (the XML API response) is not read: it carries the brightness and colour that
WLED publishes on `/g` and `/c` at the same moment. WLED has no MQTT read request, so query()
is empty; WLED publishes its state on every change and when it connects.
"""

from __future__ import annotations

from typing import Any

from controller.drivers.base import LightCommand, LightDriver, Outgoing, compact_json
from controller.drivers.conversions import clamp_kelvin, round_half_up, to_scale
from controller.drivers.payloads import (
    PayloadError,
    boolean,
    decimal,
    decode_text,
    excerpt,
    from_scale,
    hex_channels,
    json_object,
    require_keys,
    same_form,
    whole_number,
)

BRI_TOP = 255
MAX_TT = 655
"""tt × 100 ms must fit WLED's 16-bit millisecond transition."""
MAX_TRANSITION_S = MAX_TT / 10
CCT_KELVIN = (1900, 10091)
SOLID_EFFECT = 0


class WledLight(LightDriver):
    """A WLED controller, addressed by its MQTT device topic id (`wled/<id>`)."""

    @property
    def _base(self) -> str:
        return f"wled/{self.topic}"

    def availability_topic(self) -> str:
        return f"{self._base}/status"

    def state_topics(self) -> tuple[str, ...]:
        return (f"{self._base}/g", f"{self._base}/c")

    def native_fade_s(self) -> float:
        return MAX_TRANSITION_S

    def transition_sent_s(self, transition_s: float) -> float:
        return _tt(transition_s) / 10

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
        message["tt"] = _tt(target.transition_s)
        return [Outgoing(f"{self._base}/api", compact_json(message))]

    def command_topics(self) -> tuple[str, ...]:
        return (f"{self._base}/api",)

    def _decode(self, topic: str, payload: str) -> LightCommand:
        message = json_object(payload)
        require_keys(message, ("on", "tt"), ("bri", "seg"))
        transition = whole_number(message["tt"], "tt", 0, MAX_TT) / 10
        if not boolean(message["on"], "on"):
            require_keys(message, ("on", "tt"), name='an "on":false command')
            target = LightCommand(on=False, transition_s=transition)
        else:
            require_keys(message, ("on", "seg", "tt"), ("bri",))
            segment = _only_segment(message["seg"])
            col = segment.get("col")
            target = LightCommand(
                level=from_scale(message.get("bri"), "bri", BRI_TOP, low=1),
                kelvin=self._kelvin_for("cct", segment.get("cct"), CCT_KELVIN, in_mireds=False),
                rgb=self._rgb_for("col", None if col is None else _only_colour(col)),
                transition_s=transition,
            )
        same_form(payload, self._translate(target)[0].payload)
        return target

    def parse_state(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        value = decode_text(payload)
        if topic.endswith("/g"):
            brightness = decimal(value, "brightness", 0, BRI_TOP)
            if brightness == 0:
                return {"on": False}
            return {"on": True, "level": brightness / BRI_TOP}
        channels = hex_channels(value, "colour")
        if len(channels) not in (3, 4):
            raise PayloadError(f"colour {excerpt(value)} is not #RRGGBB or #WWRRGGBB")
        if not self.device.rgb:
            return None
        # an RGBW strip's white channel (`#WWRRGGBB`) lights too: its colour is the light it
        # gives (WLED's auto-white reports one told white as `#FF000000`, not black)
        white = channels[0] if len(channels) == 4 else 0
        return {"rgb": [min(255, channel + white) for channel in channels[-3:]]}


def _only_segment(seg: Any) -> dict[str, Any]:
    """Segment 0 of an "on" command: Solid, with at most a cct or a col."""
    if not isinstance(seg, list) or len(seg) != 1 or not isinstance(seg[0], dict):
        raise PayloadError("seg is not a list of one segment")
    segment: dict[str, Any] = seg[0]
    if "fx" in segment and segment["fx"] != SOLID_EFFECT:
        raise PayloadError(
            f"effect fx {excerpt(segment['fx'])} is not Solid (0); effects may flash"
        )
    require_keys(segment, ("fx",), ("cct", "col"), name="the segment")
    return segment


def _only_colour(col: Any) -> Any:
    """The one colour of a segment's `col: [[r, g, b]]`."""
    if not isinstance(col, list) or len(col) != 1:
        raise PayloadError("col is not a list of one colour")
    return col[0]


def _tt(transition_s: float) -> int:
    """WLED's `tt` (tenths of a second, rounded to the nearest) for a transition."""
    return round_half_up(min(transition_s, MAX_TRANSITION_S) * 10)
