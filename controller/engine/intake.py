"""What arrives from each device, kept within bounds (docs/robustness.md#devices).

Each device may send `RATE_PER_S` messages a second on average, in bursts of up to `BURST`;
beyond that its messages are dropped unread. A dropped message (over the rate, or one its
driver could not read) is journaled as one `error` event per device per `REPORT_EVERY_S`:
the first drop at once, the ones after it counted and reported in one summary when the
interval is over. So a device that floods the broker or sends garbage costs the journal one
event a minute, not one per message. Messages the bus dropped on arrival (too large, or a
full inbox lane) are counted the same way, under their device or under `INBOX`. Pure
bookkeeping on the engine's real-time clock.
"""

from __future__ import annotations

from dataclasses import dataclass

RATE_PER_S = 50.0
"""Messages a second one device may send on average (a Tasmota plug answering every step of
a fade sends about 3 per command, at most 4 commands a second)."""
BURST = 100
"""Messages one device may send at once (a bridge's retained states after a reconnect)."""
REPORT_EVERY_S = 60.0
"""A device's dropped messages are journaled at most once this often."""
INBOX = "inbox"
"""The source of messages the bus dropped on arrival that no device reads (commands)."""


@dataclass
class _Device:
    tokens: float
    at: float
    reported_at: float | None = None
    unreported: int = 0
    last_reason: str = ""
    flooding: bool = False


@dataclass(frozen=True)
class Drops:
    """Messages of one device (or of the bus's inbox, `INBOX`) that were dropped, to be
    journaled as one `error` event."""

    source: str
    count: int
    """0 when the device has been quiet for a whole interval since its last report."""
    reason: str
    """Why the last of them was dropped."""
    flooding: bool
    """Whether the device is sending faster than its rate allows."""


class DeviceIntake:
    """The per-device message rate and the rate-limited reports of dropped messages."""

    def __init__(
        self,
        *,
        rate_per_s: float = RATE_PER_S,
        burst: int = BURST,
        report_every_s: float = REPORT_EVERY_S,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.report_every_s = report_every_s
        self._devices: dict[str, _Device] = {}

    def admit(self, device_id: str, now: float) -> bool:
        """Whether one more message of the device may be read now (it uses up one token)."""
        device = self._devices.get(device_id)
        if device is None:
            device = self._devices[device_id] = _Device(tokens=float(self.burst), at=now)
        device.tokens = min(float(self.burst), device.tokens + (now - device.at) * self.rate_per_s)
        device.at = now
        if device.tokens < 1.0:
            return False
        device.tokens -= 1.0
        return True

    def dropped(self, device_id: str, reason: str, now: float, *, flooding: bool) -> Drops | None:
        """Count one dropped message; the report to journal now, or None when it waits for
        the summary (`due`)."""
        device = self._devices.setdefault(device_id, _Device(tokens=float(self.burst), at=now))
        device.last_reason = reason
        device.flooding = device.flooding or flooding
        if device.reported_at is not None and now - device.reported_at < self.report_every_s:
            device.unreported += 1
            return None
        device.reported_at = now
        return Drops(device_id, 1, reason, flooding)

    def due(self, now: float) -> list[Drops]:
        """Summaries of the drops counted since each device's last report, once its interval
        is over; a `Drops` of count 0 for a device that has been quiet for a whole interval
        since its last report (it starts afresh)."""
        summaries = []
        for device_id, device in self._devices.items():
            if device.reported_at is None or now - device.reported_at < self.report_every_s:
                continue
            summaries.append(
                Drops(device_id, device.unreported, device.last_reason, device.flooding)
            )
            device.reported_at = now if device.unreported else None
            device.unreported = 0
            device.flooding = False
        return summaries
