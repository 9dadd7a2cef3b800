"""Bilateral-stimulation sets: what runs on which device, its pass count and its end.

MQTT tappers and light bars keep their own timing (DEVICE_PROTOCOLS.md); the engine still
counts passes on the session clock so the console shows them even before a device reports,
and knows when a set is over. A device's own `pass` report wins when it has one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.engine.safety import BlsRequest


@dataclass(frozen=True)
class BlsSet:
    """One running set on one device."""

    device_id: str
    request: BlsRequest
    started: float
    """Session time the set started."""

    @property
    def length_s(self) -> float:
        if self.request.seconds is not None:
            return self.request.seconds
        assert self.request.passes is not None  # the gate requires passes or seconds
        return self.request.passes / self.request.speed_hz

    def elapsed_s(self, now: float) -> float:
        return min(max(0.0, now - self.started), self.length_s)

    def pass_count(self, now: float) -> int:
        """Passes begun so far (the first pass is pass 1)."""
        count = math.floor(self.elapsed_s(now) * self.request.speed_hz + 1e-9) + 1
        total = math.ceil(self.length_s * self.request.speed_hz - 1e-9)
        return min(count, max(total, 1))

    def done(self, now: float) -> bool:
        return now - self.started >= self.length_s
