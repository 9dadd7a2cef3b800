"""Received messages waiting for their handlers: bounded, urgent ones first, lanes in turn.

Each subscription belongs to a lane (the engine puts its command topic in `control` and its
device topics in `default`), so a flood on one lane does not hold up the other: the
dispatcher takes from the lanes in turn. A message judged urgent when it arrives (the
engine's `emergency` command) goes ahead of everything queued. Each lane holds at most
`max_messages` messages and `max_bytes` of payload; a message that does not fit is dropped
on arrival and handed to `on_dropped` (never unbounded memory, docs/robustness.md).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.bus.messages import Message

URGENT = "urgent"
"""The lane of messages judged urgent on arrival; always served first."""
MAX_MESSAGES = 10_000
"""Messages one lane may hold."""
MAX_BYTES = 16 * 1024 * 1024
"""Payload bytes one lane may hold."""
MAX_URGENT = 100
"""Urgent messages waiting at once (more presses of the emergency add nothing)."""
FULL = "inbox is full"
"""How the reason for a message dropped by a full lane ends (the others: too large)."""

Dropped = Callable[[Message, str], None]
"""Told of a message the inbox could not take, and why."""


@dataclass
class _Lane:
    max_messages: int
    max_bytes: int
    waiting: deque[Message] = field(default_factory=deque)
    size: int = 0


class Inbox:
    """The bus's inbox; `put` on arrival, `get` in the one dispatcher."""

    def __init__(
        self,
        *,
        max_messages: int = MAX_MESSAGES,
        max_bytes: int = MAX_BYTES,
        on_dropped: Dropped | None = None,
    ) -> None:
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._lanes: dict[str, _Lane] = {URGENT: _Lane(MAX_URGENT, max_bytes)}
        self._turn: deque[str] = deque()
        """The lanes other than urgent, in the order they are served next."""
        self._ready = asyncio.Event()
        self._unfinished = 0
        self._finished = asyncio.Event()
        self._finished.set()
        self.on_dropped = on_dropped
        self.dropped = 0
        self._arrivals: set[asyncio.Future[None]] = set()
        """One for each `wait_for_message` waiting (handlers pause at once: a command in line
        behind a start and an emergency); each done when a message is queued."""
        self._elsewhere = False
        """A message not queued here is being handled (`began_elsewhere`)."""

    def put(self, message: Message, lane: str) -> bool:
        """Queue a message on `lane` (URGENT: ahead of all); False when it was dropped."""
        queue = self._lanes.get(lane)
        if queue is None:
            queue = self._lanes[lane] = _Lane(self._max_messages, self._max_bytes)
            self._turn.append(lane)
        size = len(message.payload)
        if len(queue.waiting) >= queue.max_messages or queue.size + size > queue.max_bytes:
            self.dropped += 1
            if self.on_dropped is not None:
                self.on_dropped(message, f"the {lane} {FULL}")
            return False
        queue.waiting.append(message)
        queue.size += size
        self._unfinished += 1
        self._finished.clear()
        self._ready.set()
        self.end_wait()
        return True

    def end_wait(self) -> None:
        """End every `wait_for_message` in progress now, as a message would."""
        for arrival in self._arrivals:
            if not arrival.done():
                arrival.set_result(None)

    async def wait_for_message(self, timeout_s: float) -> None:
        """Wait until a message is queued, at most `timeout_s` seconds; at once if one is."""
        if len(self):
            return
        loop = asyncio.get_running_loop()
        arrival: asyncio.Future[None] = loop.create_future()
        self._arrivals.add(arrival)
        timer = loop.call_later(timeout_s, _end, arrival)
        try:
            await arrival
        finally:
            timer.cancel()
            self._arrivals.discard(arrival)

    async def get(self) -> Message:
        """The next message: urgent first, then one from each waiting lane in turn."""
        while True:
            message = None if self._elsewhere else self._take()
            if message is not None:
                return message
            self._ready.clear()
            await self._ready.wait()

    def began_elsewhere(self) -> None:
        """A message not queued here is being handled (the bus hands a command to its handler
        as it is read): `get` hands out nothing until `ended_elsewhere`, and `join` waits for
        that too."""
        self._elsewhere = True
        self._unfinished += 1
        self._finished.clear()

    def ended_elsewhere(self) -> None:
        """The message of `began_elsewhere` has been handled."""
        self._elsewhere = False
        self._ready.set()
        self.task_done()

    def task_done(self) -> None:
        """A message from `get` has been handled."""
        self._unfinished -= 1
        if self._unfinished == 0:
            self._finished.set()

    def all_done(self) -> bool:
        """Whether every queued message has been handled (`join` would return at once)."""
        return self._unfinished == 0

    async def join(self) -> None:
        """Wait until every queued message has been handled."""
        await self._finished.wait()

    def __len__(self) -> int:
        return sum(len(lane.waiting) for lane in self._lanes.values())

    def _take(self) -> Message | None:
        urgent = self._lanes[URGENT]
        if urgent.waiting:
            return self._pop(urgent)
        for _ in range(len(self._turn)):
            lane = self._lanes[self._turn[0]]
            self._turn.rotate(-1)
            if lane.waiting:
                return self._pop(lane)
        return None

    @staticmethod
    def _pop(lane: _Lane) -> Message:
        message = lane.waiting.popleft()
        lane.size -= len(message.payload)
        return message


def _end(arrival: asyncio.Future[None]) -> None:
    """End one `wait_for_message` (its own timeout; another's leaves it waiting)."""
    if not arrival.done():
        arrival.set_result(None)
