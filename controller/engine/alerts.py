"""The room's alerts: offline devices, vitals beyond thresholds, the broker, the journal, safety.

One set of rules for the live engine and for a replay's rebuilt room (`research.replay_state`),
so a replayed console shows the alerts the room showed. Each alert has a stable key while it
lasts (`device:<id>`, `vitals:<device>:<measure>`, `broker`, `journal`, `safety:<device>`)
and keeps the time it was first raised. The software never decides anything clinical
(docs/safety.md#vitals): a vitals alert states the reading and the threshold it crossed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.api.state import Alert
from controller.config.models import Device
from controller.config.settings import VitalsThresholds
from controller.engine.record import iso_wall
from controller.engine.safety import vitals_alerts

MEASURED = {"hr": "hr", "spo2": "spo2", "sys": "bp", "dia": "bp"}
"""Reading key → the measure its alerts are about."""


@dataclass(frozen=True)
class VitalsChange:
    """A vitals alert raised (with its message) or cleared (message None)."""

    key: str
    message: str | None


class AlertBoard:
    """The alerts standing now, by key."""

    def __init__(self) -> None:
        self.alerts: dict[str, Alert] = {}

    def values(self) -> list[Alert]:
        return list(self.alerts.values())

    def raise_alert(self, key: str, kind: str, level: str, message: str, wall_ns: int) -> None:
        existing = self.alerts.get(key)
        since = existing.since if existing else iso_wall(wall_ns)
        self.alerts[key] = Alert.model_validate(
            {"key": key, "kind": kind, "level": level, "message": message, "since": since}
        )

    def clear(self, key: str) -> None:
        self.alerts.pop(key, None)

    def device(self, device_id: str, device: Device | None, available: str, wall_ns: int) -> None:
        """A device's availability: offline is critical for an essential device."""
        key = f"device:{device_id}"
        if available != "offline":
            self.clear(key)
            return
        essential = device is not None and device.essential
        label = (device.label if device is not None else None) or device_id
        self.raise_alert(
            key, "device", "critical" if essential else "warning", f"{label} is offline", wall_ns
        )

    def vitals(
        self,
        device_id: str,
        reading: Mapping[str, object],
        thresholds: VitalsThresholds,
        wall_ns: int,
    ) -> list[VitalsChange]:
        """Raise, renew or clear a device's vitals alerts for a reading; what changed."""
        changes: list[VitalsChange] = []
        standing = set()
        for alert in vitals_alerts(reading, thresholds):
            key = f"vitals:{device_id}:{alert.measure}"
            standing.add(key)
            if key not in self.alerts or self.alerts[key].message != alert.message:
                self.raise_alert(key, "vitals", "critical", alert.message, wall_ns)
                changes.append(VitalsChange(key, alert.message))
        measured = {MEASURED[k] for k in reading if k in MEASURED}
        for key in [k for k in self.alerts if k.startswith(f"vitals:{device_id}:")]:
            if key not in standing and key.rsplit(":", 1)[1] in measured:
                self.clear(key)
                changes.append(VitalsChange(key, None))
        return changes

    def clear_vitals(self) -> None:
        """The session ended: its readings' alerts go with it."""
        for key in [k for k in self.alerts if k.startswith("vitals:")]:
            del self.alerts[key]

    def broker(self, connected: bool, reason: object, wall_ns: int) -> None:
        if connected:
            self.clear("broker")
        else:
            message = f"broker connection lost: {reason}"
            self.raise_alert("broker", "broker", "critical", message, wall_ns)

    def journal(self, problem: str | None, wall_ns: int) -> None:
        if problem is None:
            self.clear("journal")
        else:
            self.raise_alert("journal", "journal", "critical", problem, wall_ns)

    def safety(self, device_id: str, reason: str | None, wall_ns: int) -> None:
        message = reason or "safety limit"
        self.raise_alert(f"safety:{device_id}", "safety", "warning", message, wall_ns)
