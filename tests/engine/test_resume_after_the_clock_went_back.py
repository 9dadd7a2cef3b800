"""A session left open is found whatever the wall clock said when earlier sessions began.

A room PC without a battery-backed clock may start a day ahead (or behind) and be put right
later by NTP: a session's file name holds its start as the clock read it, so an earlier
session may well carry a later name than the one left open.
"""

from __future__ import annotations

from pathlib import Path

from controller.engine.clock import ManualClock
from controller.engine.engine import Engine
from controller.engine.safety import FLASH_WINDOW_S
from controller.journal import list_sessions
from tests.engine.test_resume import START_WALL_NS, command, restart, resume_alert, the_room

DAY_NS = 24 * 3600 * 10**9


def engine_at(data_dir: Path, wall_offset_ns: int) -> tuple[Engine, ManualClock]:
    clock = ManualClock()
    engine = Engine(
        the_room(data_dir),
        clock=clock,
        wall_ns=lambda: START_WALL_NS + wall_offset_ns + int(clock.now() * 1e9),
    )
    clock.advance(FLASH_WINDOW_S)
    return engine, clock


def test_a_session_left_open_is_resumed_after_the_clock_was_put_back(tmp_path: Path) -> None:
    # the clock a day ahead: a session run and ended
    ahead, clock = engine_at(tmp_path, DAY_NS)
    command(ahead, "start", plan="rehearsal", participant="P014")
    clock.advance(5.0)
    command(ahead, "end")
    # the clock put right: the next session, left open by an engine killed in its "return"
    engine, clock = engine_at(tmp_path, 0)
    command(engine, "start", plan="rehearsal", participant="P015")
    clock.advance(5.0)
    command(engine, "goto", phase="return")
    assert engine.session is not None
    left_open = engine.session.journal
    assert left_open.flush()

    resumed_by, resumed = restart(the_room(tmp_path))

    assert resumed == left_open.session_id
    assert resumed_by.phase_name == "return"
    assert [info.participant for info in list_sessions(tmp_path) if info.is_open] == ["P015"]


def test_an_unreadable_journal_told_once_is_not_told_again_once_a_later_session_ended(
    tmp_path: Path,
) -> None:
    """A session whose journal cannot be read is left as it is, told at the next start (the
    newest); once a later session has ended, starts are quiet about it."""
    engine, clock = engine_at(tmp_path, 0)
    command(engine, "start", plan="rehearsal", participant="P015")
    assert engine.session is not None
    damaged = engine.session.journal
    assert damaged.flush()
    damaged.path.write_bytes(b"\xff" * 4096)
    told, _ = restart(the_room(tmp_path))
    assert "cannot be read" in resume_alert(told)
    later, clock = engine_at(tmp_path, 3600 * 10**9)
    command(later, "start", plan="rehearsal", participant="P016")
    clock.advance(5.0)
    command(later, "end")

    quiet, resumed = restart(the_room(tmp_path))

    assert resumed is None
    assert quiet.snapshot().alerts == []
