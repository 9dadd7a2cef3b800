"""The bounded queue of messages waiting for the broker: ordered, latest per key, oldest dropped.

A message may have a deadline (`Pending.expires_at`, monotonic seconds): one still waiting
when it has passed is dropped as it is taken, never sent late, and counted in `expired`.
That covers a message queued while the broker was away and one put back unacknowledged
after a connection was lost. What was written to the socket before the loss was noticed is
beyond reach: a broker that only stalled (its process stopped, its traffic held up) may
still pass it on when it resumes.

A message may belong to a chain (`Pending.chain`): messages each judged against the one
before, such as a headset's volume ramp, where a later step is right only after the earlier
ones. When one is dropped unsent, every later one of its chain still waiting is dropped
with it. Every message dropped unsent, for whatever reason, is kept for `take_lost`, so
whoever judged it learns that it never went. So is a message of a chain that went out too
late (`late`): the later ones waiting would follow it at once, so they are dropped too.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Pending:
    """A message to publish."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    expires_at: float = math.inf
    """When (monotonic seconds) the message is too late to send; never by default."""
    chain: str | None = None
    """Dropped unsent, it takes the later messages of its chain still waiting with it."""
    keep: bool = False
    """A message of a chain that is sent however late (a light bar's stop: darkening it is
    never held back): taken after its deadline, or acknowledged after it (`late`), it goes
    (went) all the same, and the later messages of its chain still waiting are dropped (they
    would follow it at once). Of several such that waited, only the last goes: a screen's
    brightness falls queued with the rises between them dropped are no longer falls (0.2,
    0.6, 0.2 ... at once); the others are dropped and told, so whoever judged them darkens
    the device again itself. One acknowledged late is followed only by the last of them. It
    is never dropped with an earlier one of its chain that was not sent."""
    went: bool = False
    """Set on a message `take_lost` reports that did go, but reached the broker only after its
    deadline (`late`): its device may have it, late; the others it took along did not go."""


class Outbox:
    """Messages in the order they were published, at most `capacity` of them.

    A message with a key replaces any waiting message with the same key and takes the newer
    position (the latest target for a device wins). When full, the oldest message is dropped
    and counted in `dropped`; one taken after its deadline is dropped and counted in
    `expired`. Either takes the later messages of its chain with it, counted alike.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"the outgoing queue must hold at least 1 message, not {capacity}")
        self.capacity = capacity
        self.dropped = 0
        self.expired = 0
        self._waiting: OrderedDict[Hashable, Pending] = OrderedDict()
        self._chains: dict[str, dict[Hashable, None]] = {}
        """Each chain's waiting slots, in the queue's order: dropping a chain's followers, or
        looking for a later one sent however late, reads its own messages, not the queue (a
        reconnect after an outage takes up to `capacity` expired messages in one go)."""
        self._keeps: Counter[str] = Counter()
        """Per chain, how many of its waiting messages are sent however late."""
        self._lost: list[Pending] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, message: Pending, *, key: str | None = None) -> Pending | None:
        """Queue `message` last; return the message dropped to make room, if one was."""
        slot: Hashable = object() if key is None else key
        if slot in self._waiting:
            self._remove(slot)
        self._add(slot, message)
        return self._trim()

    def take(self, count: int, now: float) -> list[tuple[Hashable, Pending]]:
        """Remove and return up to `count` of the oldest messages with their slots (to put them
        back if sending fails), dropping on the way those whose deadline is before `now`."""
        taken: list[tuple[Hashable, Pending]] = []
        while self._waiting and len(taken) < count:
            slot, message = self._remove(next(iter(self._waiting)))
            if message.expires_at < now and message.keep and self._kept_after(message):
                self.expired += 1 + self._lose(message)  # the last of them goes, alone
            elif message.expires_at < now and message.keep:
                self.expired += self._lose_followers(message)
                taken.append((slot, message))
            elif message.expires_at < now:
                self.expired += 1 + self._lose(message)
            else:
                taken.append((slot, message))
        return taken

    def late(self, message: Pending) -> None:
        """`message`, sent, reached the broker only after its deadline: drop the later messages
        of its chain still waiting (counted in `expired`), and keep it for `take_lost` with
        them (one that is sent however late, `Pending.keep`, is not kept: it went)."""
        if message.keep:
            self.expired += self._lose_followers(message, kept_too=True, but_the_last=True)
        else:
            self._lost.append(replace(message, went=True))
            self.expired += self._lose_followers(message)

    def take_lost(self) -> list[Pending]:
        """The messages dropped unsent since the last call (full, late, or in a chain with
        one of these), and those sent too late (`late`, marked `went`), in the order they were
        noted."""
        lost, self._lost = self._lost, []
        return lost

    def put_back(self, slot: Hashable, message: Pending) -> Pending | None:
        """Return a message that could not be sent to the front, unless a newer one replaced it."""
        if slot in self._waiting:
            return None
        self._add(slot, message, first=True)
        return self._trim()

    def _trim(self) -> Pending | None:
        if len(self._waiting) <= self.capacity:
            return None
        _, dropped = self._remove(next(iter(self._waiting)))
        self.dropped += 1 + self._lose(dropped)
        return dropped

    def _lose(self, message: Pending) -> int:
        """Note `message` as lost, and drop the later messages of its chain still waiting;
        how many of those there were."""
        self._lost.append(message)
        return self._lose_followers(message)

    def _kept_after(self, message: Pending) -> bool:
        """Whether a later message of `message`'s chain sent however late waits (`message`
        itself taken from the queue)."""
        return message.chain is not None and self._keeps[message.chain] > 0

    def _add(self, slot: Hashable, message: Pending, *, first: bool = False) -> None:
        self._waiting[slot] = message
        if first:
            self._waiting.move_to_end(slot, last=False)
        if message.chain is None:
            return
        slots = self._chains.setdefault(message.chain, {})
        if first:  # rare (a message put back): the chain is written again in its new order
            self._chains[message.chain] = {slot: None, **slots}
        else:
            slots[slot] = None
        if message.keep:
            self._keeps[message.chain] += 1

    def _remove(self, slot: Hashable) -> tuple[Hashable, Pending]:
        message = self._waiting.pop(slot)
        chain = message.chain
        if chain is not None:
            slots = self._chains[chain]
            del slots[slot]
            if not slots:
                del self._chains[chain]
            if message.keep:
                self._keeps[chain] -= 1
                if not self._keeps[chain]:
                    del self._keeps[chain]
        return slot, message

    def _lose_followers(
        self, message: Pending, *, kept_too: bool = False, but_the_last: bool = False
    ) -> int:
        """Drop the later messages of `message`'s chain still waiting, but those sent however
        late (`Pending.keep`) unless `kept_too`, and the last of these if `but_the_last`;
        how many there were."""
        if message.chain is None:
            return 0
        chain = self._chains.get(message.chain, {})
        if not kept_too and len(chain) == self._keeps[message.chain]:
            return 0  # all of them are sent however late (as after the first of them dropped)
        followers = [slot for slot in chain if kept_too or not self._waiting[slot].keep]
        kept = [slot for slot in followers if self._waiting[slot].keep]
        if but_the_last and kept:
            followers.remove(kept[-1])
        for slot in followers:
            self._lost.append(self._remove(slot)[1])
        return len(followers)
