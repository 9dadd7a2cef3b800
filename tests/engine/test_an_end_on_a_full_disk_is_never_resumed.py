"""A session ended while the disk is full is closed, never resumed, by the next engine.

The engine that ended it is killed before the disk takes writes again: its end is in memory
only, and the note it leaves beside the journal (`<id>.ending`) is a file to write on that
same full disk. A real full disk: a tmpfs of 4 MiB mounted in a mount namespace of the test's
own (`unshare -rm`; skipped where none can be made), filled up by a file before the end. The
first engine runs in a process of its own there, killed after the end; the disk is freed and
the next engine starts in the namespace's own process.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.support.small_disk import FILL_THE_DISK, run_on_a_small_disk

FIRST_ENGINE = FILL_THE_DISK + textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from controller.engine.clock import ManualClock
    from controller.engine.engine import Engine
    from controller.engine.resume import resume_or_close
    from controller.engine.safety import FLASH_WINDOW_S
    from controller.journal import JournalError
    from tests.engine.test_resume import START_WALL_NS, command, crashed_session, the_room

    data_dir = Path(sys.argv[1])
    path = crashed_session(data_dir)  # a session running in its "return" phase

    def close(journal, cleanly):
        try:
            journal.close(ended_cleanly=cleanly, timeout_s=0.5)
        except JournalError as error:
            print(json.dumps({"close": str(error)}), flush=True)

    clock = ManualClock()
    engine = Engine(
        the_room(data_dir),
        clock=clock,
        wall_ns=lambda: START_WALL_NS + 60 * 10**9 + int(clock.now() * 1e9),
        close_journal=close,
    )
    assert resume_or_close(engine, data_dir, "room-a") == path.stem
    clock.advance(FLASH_WINDOW_S)
    engine.tick()
    fill_the_disk(data_dir.parent)
    command(engine, "end")
    print(json.dumps({"ended": engine.session is None}), flush=True)
    os._exit(0)  # killed before the disk takes writes again
    """
)

IN_THE_NAMESPACE = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from pathlib import Path
    from controller.journal import list_sessions
    from tests.engine.test_resume import restart, the_room

    data_dir = Path(sys.argv[1]) / "data"
    first = subprocess.run(
        [sys.executable, "-c", sys.argv[2], str(data_dir)], capture_output=True, text=True
    )
    said = [json.loads(line) for line in first.stdout.splitlines()]
    (data_dir.parent / "filler").unlink()  # the disk takes writes again
    engine, resumed = restart(the_room(data_dir))
    print(json.dumps({
        "first": said,
        "first_error": first.stderr[-2000:],
        "resumed": resumed,
        "open": [info.session_id for info in list_sessions(data_dir) if info.is_open],
    }))
    """
)


def test_a_session_ended_on_a_full_disk_is_closed_by_the_next_engine(tmp_path: Path) -> None:
    ran_stdout = run_on_a_small_disk(tmp_path, IN_THE_NAMESPACE, FIRST_ENGINE, timeout_s=120)
    outcome = json.loads(ran_stdout)
    assert outcome["first"][-1] == {"ended": True}, outcome
    assert "disk full" in outcome["first"][0]["close"], outcome
    assert outcome["resumed"] is None, "the session the operator ended was resumed"
    assert outcome["open"] == []
