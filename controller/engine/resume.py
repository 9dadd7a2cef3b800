"""Where a crashed session stood, read back from its journal, so the next engine carries on.

The session went on in the room while no engine ran, so session time keeps counting through
the gap: `t_now = t_last + (wall_now − wall_last) × time_scale`. The vitals checks so far are
read back too (`read_check_history`).

At start-up `resume_or_close` never stops the room from starting: a session that cannot be
carried on (its plan or scene changed, its journal truncated, damaged or unreadable, or any
other failure) leaves the room idle with a critical alert naming the session and the reason,
and is closed as abandoned with the reason as its last event.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.engine.checks import CHECK_HISTORY_KINDS, CheckHistory
from controller.journal import (
    Event,
    Journal,
    JournalError,
    OpenSession,
    find_open_session,
    newest_per_device,
    read_events,
)

if TYPE_CHECKING:
    from controller.engine.engine import Engine

log = logging.getLogger(__name__)

CLOSE_AT_START_S = 5.0
"""How long start-up waits for a session it closes to reach the disk; afterwards the journal's
writer keeps retrying in the background (its alert says so) and start-up goes on."""


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
    checks: CheckHistory = field(default_factory=CheckHistory)
    """The session's vitals checks so far."""

    def t_at(self, wall_ns: int) -> float:
        """Session time at `wall_ns`, counting the outage as time that passed in the room."""
        gap_s = max(0.0, (wall_ns - self.last_wall_ns) / 1e9)
        return self.last_t + gap_s * self.time_scale


