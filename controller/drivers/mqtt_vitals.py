"""Vital-sign sensors on Sessionroom's own `vitals/<id>` convention (state only).

Each message on `vitals/<id>` is one reading, any subset of `{"hr": bpm, "spo2": %,
"sys": mmHg, "dia": mmHg, "ts": <unix s>}`; it replaces the previous reading (a reading's
`ts` must never be paired with another reading's values). Keys beyond these are ignored; a
reading without any of them, or with a value outside what a sensor can measure, is an error.
Availability on `vitals/<id>/availability`. The thresholds that raise alerts are the
engine's, not the driver's. A sensor configured with `measure_command: true` (a cuff that
measures on demand) is asked for a reading with `{"measure": true}` on `vitals/<id>/set`.
"""

from __future__ import annotations

from typing import Any

from controller.drivers.base import Outgoing, VitalsDriver
from controller.drivers.payloads import PayloadError, json_object, number

MEASURABLE: dict[str, tuple[float, float]] = {
    "hr": (0, 300),
    "spo2": (0, 100),
    "sys": (0, 300),
    "dia": (0, 300),
    "ts": (0, 4_102_444_800),  # up to 2100-01-01
}
"""What a sensor can report for each reading, in its unit."""

MEASURE_REQUEST = '{"measure":true}'
"""Asks a sensor that measures on demand for a reading now."""


class MqttVitals(VitalsDriver):
    """A sensor speaking `vitals/<id>`."""

    def availability_topic(self) -> str:
        return f"vitals/{self.topic}/availability"

    def state_topics(self) -> tuple[str, ...]:
        return (f"vitals/{self.topic}",)

    def measure(self) -> list[Outgoing]:
        if not self.device.measure_command:
            return []
        return [Outgoing(f"vitals/{self.topic}/set", MEASURE_REQUEST)]

    def parse_state(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        report = json_object(payload)
        reading = {
            key: number(report[key], key, low, high)
            for key, (low, high) in MEASURABLE.items()
            if report.get(key) is not None
        }
        if not reading:
            raise PayloadError("the reading has none of " + ", ".join(MEASURABLE))
        return reading
