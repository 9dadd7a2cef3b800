"""The bounded queue of messages waiting for the broker: ordered, latest per key, oldest dropped.

A message may have a deadline (`Pending.expires_at`, monotonic seconds): one still waiting
when it has passed is dropped as it is taken, never sent late, and counted in `expired`.
That covers a message queued while the broker was away and one put back unacknowledged
after a connection was lost. What was written to the socket before the loss was noticed is
beyond reach: a broker that only stalled (its process stopped, its traffic held up) may
still pass it on when it resumes.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pending:
    """A message to publish."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    expires_at: float = math.inf
    """When (monotonic seconds) the message is too late to send; never by default."""


class Outbox:
    """Messages in the order they were published, at most `capacity` of them.

    A message with a key replaces any waiting message with the same key and takes the newer
    position (the latest target for a device wins). When full, the oldest message is dropped
    and counted in `dropped`; one taken after its deadline is dropped and counted in
    `expired`.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"the outgoing queue must hold at least 1 message, not {capacity}")
        self.capacity = capacity
        self.dropped = 0
        self.expired = 0
        self._waiting: OrderedDict[Hashable, Pending] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, message: Pending, *, key: str | None = None) -> Pending | None:
        """Queue `message` last; return the message dropped to make room, if one was."""
        slot: Hashable = object() if key is None else key
        self._waiting.pop(slot, None)
        self._waiting[slot] = message
        return self._trim()

    def take(self, count: int, now: float) -> list[tuple[Hashable, Pending]]:
        """Remove and return up to `count` of the oldest messages with their slots (to put them
        back if sending fails), dropping on the way those whose deadline is before `now`."""
        taken: list[tuple[Hashable, Pending]] = []
        while self._waiting and len(taken) < count:
            slot, message = self._waiting.popitem(last=False)
            if message.expires_at < now:
                self.expired += 1
            else:
                taken.append((slot, message))
        return taken

    def put_back(self, slot: Hashable, message: Pending) -> Pending | None:
        """Return a message that could not be sent to the front, unless a newer one replaced it."""
        if slot in self._waiting:
            return None
        self._waiting[slot] = message
        self._waiting.move_to_end(slot, last=False)
        return self._trim()

    def _trim(self) -> Pending | None:
        if len(self._waiting) <= self.capacity:
            return None
        self.dropped += 1
        return self._waiting.popitem(last=False)[1]
