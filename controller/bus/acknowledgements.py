"""The batch of messages in flight: which of them the broker has not acknowledged yet."""

from __future__ import annotations

import asyncio
from typing import Protocol, TypeVar

Item = TypeVar("Item")


class Handed(Protocol):
    """What paho returns for a message handed to it (`MQTTMessageInfo`)."""

    mid: int

    def is_published(self) -> bool: ...


class Acknowledgements:
    """One batch at a time: its messages are handed to paho in order, and one future says
    when the broker has acknowledged every one of them (paho's `on_publish` for each:
    PUBACK for QoS 1, PUBCOMP for QoS 2, written to the socket for QoS 0)."""

    def __init__(self) -> None:
        self._expected = 0
        self._handed = 0
        self._waiting: dict[int, int] = {}
        """paho's message id → the message's place in the batch."""
        self._done: asyncio.Future[None] | None = None

    def expect(self, count: int) -> asyncio.Future[None]:
        """Start a batch of `count` messages; the future is done once all are acknowledged."""
        self._expected = count
        self._handed = 0
        self._waiting = {}
        self._done = asyncio.get_running_loop().create_future()
        self._settle()
        return self._done

    def handed(self, info: Handed) -> None:
        """The batch's next message went to paho (in the batch's order)."""
        if not info.is_published():
            self._waiting[info.mid] = self._handed
        self._handed += 1
        self._settle()

    def acknowledged(self, mid: int) -> None:
        """paho says message `mid` is done (its `on_publish`)."""
        if self._waiting.pop(mid, None) is not None:
            self._settle()

    def unacknowledged(self, batch: list[Item]) -> list[Item]:
        """The batch's messages, in order, that were not handed to paho or not acknowledged."""
        waiting = set(self._waiting.values())
        handed = self._handed
        return [item for place, item in enumerate(batch) if place >= handed or place in waiting]

    def forget(self) -> None:
        """The batch is over (sent, or given back to the queue)."""
        self._done = None
        self._waiting = {}

    def _settle(self) -> None:
        done = self._done
        complete = self._handed >= self._expected and not self._waiting
        if complete and done is not None and not done.done():
            done.set_result(None)
