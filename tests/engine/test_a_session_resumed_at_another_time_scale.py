"""A rehearsal recorded at one time scale is not carried on by an engine running at another.

Its journal says the time scale it was recorded at (`meta`, the start event) and replays and
exports read every event by it; resumed by an engine at another scale (restarted without
`--time-scale 10`, or with it after a real session), its phases went on at the new pace
under the old word, and a replay ran its BLS sets at the wrong length. It is left as it is,
for an engine at its own pace to resume.
"""

from __future__ import annotations

from pathlib import Path

from controller.engine.clock import ManualClock
from controller.engine.engine import Engine
from controller.engine.resume import resume_or_close
from controller.engine.safety import FLASH_WINDOW_S
from tests.engine.test_resume import START_WALL_NS, command, resume_alert, the_room


def engine_at_scale(data_dir: Path, scale: float) -> tuple[Engine, ManualClock]:
    room = the_room(data_dir)
    room.settings = room.settings.model_copy(update={"time_scale": scale})  # as `run` does
    clock = ManualClock()
    engine = Engine(room, clock=clock, wall_ns=lambda: START_WALL_NS + int(clock.now() * 1e9))
    return engine, clock


def test_a_rehearsal_at_ten_times_is_not_resumed_by_an_engine_at_real_time(
    tmp_path: Path,
) -> None:
    fast, clock = engine_at_scale(tmp_path, 10.0)
    clock.advance(FLASH_WINDOW_S * 10)
    command(fast, "start", plan="rehearsal", participant="P014")
    assert fast.session is not None
    assert fast.session.journal.flush()

    engine, _ = engine_at_scale(tmp_path, 1.0)
    resumed = resume_or_close(engine, tmp_path, "room-a")

    assert resumed is None
    assert "time scale 10" in resume_alert(engine)
    assert "left as it is" in resume_alert(engine)

    again, _ = engine_at_scale(tmp_path, 10.0)  # started again at the session's own pace
    assert resume_or_close(again, tmp_path, "room-a") == fast.session.journal.session_id
