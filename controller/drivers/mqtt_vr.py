"""VR headsets and meditation displays on Sessionroom's own `vr/<id>` convention.

Commands on `vr/<id>/set`: `{"action":"play","content":"<id>","volume":0-100}` (volume
optional), `{"action":"pause"}`, `{"action":"resume"}`, `{"action":"stop"}`,
`{"action":"brightness","level":0-100}`, and `{"action":"volume","volume":0-100}` (the
engine's volume ramps: content starts quietly and rises no faster than the room's ramp).
State on `vr/<id>/state` is a whole snapshot
`{"status":"idle|playing|paused","content":…,"position_s":…}`; availability on
`vr/<id>/availability` (the device's retained will). The convention has no read request.

Reported content is at most 256 printable characters (docs/robustness.md).

Volume goes as whole percent rounded down (a cap is never passed), level rounded halves up.
`decode` reads a `/set` message back into its VrCommand: volume and level as percent/100
(within 1/100 and 1/200 of what was sent); any other key, or a key another action takes, is refused.
"""

from __future__ import annotations

from typing import Any

from controller.drivers.base import Outgoing, VrAction, VrCommand, VrDriver, compact_json
from controller.drivers.conversions import to_scale, to_scale_below
from controller.drivers.payloads import (
    PayloadError,
    excerpt,
    from_scale,
    json_object,
    number,
    require_keys,
    required,
    same_form,
    text,
)
from controller.untrusted import MAX_CONTENT_CHARS

STATUSES = ("idle", "playing", "paused")
ACTION_KEYS: dict[VrAction, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "play": (("action", "content"), ("volume",)),
    "pause": (("action",), ()),
    "resume": (("action",), ()),
    "stop": (("action",), ()),
    "brightness": (("action", "level"), ()),
    "volume": (("action", "volume"), ()),
}
"""The keys each action's command carries: (always, when given)."""
MAX_POSITION_S = 24 * 3600


class MqttVr(VrDriver):
    """A headset speaking `vr/<id>`."""

    @property
    def _base(self) -> str:
        return f"vr/{self.topic}"

    def availability_topic(self) -> str:
        return f"{self._base}/availability"

    def state_topics(self) -> tuple[str, ...]:
        return (f"{self._base}/state",)

    def command(self, target: VrCommand) -> list[Outgoing]:
        message: dict[str, Any] = {"action": target.action}
        if target.action == "play":
            message["content"] = target.content
        if target.volume is not None:
            message["volume"] = to_scale_below(target.volume, 100)
        if target.action == "brightness":
            assert target.level is not None  # VrCommand requires it
            message["level"] = to_scale(target.level, 100)
        return [Outgoing(f"{self._base}/set", compact_json(message))]

    def command_topics(self) -> tuple[str, ...]:
        return (f"{self._base}/set",)

    def _decode(self, topic: str, payload: str) -> VrCommand:
        message = json_object(payload)
        action = text(required(message, "action"), "action")
        if action not in ACTION_KEYS:
            raise PayloadError(
                f"action {excerpt(action)} is not play, pause, resume, stop, brightness or volume"
            )
        always, when_given = ACTION_KEYS[action]
        require_keys(message, always, when_given, name=f"a {action} command")
        target = VrCommand(
            action,
            content=None
            if action != "play"
            else text(message["content"], "content", MAX_CONTENT_CHARS),
            volume=from_scale(message.get("volume"), "volume", 100),
            level=from_scale(message.get("level"), "level", 100),
        )
        same_form(payload, self.command(target)[0].payload)
        return target

    def parse_state(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        report = json_object(payload)
        if "status" not in report:
            raise PayloadError('VR state has no "status"')
        status = text(report["status"], "status")
        if status not in STATUSES:
            raise PayloadError(f"status {excerpt(status)} is not idle, playing or paused")
        state: dict[str, Any] = {"status": status}
        if report.get("content") is not None:
            state["content"] = text(report["content"], "content", MAX_CONTENT_CHARS)
        if report.get("position_s") is not None:
            state["position_s"] = number(report["position_s"], "position_s", 0, MAX_POSITION_S)
        return state
