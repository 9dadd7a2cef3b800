"""Where a crashed session stood: read back from its journal, so the next engine carries on.

The session went on in the room while no engine ran, so session time keeps counting through
the gap: `t_now = t_last + (wall_now − wall_last) × time_scale`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.journal import read_events


class ResumeError(Exception):
    """The journal does not hold what a resume needs (no start event, a foreign file...)."""


@dataclass(frozen=True)
class ResumePoint:
    plan: str
    participant: str
    time_scale: float
    last_t: float
    last_wall_ns: int
    progress: dict[str, Any]
    """The newest `run`/`scene`/`overrides`/`emergency` record the engine journaled."""

    def t_at(self, wall_ns: int) -> float:
        """Session time at `wall_ns`, counting the outage as time that passed in the room."""
        gap_s = max(0.0, (wall_ns - self.last_wall_ns) / 1e9)
        return self.last_t + gap_s * self.time_scale


def read_resume_point(path: Path) -> ResumePoint:
    """Scan a session journal for its start and its newest progress record."""
    start: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    last = None
    for event in read_events(path):
        last = event
        payload = event.payload
        if not isinstance(payload, dict):
            continue
        if event.kind == "session" and payload.get("event") == "start":
            start = payload
        if "run" in payload:
            progress = payload
    if start is None or progress is None or last is None:
        raise ResumeError(f"{path.name} holds no session start and progress to resume from")
    return ResumePoint(
        plan=str(start["plan"]),
        participant=str(start["participant"]),
        time_scale=float(start.get("time_scale", 1.0)),
        last_t=last.t,
        last_wall_ns=last.wall_ns,
        progress=progress,
    )
