"""Replay targets that stay on this machine: readable lines, or nothing at all (benchmarks)."""

from __future__ import annotations

from collections.abc import Callable

from controller.journal import Event, SessionMeta
from controller.research.describe import describe
from controller.research.replay import ReplayTarget


def session_clock(t: float) -> str:
    """Session time as `H:MM:SS.s`, e.g. `0:01:02.5`."""
    tenths = round(max(t, 0.0) * 10)
    seconds, tenth = divmod(tenths, 10)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}:{minute:02d}:{second:02d}.{tenth}"


def event_line(event: Event, *, notes: bool = True) -> str:
    """One readable line: session time, phase, kind, device and what happened."""
    return (
        f"{session_clock(event.t):>10}  {event.phase or '—':<11}  {event.kind:<12}  "
        f"{describe(event, notes=notes)}"
    )


class PrintTarget(ReplayTarget):
    """Writes a readable line per replayed event (`--target print`)."""

    def __init__(self, write: Callable[[str], None], *, notes: bool = True) -> None:
        self._write = write
        self._notes = notes

    async def open(self, meta: SessionMeta) -> None:
        self._write(
            f"Session {meta.session_id}: room {meta.room}, plan {meta.plan}, "
            f"participant {meta.participant}, recorded at time scale {meta.time_scale:g}"
        )

    async def emit(self, event: Event) -> None:
        self._write(event_line(event, notes=self._notes))

    async def restart(self) -> None:
        self._write("— loop: from the start again —")


class NullTarget(ReplayTarget):
    """Takes every event and does nothing with it: replay throughput on its own."""
