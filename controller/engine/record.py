"""Where the engine's events go: the session journal, the live `events` topic and the timeline.

While a command is carried out the service holds the recorder (`Recorder.hold`): an event
is then only noted, with its time, and written out (journal, events topic, timeline) once the
command's device messages are on their way to the socket, in the order they were recorded.
Journaling an event costs about as much as the rest of a light nudge, and the journal's
writer thread, woken by the first event, competes for the interpreter lock with the send.
Nothing is lost: the service releases the hold when the command is done, whatever happened,
and a change of journal (a session starting or ending) writes what is held to the journal
it belongs to first.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from controller.api.state import TimelineEntry
from controller.journal import Event, Journal, Payload
from controller.journal.events import iso_wall as iso_wall  # the engine's events and exports alike

TIMELINE_LENGTH = 40
"""How many recent events in plain words the state carries for the console."""

Later = Callable[[], Payload]
"""A payload made when the event is written out (while held: after the device messages)."""

_Held = tuple[
    str, Payload | Later, float | None, str | None, str | None, str | None, str | None, int
]
"""An event noted: kind, payload, t, phase, device, topic, text, wall time."""


class Recorder:
    """Appends every event to the open journal (if any) and queues it for the events topic."""

    def __init__(self, wall_ns: Callable[[], int] = time.time_ns) -> None:
        self.wall_ns = wall_ns
        self._journal: Journal | None = None
        self.outgoing: list[dict[str, Any]] = []
        self.timeline: deque[TimelineEntry] = deque(maxlen=TIMELINE_LENGTH)
        self._held: list[_Held] | None = None

    @property
    def journal(self) -> Journal | None:
        return self._journal

    @journal.setter
    def journal(self, journal: Journal | None) -> None:
        """Change the journal events go to; what is held goes to the one it was recorded for."""
        self._write_held()
        self._journal = journal

    def record(
        self,
        kind: str,
        payload: Payload | Later = None,
        *,
        t: float | None,
        phase: str | None = None,
        device: str | None = None,
        topic: str | None = None,
        text: str | None = None,
    ) -> None:
        """Journal one event; `text` puts it on the console's timeline in plain words too.

        A callable `payload` is called when the event is written out (see the module).
        """
        held = (kind, payload, t, phase, device, topic, text, self.wall_ns())
        if self._held is None:
            self._write(held)
        else:
            self._held.append(held)

    def hold(self) -> bool:
        """Note events only, from now until `release`; False when they are held already (and
        so written out by the `release` of whoever held them first)."""
        if self._held is not None:
            return False
        self._held = []
        return True

    def release(self) -> None:
        """Write out what is held, in order, and write each event at once again (an event
        that cannot be written is raised, as by `_write_held`)."""
        try:
            self._write_held()
        finally:
            self._held = None

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Note events only, until the block ends; then write them out in order."""
        if not self.hold():  # the outer block writes them out
            yield
            return
        try:
            yield
        finally:
            self.release()

    def take(self) -> list[dict[str, Any]]:
        """The events recorded since the last call, for the events topic."""
        self._write_held()
        taken, self.outgoing = self.outgoing, []
        return taken

    def _write_held(self) -> None:
        """Write out what is held, in order. An event that cannot be written (a fault of
        ours) keeps none of the others from the journal: the first such error is raised after."""
        if not self._held:
            return
        held, self._held = self._held, []
        failed: Exception | None = None
        for event in held:
            try:
                self._write(event)
            except Exception as error:
                failed = failed or error
        if failed is not None:
            raise failed

    def _write(self, held: _Held) -> None:
        kind, payload, t, phase, device, topic, text, wall = held
        if callable(payload):
            payload = payload()
        event = Event(kind=kind, payload=payload, device=device, topic=topic, phase=phase)
        seq = None
        if self._journal is not None and t is not None:
            seq = self._journal.append(event, t=t, wall_ns=wall)
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
