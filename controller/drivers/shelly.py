"""Shelly Gen2 lights: JSON-RPC over MQTT (`Light.Set` / `RGB.Set`) on `<prefix>/rpc`.

Source: shelly-api-docs.shelly.cloud gen2 (ComponentsAndServices/Light, RGB, Mqtt;
General/RPCChannels, RPCProtocol).

* Requests: `{"id": n, "src": "<prefix>/sessionroom", "method": "Light.Set", "params": {"id": 0,
  "on": true, "brightness": <percent>, "transition_duration": <s>}}`; an RGB light uses
  `RGB.Set` and adds `"rgb": [r, g, b]`. `transition_duration` is always sent (0 for an
  immediate change), because a missing one lets the device use its own default fade.
* Responses come back on `<src>/rpc`, i.e. `<prefix>/sessionroom/rpc`: an `error` there is
  reported (the device refused a command); a `GetStatus` result is read as state.
* Status: `<prefix>/status/light:0` (or `rgb:0`) carries `output`, `brightness` and `rgb`
  (needs "Generic status update over MQTT" on the device). Online: `<prefix>/online`
  `true`/`false`.

This driver has no colour temperature: a Shelly light with a kelvin_range is refused.
"""

from __future__ import annotations

import json
from typing import Any

from controller.config.models import Device
from controller.drivers.base import LightCommand, LightDriver, Outgoing
from controller.drivers.conversions import tenths_of_seconds, to_scale
from controller.drivers.payloads import (
    PayloadError,
    boolean,
    excerpt,
    json_object,
    number,
    rgb_triple,
)

BRIGHTNESS_TOP = 100
COMPONENT_ID = 0
UNCAPPED_FADE_S = float("inf")
"""The Gen2 docs give transition_duration no upper bound; a refusal comes back as an RPC error."""


class ShellyLight(LightDriver):
    """A Shelly Gen2 dimmer (Light component) or RGB controller (RGB component)."""

    def __init__(self, device: Device) -> None:
        if device.kelvin_range is not None:
            raise ValueError(
                f"device {device.id!r}: the shelly driver sets no colour temperature "
                "(remove kelvin_range)"
            )
        super().__init__(device)
        self._next_request_id = 1

    @property
    def _component(self) -> str:
        return "rgb" if self.device.rgb else "light"

    @property
    def _method_namespace(self) -> str:
        return "RGB" if self.device.rgb else "Light"

    @property
    def _reply_source(self) -> str:
        return f"{self.topic}/sessionroom"

    def command_topics(self) -> tuple[str, ...]:
        return (f"{self.topic}/rpc",)

    def availability_topic(self) -> str:
        return f"{self.topic}/online"

    def state_topics(self) -> tuple[str, ...]:
        return (
            f"{self.topic}/status/{self._component}:{COMPONENT_ID}",
            f"{self._reply_source}/rpc",
        )

    def native_fade_s(self, level_change: float) -> float:
        return UNCAPPED_FADE_S

    def _translate(self, target: LightCommand) -> list[Outgoing]:
        brightness = None if target.level is None else to_scale(target.level, BRIGHTNESS_TOP)
        lit = target.on and brightness != 0
        params: dict[str, Any] = {"id": COMPONENT_ID, "on": lit}
        if lit:
            if brightness is not None:
                params["brightness"] = brightness
            if target.rgb is not None:
                params["rgb"] = list(target.rgb)
        params["transition_duration"] = tenths_of_seconds(target.transition_s, UNCAPPED_FADE_S)
        return [self._request(f"{self._method_namespace}.Set", params)]

    def query(self) -> list[Outgoing]:
        return [self._request(f"{self._method_namespace}.GetStatus", {"id": COMPONENT_ID})]

    def _request(self, method: str, params: dict[str, Any]) -> Outgoing:
        frame = {
            "id": self._next_request_id,
            "src": self._reply_source,
            "method": method,
            "params": params,
        }
        self._next_request_id += 1
        return Outgoing(f"{self.topic}/rpc", json.dumps(frame, separators=(",", ":")))

    def parse_state(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        message = json_object(payload)
        if topic.endswith("/rpc"):
            if "error" in message:
                request = excerpt(message.get("id"))
                raise PayloadError(
                    f"the device refused request {request}: {_reason(message['error'])}"
                )
            result = message.get("result")
            if not isinstance(result, dict) or "output" not in result:
                return None  # a Set acknowledgement carries no state
            message = result
        return self._status(message)

    def _status(self, status: dict[str, Any]) -> dict[str, Any] | None:
        update: dict[str, Any] = {}
        if "output" in status:
            update["on"] = boolean(status["output"], "output")
        if "brightness" in status:
            update["level"] = (
                number(status["brightness"], "brightness", 0, BRIGHTNESS_TOP) / BRIGHTNESS_TOP
            )
        if self.device.rgb and "rgb" in status:
            update["rgb"] = rgb_triple(status["rgb"], "rgb")
        return update or None


def _reason(error: Any) -> str:
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return excerpt(error["message"], limit=120)
    return excerpt(error)