def read_resume_point(path: Path) -> ResumePoint:
    """The session's start (read from the oldest event on) and its newest progress record
    (read from the newest event back): a long session is not read through."""
    start = next(
        (
            event.payload
            for event in read_events(path)
            if event.kind == "session"
            and isinstance(event.payload, dict)
            and event.payload.get("event") == "start"
        ),
        None,
    )
    last: Event | None = None
    progress: dict[str, Any] | None = None
    for event in read_events(path, newest_first=True):
        last = last or event
        if isinstance(event.payload, dict) and "run" in event.payload:
            progress = event.payload
            break
    if start is None or progress is None or last is None:
        raise ResumeError("its journal holds no session start and progress to resume from")
    try:
        return ResumePoint(
            plan=str(start["plan"]),
            participant=str(start["participant"]),
            time_scale=float(start.get("time_scale", 1.0)),
            last_t=float(last.t),
            last_wall_ns=int(last.wall_ns),
            progress=progress,
            checks=read_check_history(path),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ResumeError(f"its session start record is damaged ({error!r:.200})") from None


def read_check_history(path: Path) -> CheckHistory:
    """The session's vitals checks from its few session, phase and check events and each
    sensor's last reading: a long session's readings are not read through."""
    history = CheckHistory()
    for event in read_events(path, kinds=CHECK_HISTORY_KINDS):
        history.feed(event)
    for event in newest_per_device(path, "vitals"):
        history.feed(event)
    return history


@dataclass(frozen=True)
class SessionsLook:
    """What the sessions folder showed of the session a room left open (`look_for_session`)."""

    found: OpenSession | None
    unreadable: tuple[tuple[Path, str], ...] = ()
    """Journals passed over as unreadable, each with why."""
    problem: str | None = None
    """Why the sessions could not be looked at (the folder cannot be listed, or did not answer)."""


def look_for_session(data_dir: Path, room: str) -> SessionsLook:
    """Look for the session `room` left open: reads the disk only (on a thread of its own at
    the engine's start, where a data folder that does not answer is given up). Never raises."""
    unreadable: list[tuple[Path, str]] = []
    try:
        found = find_open_session(
            data_dir, room, on_unreadable=lambda path, why: unreadable.append((path, why))
        )
    except Exception as error:  # e.g. the sessions folder itself cannot be listed
        return SessionsLook(None, tuple(unreadable), str(error))
    return SessionsLook(found, tuple(unreadable))


def resume_or_close(
    engine: Engine, data_dir: Path, room: str, look: SessionsLook | None = None
) -> str | None:
    """Resume the session `room` left open, if any; the id of the session resumed, or None.

    `look`: what the sessions folder showed (`look_for_session`, which runs here when it is
    not given). A session that was ended while its end marker could not be written is closed
    now, not resumed. A session that cannot be resumed is closed as abandoned, and the engine
    raises a critical alert naming it and the reason. Nothing here raises.
    """
    look = look_for_session(data_dir, room) if look is None else look
    for path, reason in look.unreadable:
        session_id = path.name.removesuffix(path.suffix)
        _alert(engine, session_id, f"its journal cannot be read ({reason})", closed=False)
    if look.problem is not None:
        reason = f"the sessions cannot be looked at ({look.problem})"
        _alert(engine, "(unknown)", reason, closed=False)
        return None
    found = look.found
    if found is None:
        return None
    session_id = found.session_id
    if found.path.is_symlink():  # journals are written inside the data folder only
        reason = (
            f"its journal is a link ({_link_target(found.path)}), not a file of the data folder"
        )
        _alert(engine, session_id, reason, closed=False)
        return None
    if found.ending is None and not math.isclose(found.meta.time_scale, engine.scale):
        # an engine started at the wrong pace: the one at the session's own resumes it
        reason = (
            f"it was recorded at time scale {found.meta.time_scale:g} and this engine runs at "
            f"{engine.scale:g}"
        )
        _alert(engine, session_id, reason, closed=False)
        return None
    alerts = _WhileResumed(engine, session_id)
    try:
        journal = Journal.reopen(found.path, on_alert=alerts)
    except Exception as error:
        _alert(engine, session_id, f"its journal cannot be continued ({error})", closed=False)
        return None
    if found.ending is not None:
        alerts.resumed = False
        log.info("session %s had ended; writing its end marker now", session_id)
        _finish(
            journal,
            Event("session", {"event": "end", "completed": "at the next start"}),
            cleanly=found.ending.cleanly,
            wall_ns=found.ending.wall_ns,
        )
        return None
    try:
        engine.resume(journal, read_resume_point(found.path))
    except Exception as error:
        alerts.resumed = False
        named = isinstance(error, ResumeError | JournalError)  # a reason, not a fault of ours
        reason = str(error) if named else repr(error)
        if not named:
            log.error("cannot resume session %s", session_id, exc_info=error)
        latched = _left_latched(found.path)
        if latched is not None:
            engine.stay_latched(latched)
        _alert(engine, session_id, reason, closed=True)
        _finish(
            journal,
            Event("session", {"event": "abandoned", "reason": reason}),
            cleanly=False,
            wall_ns=engine.recorder.wall_ns(),
        )
        return None
    log.info("resumed session %s", session_id)
    return session_id


def _link_target(path: Path) -> str:
    try:
        return f"to {os.readlink(path)!r:.200}"
    except OSError as error:
        return f"unreadable: {error.strerror}"


class _WhileResumed:
    """A reopened journal's writer alerts: the engine's while the journal is its session's; only
    logged for one being closed at start-up (its disk trouble is no reason to keep the room
    from starting a new session)."""

    def __init__(self, engine: Engine, session_id: str) -> None:
        self.engine = engine
        self.session_id = session_id
        self.resumed = True

    def __call__(self, problem: str | None) -> None:
        if self.resumed:
            self.engine.journal_alert_from_writer(problem)
        else:
            log.warning("session %s, being closed: %s", self.session_id, problem or "written")


def _left_latched(path: Path) -> dict[str, Any] | None:
    """The newest progress record of a session's journal if it has an emergency active (None
    when not, or when it cannot be read): the room's marker may have been lost with its disk."""
    try:
        for event in read_events(path, newest_first=True):
            if isinstance(event.payload, dict) and "run" in event.payload:
                return event.payload if event.payload.get("in_emergency") is True else None
    except Exception:  # a journal that cannot be read says nothing
        log.debug("cannot read %s for its emergency", path, exc_info=True)
    return None


def _alert(engine: Engine, session_id: str, reason: str, *, closed: bool) -> None:
    outcome = "closed as abandoned" if closed else "left as it is"
    room = "still latched in its emergency" if engine.emergency is not None else "idle"
    message = (
        f"session {session_id} could not be resumed: {reason}; the room is {room} "
        f"and the session was {outcome}"
    )
    log.error("%s", message)
    engine.resume_failed(message)


def _finish(journal: Journal, last: Event, *, cleanly: bool, wall_ns: int) -> None:
    """Append the session's last event and mark it ended, waiting a little for the disk."""
    newest = journal.last_event
    try:
        journal.append(last, t=newest.t if newest else 0.0, wall_ns=wall_ns)
        journal.close(ended_cleanly=cleanly, wall_ns=wall_ns, timeout_s=CLOSE_AT_START_S)
    except JournalError as error:
        log.error("session %s: %s", journal.session_id, error)
