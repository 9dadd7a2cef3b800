"""What travels on the bus: received messages, birth and will messages, connection changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """A message the broker delivered to one of the bus's subscriptions."""

    topic: str
    payload: bytes
    retain: bool
    arrival: int | None = field(default=None, compare=False)
    """Its place in the order the bus received messages in (None: not received by a bus).
    The inbox hands urgent messages over out of that order; this keeps it known."""


@dataclass(frozen=True)
class Will:
    """A status message: the birth published on every connect, or the will the broker keeps."""

    topic: str
    payload: str
    retain: bool = True
    qos: int = 1


@dataclass(frozen=True)
class ConnectionChange:
    """The bus connected to the broker, or lost it (or could not reach it)."""

    connected: bool
    reason: str | None
    """Why the connection failed or ended; None when connected."""
    outage_s: float | None
    """On a reconnect, how long the bus was without the broker; None otherwise."""


@dataclass(frozen=True)
class ReportsChange:
    """How the messages of the intake connection's filters (a room's device reports) come in."""

    failure: str | None
    """Why the intake connection has been down a while; None while it is up."""
    read_by_first: bool = False
    """While it is down: they come in on the first connection, which subscribed to them in
    its place (False: none has yet; a broker that keeps them from its login sends none)."""


Handler = Callable[[Message], Awaitable[None] | None]
"""Receives the messages of a topic filter; may be a plain function or a coroutine function."""


class GatedDeviceMessage(Protocol):
    """A device message that passed the engine's output path (`controller.engine.output`)."""

    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> str: ...

    @property
    def qos(self) -> int: ...

    @property
    def retain(self) -> bool: ...

    @property
    def key(self) -> str | None: ...

    @property
    def expires_s(self) -> float | None: ...

    @property
    def chain(self) -> str | None: ...

    @property
    def keep(self) -> bool: ...

    def passed_the_gate(self) -> bool: ...
