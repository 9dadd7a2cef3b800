"""One Shelly Gen2 dimmer (`light:0`) or RGB controller (`rgb:0`) speaking JSON-RPC over MQTT.

Requests `{"id", "src", "method", "params"}` arrive on `<prefix>/rpc`; the answer goes to
`<src>/rpc` as `{"id", "src", "dst", "result"}` or `{..., "error": {"code", "message"}}`
(404 for an unknown method, -103 for a bad argument, -105 for an unknown component id).
A request without `src` cannot be answered and is dropped. The component's status is
published on `<prefix>/status/<component>:0` when it changes, every `REPORT_INTERVAL_S`
during a transition (with the `transition` object) and at its end.
"""

from __future__ import annotations

from typing import Any

from controller.config.models import Device
from controller.sim.fade import Fade, ProgressReports
from controller.sim.model import (
    Availability,
    DeviceModel,
    Publication,
    compact_json,
    is_number,
    parse_json,
    round_half_up,
)

INVALID_ARGUMENT = -103
NOT_FOUND = -105
NO_HANDLER = 404


class RpcError(Exception):
    """A JSON-RPC error the device answers with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ShellyLight(DeviceModel):
    """A Shelly Gen2 light whose MQTT topic prefix is the device's `topic`."""

    protocol = "shelly"

    def __init__(self, device: Device, *, unix_offset: float = 0.0) -> None:
        super().__init__(device, unix_offset=unix_offset)
        self.prefix = device.topic or device.id
        self.component = "rgb" if device.rgb else "light"
        self.namespace = "RGB" if device.rgb else "Light"
        self.output = False
        self.brightness = 50.0
        """The brightness setting in %, kept while the output is off."""
        self.rgb = (255, 255, 255)
        self.level = Fade.steady((0.0,))
        """The brightness the light emits now, in %; 0 while off."""
        self._off_when_faded = False
        self._flip_back_at: float | None = None
        self._source = "init"
        self._transition: dict[str, Any] | None = None
        self._reports = ProgressReports()

    # ------------------------------------------------------------------ protocol surface

    @property
    def availability(self) -> Availability:
        return Availability(f"{self.prefix}/online", "true", "false")

    @property
    def state_topic(self) -> str:
        return f"{self.prefix}/status/{self.component}:0"

    def subscriptions(self) -> list[str]:
        return [f"{self.prefix}/rpc"]

    def connected(self, now: float) -> list[Publication]:
        return [self._publish_status(now)]

    def handle(self, topic: str, payload: bytes, now: float) -> list[Publication]:
        if topic != f"{self.prefix}/rpc":
            return self.ignore(f"a message on {topic}", payload)
        try:
            request = parse_json(payload)
        except ValueError:
            return self.ignore("an RPC frame that is not JSON", payload)
        if not isinstance(request, dict) or not isinstance(request.get("src"), str):
            return self.ignore("an RPC frame without `src` to answer to", payload)
        frame: dict[str, Any] = {"id": request.get("id"), "src": self.prefix, "dst": request["src"]}
        publications: list[Publication] = []
        try:
            frame["result"] = self._call(request.get("method"), request.get("params", {}), now)
            if request.get("method") != f"{self.namespace}.GetStatus":
                publications.append(self._publish_status(now))
        except RpcError as error:
            self.log.warning("%s answers RPC error %s: %s", self.device.id, error.code, error)
            frame["error"] = {"code": error.code, "message": error.message}
        return [Publication(f"{request['src']}/rpc", compact_json(frame)), *publications]

    def tick(self, now: float) -> list[Publication]:
        if self._off_when_faded and self.level.finished(now):
            self._off_when_faded = False
            self.output = False
            self.level = Fade.steady((0.0,))
        publications: list[Publication] = []
        if self._flip_back_at is not None and now >= self._flip_back_at:
            self._flip_back_at = None
            self._source = "timer"
            self._switch(not self.output, 0.0, now)
            publications.append(self._publish_status(now))
        if self._reports.due(now, self.level.ends):
            if self.level.finished(now):
                self._transition = None
            publications.append(self._publish_status(now))
        return publications

    # ------------------------------------------------------------------ status

    def status(self, now: float) -> dict[str, Any]:
        shown = self.level.at(now)[0] if self.output else self.brightness
        status: dict[str, Any] = {
            "id": 0,
            "source": self._source,
            "output": self.output,
            "brightness": round_half_up(shown),
        }
        if self.component == "rgb":
            status["rgb"] = list(self.rgb)
        if self._transition is not None and not self.level.finished(now):
            status["transition"] = self._transition
        return status

    def _publish_status(self, now: float) -> Publication:
        return Publication(self.state_topic, compact_json(self.status(now)))

    # ------------------------------------------------------------------ methods

    def _call(self, method: Any, params: Any, now: float) -> Any:
        if not isinstance(params, dict):
            raise RpcError(INVALID_ARGUMENT, "Invalid argument 'params'!")
        if method == f"{self.namespace}.GetStatus":
            self._check_id(params)
            return self.status(now)
        if method == f"{self.namespace}.Toggle":
            self._check_id(params)
            self._source = "MQTT"
            self._switch(not self.output, 0.0, now)
            return None
        if method == f"{self.namespace}.Set":
            self._set(params, now)
            return None
        raise RpcError(NO_HANDLER, f"No handler for {method}")

    def _check_id(self, params: dict[str, Any]) -> None:
        if "id" not in params:
            raise RpcError(INVALID_ARGUMENT, "Missing required argument 'id'!")
        if not isinstance(params["id"], int) or isinstance(params["id"], bool):
            raise RpcError(INVALID_ARGUMENT, "Invalid argument 'id'!")
        if params["id"] != 0:
            raise RpcError(NOT_FOUND, f"Argument 'id', value {params['id']} not found!")

    def _set(self, params: dict[str, Any], now: float) -> None:
        self._check_id(params)
        on = params.get("on")
        if on is not None and not isinstance(on, bool):
            raise RpcError(INVALID_ARGUMENT, "Invalid argument 'on'!")
        brightness = self._number(params, "brightness", 0, 100)
        duration = self._number(params, "transition_duration", 0, 10800)
        flip_back = self._number(params, "toggle_after", 0, 86400)
        rgb = self._rgb(params.get("rgb")) if self.component == "rgb" else None
        if on is None and brightness is None and rgb is None:
            raise RpcError(INVALID_ARGUMENT, "At least one of 'on' or 'brightness' is required!")
        self._source = "MQTT"
        if brightness is not None:
            self.brightness = brightness
        if rgb is not None:
            self.rgb = rgb
        self._switch(self.output if on is None else on, duration or 0.0, now)
        self._flip_back_at = now + flip_back if flip_back else None

    def _number(self, params: dict[str, Any], name: str, low: float, high: float) -> float | None:
        if name not in params:
            return None
        value = params[name]
        if not is_number(value) or not low <= value <= high:
            raise RpcError(INVALID_ARGUMENT, f"Invalid argument '{name}'!")
        return float(value)

    def _rgb(self, value: Any) -> tuple[int, int, int] | None:
        if value is None:
            return None
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value
            )
        ):
            raise RpcError(INVALID_ARGUMENT, "Invalid argument 'rgb'!")
        return value[0], value[1], value[2]

    def _switch(self, on: bool, duration: float, now: float) -> None:
        """Move the output to on/off at the brightness setting, over `duration` seconds."""
        if on:
            start = self.level if self.output else Fade.steady((0.0,))
            self.level = start.towards((self.brightness,), now, duration)
            self.output, self._off_when_faded = True, False
        elif self.output and duration > 0:
            self.level = self.level.towards((0.0,), now, duration)
            self._off_when_faded = True
        else:
            self.output, self._off_when_faded = False, False
            self.level = Fade.steady((0.0,))
        self._transition = None
        if duration > 0:
            self._transition = {
                "target": {"output": on, "brightness": round_half_up(self.brightness)},
                "started_at": round(self.unix_time(now), 2),
                "duration": duration,
            }
            self._reports.begin(now)
