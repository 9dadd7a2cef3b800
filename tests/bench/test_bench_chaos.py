"""`python -m bench --only chaos` at a small size: kills, broker restarts and a refusing disk.

Real processes on a real Mosquitto (the engine killed with SIGKILL, the broker stopped and
started); only the counts are small. The figures that are verdicts must all pass.
"""

from __future__ import annotations

import re

import pytest

from tests.bench.test_bench_smoke import run_bench

KILLS = 5
RESTARTS = 3

VERDICTS = (
    f"SIGKILLs resumed into the same session (of {KILLS})",
    "journal seq gaps after the kills",
    "sessions recorded in the chaos room",
    "resume events in the journal (each kill, and the disk part's start)",
    f"broker restart → room back with its retained state max (n={RESTARTS})",
)


@pytest.mark.mosquitto
@pytest.mark.slow
def test_the_room_survives_kills_broker_restarts_and_a_refusing_disk() -> None:
    output, rows = run_bench(
        "--only", "chaos",
        "--kills", str(KILLS),
        "--restarts", str(RESTARTS),
        "--disk-full-seconds", "1",
        timeout=240,
    )  # fmt: skip
    for figure in VERDICTS:
        assert figure in rows, f"{figure!r} missing from:\n{output}"
        assert rows[figure].rstrip().endswith("PASS"), rows[figure]
    lost = [name for name in rows if name.startswith("acknowledged notes missing")]
    assert len(lost) == 1 and rows[lost[0]].rstrip().endswith("PASS"), output
    acknowledged = re.search(r"\(of (\d+)\)", lost[0])
    assert acknowledged is not None and int(acknowledged[1]) > 0, "no command was acknowledged"
    disk = [name for name in rows if name.startswith("disk refusing writes")]
    assert len(disk) == 1 and rows[disk[0]].rstrip().endswith("PASS"), output
    assert "(of 0)" not in disk[0], "the room answered nothing while the disk refused writes"
