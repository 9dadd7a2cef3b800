"""Zigbee2MQTT lights: JSON on `<base>/<friendly_name>/set`, state on `<base>/<friendly_name>`.

Source: Koenkk/zigbee2mqtt.io guide/usage/mqtt_topics_and_messages.md and
guide/configuration/device-availability.md.

`<base>` is Zigbee2MQTT's `mqtt.base_topic`: the device's `base_topic`, `zigbee2mqtt` by default.

* Every command addresses the light itself (never a group) and carries `transition` in
  seconds, because groups and scenes are reported to ignore transitions.
* `brightness` is 0–254; `color_temp` is mireds clamped to the light's range; RGB goes as
  `color: {"r", "g", "b"}`.
* `decode` reads that one message back: `{"state":"OFF","transition":t}` as on=False, and
  `{"state":"ON",…}` with brightness as level b/254 (within 1/508 of the level sent),
  color_temp as Kelvin 1,000,000/mireds (within a mired of the Kelvin sent, after clamping),
  color as RGB and transition in seconds (to 0.1 s, capped at 6553.4). Any other key (an
  `effect` among them: effects may flash) is refused.
* The device's retained `<name>/availability` (`{"state":"online"}` or legacy `online`) is its
  availability, gated by the bridge's `<base>/bridge/state`: a stopped bridge leaves the
  device availability messages standing, so a bridge that says offline makes every light offline.
"""

from __future__ import annotations

from typing import Any

from controller.drivers.base import (
    WHITE,
    ColourShares,
    LightCommand,
    LightDriver,
    Outgoing,
    compact_json,
    hue_at_level,
)
from controller.drivers.conversions import (
    kelvin_from_mireds,
    mireds,
    tenths_of_seconds,
    to_scale,
)
from controller.drivers.payloads import (
    PayloadError,
    excerpt,
    from_scale,
    json_object,
    number,
    on_off,
    require_keys,
    same_form,
    tenths,
    whole_number,
)

BRIGHTNESS_TOP = 254
MAX_TRANSITION_S = 6553.4
"""Zigbee carries a transition as a 16-bit count of tenths of a second (0xFFFF is reserved)."""

REPORTED_MIREDS = (50, 1000)
"""color_temp values accepted in state reports (20,000 K down to 1,000 K)."""


def bridge_state_topic(base: str) -> str:
    """Where the Zigbee2MQTT of `base` says it is online or offline (its will)."""
    return f"{base}/bridge/state"


class Zigbee2MqttLight(LightDriver):
    """A Zigbee light behind Zigbee2MQTT, addressed by its friendly name."""

    @property
    def _base(self) -> str:
        base = self.device.zigbee2mqtt_base
        assert base is not None  # a zigbee2mqtt device has one
        return base

    @property
    def _state_topic(self) -> str:
        return f"{self._base}/{self.topic}"

    def availability_topic(self) -> str:
        return f"{self._state_topic}/availability"

    def gating_availability_topics(self) -> tuple[str, ...]:
        return (bridge_state_topic(self._base),)

    def state_topics(self) -> tuple[str, ...]:
        return (self._state_topic,)

    def native_fade_s(self) -> float:
        return MAX_TRANSITION_S

    def colour_shares(self, rgb: tuple[int, int, int]) -> ColourShares:
        """Zigbee2MQTT sends an RGB colour as its chromaticity (x, y) only: the brightness
        stays what `brightness` says (Koenkk/zigbee2mqtt#3255); black, which has no
        chromaticity, is taken as all of it."""
        return hue_at_level(rgb, black=WHITE)

    def transition_sent_s(self, transition_s: float) -> float:
        return tenths_of_seconds(transition_s, MAX_TRANSITION_S)

    def _translate(self, target: LightCommand) -> list[Outgoing]:
        brightness = None if target.level is None else to_scale(target.level, BRIGHTNESS_TOP)
        message: dict[str, Any]
        if not target.on or brightness == 0:
            message = {"state": "OFF"}
        else:
            message = {"state": "ON"}
            if brightness is not None:
                message["brightness"] = brightness
            if target.kelvin is not None:
                assert self.device.kelvin_range is not None  # checked by LightDriver.command
                message["color_temp"] = mireds(target.kelvin, self.device.kelvin_range)
            if target.rgb is not None:
                red, green, blue = target.rgb
                message["color"] = {"r": red, "g": green, "b": blue}
        message["transition"] = self.transition_sent_s(target.transition_s)
        return [Outgoing(f"{self._state_topic}/set", compact_json(message))]

    def command_topics(self) -> tuple[str, ...]:
        return (f"{self._state_topic}/set",)

    def _decode(self, topic: str, payload: str) -> LightCommand:
        message = json_object(payload)
        if "effect" in message:
            raise PayloadError(f"effect {excerpt(message['effect'])} is never sent: it may flash")
        require_keys(message, ("state", "transition"), ("brightness", "color_temp", "color"))
        transition = tenths(message["transition"], "transition", MAX_TRANSITION_S)
        if not on_off(message["state"], "state"):
            require_keys(message, ("state", "transition"), name="an OFF command")
            target = LightCommand(on=False, transition_s=transition)
        else:
            colour, color_temp = message.get("color"), message.get("color_temp")
            target = LightCommand(
                level=from_scale(message.get("brightness"), "brightness", BRIGHTNESS_TOP, low=1),
                kelvin=self._kelvin_for("color_temp", color_temp, None, in_mireds=True),
                rgb=self._rgb_for("color", None if colour is None else _channels(colour)),
                transition_s=transition,
            )
        same_form(payload, self._translate(target)[0].payload)
        return target

    def query(self) -> list[Outgoing]:
        return [Outgoing(f"{self._state_topic}/get", compact_json({"state": ""}))]

    def parse_state(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        report = json_object(payload)
        update: dict[str, Any] = {}
        if report.get("state") is not None:
            update["on"] = on_off(report["state"], "state")
        if report.get("brightness") is not None:
            # Reports are 0–254; some devices report 255, which is full as well.
            brightness = whole_number(report["brightness"], "brightness", 0, 255)
            update["level"] = min(brightness / BRIGHTNESS_TOP, 1.0)
        if report.get("color_temp") is not None:
            low, high = REPORTED_MIREDS
            color_temp = number(report["color_temp"], "color_temp", low, high)
            update["kelvin"] = kelvin_from_mireds(color_temp)
        colour = report.get("color")
        if colour is not None:
            if not isinstance(colour, dict):
                raise PayloadError("color is not an object")
            # Lights report {"x", "y"} (and hue/saturation); only r/g/b reports are taken as RGB.
            if self.device.rgb and {"r", "g", "b"} <= colour.keys():
                update["rgb"] = [whole_number(colour[key], f"color.{key}", 0, 255) for key in "rgb"]
        return update or None


def _channels(colour: Any) -> list[Any]:
    """A command's `color: {"r", "g", "b"}` as [r, g, b]."""
    if not isinstance(colour, dict):
        raise PayloadError("color is not an object")
    require_keys(colour, ("r", "g", "b"), name="color")
    return [colour[key] for key in "rgb"]
