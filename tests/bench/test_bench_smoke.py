"""`python -m bench` at a tiny size: every part runs end to end and its figures are printed.

Runs the real thing (Mosquitto, `sessionroom sim`, the engine as processes); only the sizes
are small, so the figures themselves mean nothing here.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.support.requirements import mosquitto_binary

TINY = [
    "--commands", "4",
    "--lights", "6",
    "--scenes", "1",
    "--journal-seconds", "0.3",
    "--plan", "rehearsal",
]  # fmt: skip

FIGURES = (
    "cmd→wire latency p50 (n=4)",
    "cmd→wire latency p99 (n=4)",
    "scene fan-out to 6 lights, median of 1",
    "journal throughput (append → on disk)",
    "event-loop lag p99, journaling 1,000/s",
    "engine RSS after 'rehearsal' at ×60",
    "Python heap since start-up (tracemalloc) after 'rehearsal' at ×60",
)


@pytest.mark.mosquitto
@pytest.mark.slow
def test_the_benchmark_measures_every_part_and_prints_the_table() -> None:
    mosquitto_binary()
    result = subprocess.run(
        [sys.executable, "-m", "bench", *TINY],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    for figure in FIGURES:
        assert figure in rows, f"{figure!r} missing from:\n{result.stdout}"
        assert re.search(r" \d+\.\d\d× ", rows[figure]), f"no ratio to a baseline: {rows[figure]}"
    assert re.search(r"(PASS|MISS)\s*$", rows["cmd→wire latency p99 (n=4)"])
    assert re.search(r"vitals [1-9]", result.stdout), "the rehearsal journaled no vitals"
