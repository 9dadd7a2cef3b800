"""The firmware of a simulated device: a pure state machine fed messages and clock ticks."""

from __future__ import annotations

import json
import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from controller.config.models import Device

REPORT_INTERVAL_S = 0.5
"""How often a device that reports a fade's progress reports it (Zigbee2MQTT, Shelly, VR)."""

EPSILON_S = 1e-9
"""Slack when comparing instants, so that 0.1 + 0.4 counts as having reached 0.5."""


@dataclass(frozen=True)
class Publication:
    """One MQTT message a simulated device sends."""

    topic: str
    payload: str | bytes
    retain: bool = False
    qos: int = 0


@dataclass(frozen=True)
class Availability:
    """A device's availability topic and its two payloads; the offline one is also its MQTT will."""

    topic: str
    online: str
    offline: str

    def announce_online(self) -> Publication:
        return Publication(self.topic, self.online, retain=True, qos=1)

    def announce_offline(self) -> Publication:
        return Publication(self.topic, self.offline, retain=True, qos=1)


class DeviceModel(ABC):
    """What a real device does with the messages it receives, as the time passes.

    Implementations never read the wall clock and never sleep: every instant comes in as
    `now` (seconds on the caller's monotonic clock); `unix_offset` turns such an instant
    into Unix time for the payloads that carry one. `handle` and `tick` never raise on bad
    input: they ignore or clamp it as the real firmware does, and log it.
    """

    protocol: str
    """The driver name this model speaks (zigbee2mqtt, tasmota, ...)."""

    def __init__(self, device: Device, *, unix_offset: float = 0.0) -> None:
        self.device = device
        self.unix_offset = unix_offset
        self.log = logging.getLogger(f"controller.sim.{self.protocol}")

    @property
    def name(self) -> str:
        """What the simulator calls it (in faults and logs): the device's id."""
        return self.device.id

    @property
    @abstractmethod
    def availability(self) -> Availability:
        """Where the device says it is online, and the will that says it is not."""

    @property
    @abstractmethod
    def state_topic(self) -> str:
        """The device's main state topic (where a garbage fault writes)."""

    @abstractmethod
    def subscriptions(self) -> list[str]:
        """Topic filters the device listens to for commands."""

    @abstractmethod
    def connected(self, now: float) -> list[Publication]:
        """What the device publishes right after (re)connecting, besides its online availability."""

    @abstractmethod
    def handle(self, topic: str, payload: bytes, now: float) -> list[Publication]:
        """Apply one received command; return what the device publishes in answer."""

    @abstractmethod
    def tick(self, now: float) -> list[Publication]:
        """Advance to `now`: fades, timers and periodic reports."""

    def switched_off(self) -> list[Publication]:
        """What the device publishes when it is switched off: its offline availability."""
        return [self.availability.announce_offline()]

    def unix_time(self, now: float) -> float:
        return now + self.unix_offset

    def ignore(self, reason: str, payload: bytes | str | None = None) -> list[Publication]:
        """Log a command the real firmware would ignore, and publish nothing."""
        shown = f": {shorten(payload)}" if payload is not None else ""
        self.log.warning("%s ignores %s%s", self.name, reason, shown)
        return []


def shorten(payload: bytes | str, limit: int = 120) -> str:
    """A printable, bounded rendering of a payload for log lines."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    text = repr(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact_json(value: Any) -> str:
    """JSON as firmwares print it: no spaces."""
    return json.dumps(value, separators=(",", ":"))


def decode_text(payload: bytes) -> str | None:
    """The payload as UTF-8 text, or None when it is not valid UTF-8."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_json(payload: bytes) -> Any:
    """The payload's JSON value, or raise ValueError (bad UTF-8 or bad JSON)."""
    text = decode_text(payload)
    if text is None:
        raise ValueError("payload is not UTF-8")
    return json.loads(text)


def round_half_up(value: float) -> int:
    """Round like firmware integer arithmetic does: .5 goes up (0.5 → 1, 190.5 → 191)."""
    return math.floor(value + 0.5)


def is_number(value: Any) -> bool:
    """A JSON number a float holds (not a bool, not NaN or infinite, no 400-digit integer)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def strtoul(text: str, base: int = 10) -> int:
    """C's strtoul on a 32-bit device: leading digits, 0 when none; a minus wraps around."""
    digits = "0123456789abcdef"[:base]
    stripped = text.strip()
    negative = stripped.startswith("-")
    stripped = stripped.lstrip("+-")
    count = 0
    while count < len(stripped) and stripped[count].lower() in digits:
        count += 1
    value = int(stripped[:count], base) if count else 0
    return (2**32 - value) % 2**32 if negative else value


class SetStateDevice(DeviceModel):
    """A device of our own conventions: commands on `<prefix>/<id>/set`, state on `.../state`."""

    prefix: str
    """`vr` or `bls`."""

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device.topic}"

    @property
    def availability(self) -> Availability:
        return Availability(f"{self.base}/availability", "online", "offline")

    @property
    def state_topic(self) -> str:
        return f"{self.base}/state"

    def subscriptions(self) -> list[str]:
        return [f"{self.base}/set"]
