"""Where the engine's events go: the session journal, the live `events` topic and the timeline."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.api.state import TimelineEntry
from controller.journal import Event, Journal, Payload
from controller.journal.events import iso_wall as iso_wall  # the engine's events and exports alike

TIMELINE_LENGTH = 40
"""How many recent events in plain words the state carries for the console."""


@dataclass
class Recorder:
    """Appends every event to the open journal (if any) and queues it for the events topic."""

    wall_ns: Callable[[], int] = time.time_ns
    journal: Journal | None = None
    outgoing: list[dict[str, Any]] = field(default_factory=list)
    timeline: deque[TimelineEntry] = field(default_factory=lambda: deque(maxlen=TIMELINE_LENGTH))

    def record(
        self,
        kind: str,
        payload: Payload = None,
        *,
        t: float | None,
        phase: str | None = None,
        device: str | None = None,
        topic: str | None = None,
        text: str | None = None,
    ) -> None:
        """Journal one event; `text` puts it on the console's timeline in plain words too."""
        wall = self.wall_ns()
        event = Event(kind=kind, payload=payload, device=device, topic=topic, phase=phase)
        seq = None
        if self.journal is not None and t is not None:
            seq = self.journal.append(event, t=t, wall_ns=wall)
        self.outgoing.append(
            {
                "seq": seq,
                "t": t,
                "wall": iso_wall(wall),
                "phase": phase,
                "kind": kind,
                "device": device,
                "topic": topic,
                "payload": payload,
            }
        )
        if text is not None:
            self.timeline.append(TimelineEntry(t=t, wall=iso_wall(wall), kind=kind, text=text))

    def take(self) -> list[dict[str, Any]]:
        """The events recorded since the last call, for the events topic."""
        taken, self.outgoing = self.outgoing, []
        return taken
