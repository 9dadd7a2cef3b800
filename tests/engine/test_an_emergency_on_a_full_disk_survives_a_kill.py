"""An emergency pressed while the disk is full keeps the room latched across a kill.

Outside a session the room's marker (`<room>.emergency`) alone keeps the latch across a
restart; pressed on a full disk, a new marker is a file the disk refuses. A real full disk:
a 4 MiB tmpfs in a mount namespace of the test's own (`tests/support/small_disk.py`,
skipped where none can be made). The engine runs in a process of its own there, is killed
after the press, and the next engine starts in the namespace's own process, the disk still
full, then again once freed. The full disk that refused the marker's words (its file is in
place) is logged, not told as a fault of the engine's with its traceback.
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
    from controller.engine.safety import FLASH_WINDOW_S
    from tests.engine.test_resume import command, engine_on, the_room

    data_dir = Path(sys.argv[1])
    clock = ManualClock()
    engine = engine_on(the_room(data_dir), clock)  # the room idle, no session
    clock.advance(FLASH_WINDOW_S)
    engine.tick()
    fill_the_disk(data_dir.parent)
    command(engine, "emergency")
    print(json.dumps({"latched": engine.emergency is not None}), flush=True)
    os._exit(0)  # killed
    """
)

IN_THE_NAMESPACE = textwrap.dedent(
    """
    import json, subprocess, sys
    from pathlib import Path
    from tests.engine.test_resume import engine_on, the_room

    data_dir = Path(sys.argv[1]) / "data"
    first = subprocess.run(
        [sys.executable, "-c", sys.argv[2], str(data_dir)], capture_output=True, text=True
    )
    still_full = engine_on(the_room(data_dir)).emergency is not None
    (data_dir.parent / "filler").unlink()
    freed = engine_on(the_room(data_dir)).emergency is not None
    print(json.dumps({
        "first": first.stdout, "first_error": first.stderr[-2000:],
        "still_full": still_full, "freed": freed,
    }))
    """
)


def test_an_emergency_pressed_on_a_full_disk_latches_the_next_engine(tmp_path: Path) -> None:
    ran_stdout = run_on_a_small_disk(tmp_path, IN_THE_NAMESPACE, FIRST_ENGINE, timeout_s=120)
    outcome = json.loads(ran_stdout)
    assert json.loads(outcome["first"]) == {"latched": True}, outcome
    assert (outcome["still_full"], outcome["freed"]) == (True, True), outcome["first_error"]
    # the marker is in place: its words the full disk refused are no engine fault
    assert "Traceback" not in outcome["first_error"], outcome["first_error"]
    assert "engine fault" not in outcome["first_error"]
    assert "the emergency marker" in outcome["first_error"]
