"""The benchmark's child processes: the niceness the simulated devices run at."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench.processes import DEFAULT_SIM_NICENESS, SIM_NICENESS, child, sim_niceness

WAIT_S = 10.0


def niceness_when(pid: int, expected: int) -> int:
    """The process's niceness once it is `expected`, or as it is after WAIT_S (`nice` sets it
    just after the process starts, before it starts Python)."""
    deadline = time.monotonic() + WAIT_S
    seen = os.getpriority(os.PRIO_PROCESS, pid)
    while seen != expected and time.monotonic() < deadline:
        seen = os.getpriority(os.PRIO_PROCESS, pid)
    return seen


@pytest.mark.parametrize("niceness", [0, 7])
def test_a_child_runs_at_the_niceness_asked_below_the_benchmark(
    tmp_path: Path, niceness: int
) -> None:
    expected = os.getpriority(os.PRIO_PROCESS, 0) + niceness
    alive = ["timeit", "-n", "1", "-r", "1", "import time; time.sleep(60)"]  # stopped after
    with child("alive", alive, tmp_path / "child.log", niceness=niceness) as process:
        assert niceness_when(process.pid, expected) == expected


def test_the_simulated_devices_run_below_the_engine_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SIM_NICENESS, raising=False)
    assert sim_niceness() == DEFAULT_SIM_NICENESS > 0
    monkeypatch.setenv(SIM_NICENESS, "0")
    assert sim_niceness() == 0
