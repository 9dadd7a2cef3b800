"""A vital-signs sensor publishing `vitals/<id>` readings that wander believably (state only).

A pulse oximeter reports heart rate and SpO2 every second; a blood-pressure cuff reports
systolic, diastolic and heart rate every `CUFF_INTERVAL_S`. Which one a device is comes
from its id or label (`cuff`, `bp`, `blood`, `pressure` → cuff), unless given. Each
reading is a mean-reverting random walk kept inside a resting adult's range, with `ts`
in Unix seconds. Readings are not retained: an old reading must not pass for a new one.

A device with `measure_command: true` is a cuff that measures on demand: it reports once
when it connects and then only when asked with `{"measure": true}` on `vitals/<id>/set`,
after its measuring time (`CUFF_MEASURING_S`, divided by the room's time scale in a
rehearsal, so a rehearsed session sees the measurement take the same share of it). A
request while it is measuring is ignored, as a busy cuff does; anything else is ignored
and logged.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

from controller.config.models import Device
from controller.sim.model import (
    Availability,
    DeviceModel,
    Publication,
    clamp,
    compact_json,
    round_half_up,
)

OXIMETER_INTERVAL_S = 1.0
CUFF_INTERVAL_S = 30.0
CUFF_WORDS = ("cuff", "bp", "blood", "pressure")
CUFF_MEASURING_S = 30.0
"""How long a cuff asked to measure takes to answer (inflate, deflate, read)."""


@dataclass
class WanderingReading:
    """One vital sign: drifts towards `mean`, jitters, and never leaves low–high."""

    mean: float
    low: float
    high: float
    jitter_per_s: float
    value: float = math.nan

    def step(self, elapsed_s: float, rng: random.Random) -> int:
        if math.isnan(self.value):
            self.value = self.mean
        pull = 0.1 * (self.mean - self.value) * elapsed_s
        noise = self.jitter_per_s * math.sqrt(elapsed_s) * rng.gauss(0.0, 1.0)
        self.value = clamp(self.value + pull + noise, self.low, self.high)
        return round_half_up(self.value)


def resting_adult() -> dict[str, WanderingReading]:
    return {
        "hr": WanderingReading(72, 60, 90, 1.5),
        "spo2": WanderingReading(97.5, 95, 99, 0.3),
        "sys": WanderingReading(120, 110, 130, 1.0),
        "dia": WanderingReading(77, 70, 85, 0.7),
    }


class VitalsSensor(DeviceModel):
    """A pulse oximeter (hr, spo2) or a blood-pressure cuff (sys, dia, hr)."""

    protocol = "mqtt-vitals"

    def __init__(
        self,
        device: Device,
        *,
        unix_offset: float = 0.0,
        rng: random.Random | None = None,
        readings: tuple[str, ...] | None = None,
        interval_s: float | None = None,
        time_scale: float = 1.0,
    ) -> None:
        super().__init__(device, unix_offset=unix_offset)
        self.topic = f"vitals/{device.topic}"
        name = f"{device.id} {device.label or ''}".lower()
        is_cuff = any(word in name for word in CUFF_WORDS)
        self.readings = readings or (("sys", "dia", "hr") if is_cuff else ("hr", "spo2"))
        self._signals = resting_adult()
        unknown = set(self.readings) - set(self._signals)
        if unknown:
            raise ValueError(f"unknown vital sign(s): {', '.join(sorted(unknown))}")
        self.interval_s = interval_s or (CUFF_INTERVAL_S if is_cuff else OXIMETER_INTERVAL_S)
        self.rng = rng or random.Random()
        self._last_reading: float | None = None
        self.on_demand = device.measure_command
        self.measuring_s = CUFF_MEASURING_S / time_scale
        self.answer_at: float | None = None
        """When the measurement asked for is done (None when not measuring)."""

    @property
    def availability(self) -> Availability:
        return Availability(f"{self.topic}/availability", "online", "offline")

    @property
    def state_topic(self) -> str:
        return self.topic

    @property
    def command_topic(self) -> str:
        return f"{self.topic}/set"

    def subscriptions(self) -> list[str]:
        return [self.command_topic] if self.on_demand else []

    def connected(self, now: float) -> list[Publication]:
        return [self._reading(now)]

    def handle(self, topic: str, payload: bytes, now: float) -> list[Publication]:
        if not self.on_demand or topic != self.command_topic:
            return self.ignore(f"a message on {topic} (this sensor takes no commands)", payload)
        try:
            request = json.loads(payload)
        except ValueError:
            request = None
        if not isinstance(request, dict) or request.get("measure") is not True:
            return self.ignore('a command that is not {"measure": true}', payload)
        if self.answer_at is None:
            self.answer_at = now + self.measuring_s
        return []

    def tick(self, now: float) -> list[Publication]:
        if self.on_demand:
            if self.answer_at is None or now < self.answer_at:
                return []
            self.answer_at = None
            return [self._reading(now)]
        if self._last_reading is None or now >= self._last_reading + self.interval_s:
            return [self._reading(now)]
        return []

    def _reading(self, now: float) -> Publication:
        elapsed = self.interval_s if self._last_reading is None else now - self._last_reading
        self._last_reading = now
        reading: dict[str, float] = {
            name: self._signals[name].step(max(elapsed, 0.0), self.rng) for name in self.readings
        }
        reading["ts"] = round(self.unix_time(now), 3)
        return Publication(self.topic, compact_json(reading))
