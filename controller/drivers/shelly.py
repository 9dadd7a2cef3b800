"""Shelly Gen2 lights: JSON-RPC over MQTT (`Light.Set` / `RGB.Set`) on `<prefix>/rpc`.

Source: shelly-api-docs.shelly.cloud gen2 (ComponentsAndServices/Light, RGB, Mqtt;
General/RPCChannels, RPCProtocol).

* Requests: `{"id": n, "src": "<prefix>/sessionroom", "method": "Light.Set", "params": {"id": 0,
  "on": true, "brightness": <percent>, "transition_duration": <s>}}`; an RGB light uses
  `RGB.Set` and adds `"rgb": [r, g, b]`. `transition_duration` is always sent (0 for an
  immediate change), because a missing one lets the device use its own default fade.
* `decode` reads a Set request back, whatever its request id: `"on":false` as on=False,
  otherwise brightness as level percent/100 (within 1/200 of the level sent), rgb as RGB,
  and transition_duration in seconds (to 0.1 s, uncapped). Another method (a GetStatus
  query) or a reply address other than ours is refused.
* Responses come back on `<src>/rpc`, i.e. `<prefix>/sessionroom/rpc`: an `error` there is
  reported (the device refused a command); a `GetStatus` result is read as state.
* Status: `<prefix>/status/light:0` (or `rgb:0`) carries `output`, `brightness` and `rgb`
  (needs "Generic status update over MQTT" on the device). Online: `<prefix>/online`
  `true`/`false`.

This driver has no colour temperature: a Shelly light with a kelvin_range is refused.
"""

from __future__ import annotations

from typing import Any

from controller.config.models import Device
from controller.drivers.base import LightCommand, LightDriver, Outgoing, compact_json
from controller.drivers.conversions import tenths_of_seconds, to_scale
from controller.drivers.payloads import (
    PayloadError,
    boolean,
    excerpt,
    from_scale,
    json_object,
    number,
    require_keys,
    rgb_triple,
    same_form,
    tenths,
    whole_number,
)

BRIGHTNESS_TOP = 100
COMPONENT_ID = 0
MAX_REQUEST_ID = 2**53
"""Request ids count up from 1; no room sends more requests than a float counts exactly."""
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

    def availability_topic(self) -> str:
        return f"{self.topic}/online"

    def state_topics(self) -> tuple[str, ...]:
        return (
            f"{self.topic}/status/{self._component}:{COMPONENT_ID}",
            f"{self._reply_source}/rpc",
        )

    def native_fade_s(self) -> float:
        return UNCAPPED_FADE_S

    def transition_sent_s(self, transition_s: float) -> float:
        return tenths_of_seconds(transition_s, UNCAPPED_FADE_S)

    def command_topics(self) -> tuple[str, ...]:
        return (f"{self.topic}/rpc",)

    def _translate(self, target: LightCommand) -> list[Outgoing]:
        return [self._request(self._set_method, self._set_params(target))]

    @property
    def _set_method(self) -> str:
        return f"{self._method_namespace}.Set"

    def _set_params(self, target: LightCommand) -> dict[str, Any]:
        brightness = None if target.level is None else to_scale(target.level, BRIGHTNESS_TOP)
        lit = target.on and brightness != 0
        params: dict[str, Any] = {"id": COMPONENT_ID, "on": lit}
        if lit:
            if brightness is not None:
                params["brightness"] = brightness
            if target.rgb is not None:
                params["rgb"] = list(target.rgb)
        params["transition_duration"] = self.transition_sent_s(target.transition_s)
        return params

    def query(self) -> list[Outgoing]:
        return [self._request(f"{self._method_namespace}.GetStatus", {"id": COMPONENT_ID})]

    def _request(self, method: str, params: dict[str, Any]) -> Outgoing:
        frame = self._frame(self._next_request_id, method, params)
        self._next_request_id += 1
        return Outgoing(f"{self.topic}/rpc", frame)

    def _frame(self, request_id: int, method: str, params: dict[str, Any]) -> str:
        frame = {"id": request_id, "src": self._reply_source, "method": method, "params": params}
        return compact_json(frame)

    def _decode(self, topic: str, payload: str) -> LightCommand:
        frame = json_object(payload)
        require_keys(frame, ("id", "src", "method", "params"))
        request_id = whole_number(frame["id"], "id", 1, MAX_REQUEST_ID)
        if frame["src"] != self._reply_source:
            raise PayloadError(f"src {excerpt(frame['src'])} is not {self._reply_source!r}")
        if frame["method"] != self._set_method:
            raise PayloadError(
                f"method {excerpt(frame['method'])} is not {self._set_method}, this light's command"
            )
        params = frame["params"]
        if not isinstance(params, dict):
            raise PayloadError("params is not an object")
        require_keys(params, ("id", "on", "transition_duration"), ("brightness", "rgb"), "params")
        whole_number(params["id"], "params.id", COMPONENT_ID, COMPONENT_ID)
        transition = tenths(params["transition_duration"], "transition_duration", UNCAPPED_FADE_S)
        if not boolean(params["on"], "on"):
            require_keys(params, ("id", "on", "transition_duration"), name='an "on":false request')
            target = LightCommand(on=False, transition_s=transition)
        else:
            target = LightCommand(
                level=from_scale(params.get("brightness"), "brightness", BRIGHTNESS_TOP, low=1),
                rgb=self._rgb_for("rgb", params.get("rgb")),
                transition_s=transition,
            )
        same_form(payload, self._frame(request_id, self._set_method, self._set_params(target)))
        return target

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
