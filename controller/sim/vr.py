"""A VR headset / meditation display speaking our `vr/<id>` convention (docs/device-protocols.md).

`vr/<id>/set` takes `{"action": "play", "content", "volume"}`, `pause`, `resume`, `stop`
and `{"action": "brightness", "level"}` and `{"action": "volume", "volume"}`; the headset
reports `vr/<id>/state` `{"status", "content", "position_s"}` (retained) on every change and every
`PLAYING_REPORT_INTERVAL_S` while playing. Volume and brightness are clamped to 0–100;
a play without content, an unknown action or a pause/resume that does not apply is
ignored.
"""

from __future__ import annotations

from typing import Any

from controller.config.models import Device
from controller.sim.model import (
    Publication,
    SetStateDevice,
    clamp,
    compact_json,
    is_number,
    parse_json,
)

PLAYING_REPORT_INTERVAL_S = 1.0
ACTIONS = ("play", "pause", "resume", "stop", "brightness", "volume")


class VrHeadset(SetStateDevice):
    """A headset that plays content by id; position advances only while playing."""

    protocol = "mqtt-vr"
    prefix = "vr"

    def __init__(self, device: Device, *, unix_offset: float = 0.0) -> None:
        super().__init__(device, unix_offset=unix_offset)
        self.status = "idle"
        self.content: str | None = None
        self.volume = 50.0
        self.brightness = 100.0
        self._position_s = 0.0
        self._playing_since: float | None = None
        self._last_report = 0.0

    def connected(self, now: float) -> list[Publication]:
        return [self._report(now)]

    def position_s(self, now: float) -> float:
        if self._playing_since is None:
            return self._position_s
        return self._position_s + (now - self._playing_since)

    def handle(self, topic: str, payload: bytes, now: float) -> list[Publication]:
        if topic != f"{self.base}/set":
            return self.ignore(f"a message on {topic}", payload)
        try:
            command = parse_json(payload)
        except ValueError:
            return self.ignore("a command that is not JSON", payload)
        if not isinstance(command, dict) or command.get("action") not in ACTIONS:
            return self.ignore("a command without a known action", payload)
        if not self._apply(command, now):
            return self.ignore(f"{command['action']!r} in status {self.status!r}", payload)
        return [self._report(now)]

    def _apply(self, command: dict[str, Any], now: float) -> bool:
        action = command["action"]
        if action == "play":
            content = command.get("content")
            if not isinstance(content, str) or not content:
                return False
            if is_number(command.get("volume")):
                self.volume = clamp(command["volume"], 0, 100)
            self.status, self.content = "playing", content
            self._position_s, self._playing_since = 0.0, now
        elif action == "pause":
            if self.status != "playing":
                return False
            self._position_s, self._playing_since = self.position_s(now), None
            self.status = "paused"
        elif action == "resume":
            if self.status != "paused":
                return False
            self.status, self._playing_since = "playing", now
        elif action == "stop":
            self.status, self.content = "idle", None
            self._position_s, self._playing_since = 0.0, None
        elif action == "volume":
            if not is_number(command.get("volume")):
                return False
            self.volume = clamp(command["volume"], 0, 100)
        else:
            if not is_number(command.get("level")):
                return False
            self.brightness = clamp(command["level"], 0, 100)
        return True

    def tick(self, now: float) -> list[Publication]:
        if self.status == "playing" and now >= self._last_report + PLAYING_REPORT_INTERVAL_S:
            return [self._report(now)]
        return []

    def _report(self, now: float) -> Publication:
        self._last_report = now
        state = {
            "status": self.status,
            "content": self.content,
            "position_s": round(self.position_s(now), 1),
        }
        return Publication(self.state_topic, compact_json(state), retain=True)
