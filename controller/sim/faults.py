"""Faults a simulated device can be made to show, their command-line form, and the command gate.

A fault is written `DEVICE:KIND[=SECONDS][@AT][+FOR]`: DEVICE is a device id, `*` for
every simulated device, or `<base>/bridge` for the simulated Zigbee2MQTT of a base topic (the
one process, on one connection, behind every Zigbee light of that base); AT is when it
starts (seconds after the simulator starts, or `90s`, `2m`, ...; now when omitted); FOR is
how long it lasts (for good when omitted). A Zigbee light's own `offline` makes it
unreachable: its Zigbee2MQTT says it is offline, and stays online itself.
Kinds:

* `offline` — drop the connection abruptly (no DISCONNECT), so the broker publishes the
  device's will; with +FOR it comes back online afterwards.
* `online` — reconnect (and announce itself online) after an `offline`.
* `drop` — ignore every command received.
* `delay=SECONDS` — apply every command SECONDS late.
* `garbage` — publish one unreadable payload on the device's state topic.
"""

from __future__ import annotations

import enum
import logging
import re
from collections import deque
from dataclasses import dataclass

from controller.config.durations import parse_duration
from controller.sim.model import EPSILON_S

FAULT_SYNTAX = "DEVICE:KIND[=SECONDS][@AT][+FOR]"
EVERY_DEVICE = "*"
GARBAGE_PAYLOAD = b'\xff\xfe{"state": <garbage \x00'
"""Neither UTF-8 nor JSON: what a confused firmware might put on its state topic."""

_SPEC = re.compile(
    r"(?P<device>[^:]+):(?P<kind>[a-z]+)(?:=(?P<value>[^@+]+))?"
    r"(?:@(?P<at>[^+]+))?(?:\+(?P<lasting>.+))?"
)

log = logging.getLogger("controller.sim.faults")


class FaultKind(enum.Enum):
    OFFLINE = "offline"
    ONLINE = "online"
    DROP = "drop"
    DELAY = "delay"
    GARBAGE = "garbage"


LASTING_KINDS = frozenset({FaultKind.OFFLINE, FaultKind.DROP, FaultKind.DELAY})


@dataclass(frozen=True)
class Fault:
    """One fault of one device (or of every device, `*`), from `at_s` for `for_s` seconds."""

    device: str
    kind: FaultKind
    at_s: float = 0.0
    for_s: float | None = None
    delay_s: float = 0.0

    def describe(self) -> str:
        what = {
            FaultKind.OFFLINE: "goes offline abruptly",
            FaultKind.ONLINE: "comes back online",
            FaultKind.DROP: "drops commands",
            FaultKind.DELAY: f"delays commands by {self.delay_s:g} s",
            FaultKind.GARBAGE: "sends garbage on its state topic",
        }[self.kind]
        who = "every device" if self.device == EVERY_DEVICE else self.device
        until = f" for {self.for_s:g} s" if self.for_s is not None else ""
        return f"{who} {what} at {self.at_s:g} s{until}"


def parse_fault(spec: str) -> Fault:
    """Read `DEVICE:KIND[=SECONDS][@AT][+FOR]`; raise ValueError saying what is wrong."""
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        raise ValueError(f"{spec!r} is not {FAULT_SYNTAX} (e.g. strip:offline@30+10)")
    try:
        kind = FaultKind(match["kind"])
    except ValueError:
        kinds = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"{spec!r}: unknown fault {match['kind']!r} (one of: {kinds})") from None
    value, at, lasting = match["value"], match["at"], match["lasting"]
    if (kind is FaultKind.DELAY) != (value is not None):
        need = "needs" if kind is FaultKind.DELAY else "takes no"
        raise ValueError(f"{spec!r}: {kind.value} {need} =SECONDS")
    if lasting is not None and kind not in LASTING_KINDS:
        raise ValueError(f"{spec!r}: {kind.value} happens once, it takes no +FOR")
    try:
        fault = Fault(
            device=match["device"],
            kind=kind,
            at_s=parse_duration(at) if at is not None else 0.0,
            for_s=parse_duration(lasting) if lasting is not None else None,
            delay_s=parse_duration(value) if value is not None else 0.0,
        )
    except ValueError as error:
        raise ValueError(f"{spec!r}: {error}") from None
    if fault.at_s < 0 or (fault.for_s is not None and fault.for_s <= 0) or fault.delay_s < 0:
        raise ValueError(f"{spec!r}: times must be positive")
    if kind is FaultKind.DELAY and fault.delay_s == 0:
        raise ValueError(f"{spec!r}: a delay of 0 s is no fault")
    return fault


@dataclass(frozen=True)
class HeldCommand:
    due: float
    topic: str
    payload: bytes


class CommandGate:
    """What a device's faults do to its incoming commands: pass them, drop them, or hold them."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.dropping = False
        self.dropped = 0
        """How many commands the drop fault has swallowed."""
        self.delay_s = 0.0
        self._held: deque[HeldCommand] = deque()

    def drop(self, dropping: bool) -> None:
        """Ignore every command received from now on (or stop ignoring them)."""
        what = "starts" if dropping else "stops"
        log.info("%s %s dropping commands (fault)", self.device_id, what)
        self.dropping = dropping

    def delay(self, seconds: float) -> None:
        """Apply every command received from now on `seconds` late (0: on time again)."""
        log.info("%s delays commands by %g s (fault)", self.device_id, seconds)
        self.delay_s = seconds

    def admit(self, topic: str, payload: bytes, now: float) -> list[tuple[str, bytes]]:
        """The commands to apply now, given one that just arrived."""
        if self.dropping:
            log.info("%s drops a command on %s (fault)", self.device_id, topic)
            self.dropped += 1
            return []
        if self.delay_s <= 0 and not self._held:
            return [(topic, payload)]
        due = now + self.delay_s
        if self._held:
            due = max(due, self._held[-1].due)
        self._held.append(HeldCommand(due, topic, payload))
        return self.release(now)

    def release(self, now: float) -> list[tuple[str, bytes]]:
        """Held commands whose delay is over, in the order they arrived."""
        released: list[tuple[str, bytes]] = []
        while self._held and self._held[0].due <= now + EPSILON_S:
            held = self._held.popleft()
            released.append((held.topic, held.payload))
        return released
