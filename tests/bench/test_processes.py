"""The benchmark's child processes: the niceness the simulated devices run at."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from bench import processes
from bench.processes import (
    DEFAULT_SIM_NICENESS,
    SIM_NICENESS,
    child,
    engine,
    sim_niceness,
    simulated_room,
)
from tests.support.mosquitto import Mosquitto

WAIT_S = 10.0
ALIVE = ["timeit", "-n", "1", "-r", "1", "import time; time.sleep(60)"]
"""A child that lives until it is stopped."""


def niceness_once_started(pid: int) -> int:
    """The process's niceness once it runs Python, past `nice` (which sets it, then runs
    Python in its place): before that, a process still at this one's priority only seems so
    (its command line reads empty while it changes program)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    deadline = time.monotonic() + WAIT_S
    while cmdline.read_bytes().split(b"\0")[0] != os.fsencode(sys.executable):
        assert time.monotonic() < deadline, f"{pid} runs no Python after {WAIT_S} s"
        time.sleep(0.001)
    return os.getpriority(os.PRIO_PROCESS, pid)


@pytest.mark.parametrize("niceness", [0, 7])
def test_a_child_runs_at_the_niceness_asked_below_the_benchmark(
    tmp_path: Path, niceness: int
) -> None:
    expected = os.getpriority(os.PRIO_PROCESS, 0) + niceness
    with child("alive", ALIVE, tmp_path / "child.log", niceness=niceness) as process:
        assert niceness_once_started(process.pid) == expected


def test_the_simulated_devices_run_below_the_engine_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SIM_NICENESS, raising=False)
    assert sim_niceness() == DEFAULT_SIM_NICENESS > 0
    monkeypatch.setenv(SIM_NICENESS, "0")
    assert sim_niceness() == 0


def test_the_simulator_runs_at_its_niceness_and_the_engine_beside_the_benchmark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the benchmark starts: `sessionroom sim` at SIM_NICENESS below it, the engine at its
    own priority (each stands in for a child that lives until stopped). The tests above pass
    with a simulator started at the engine's priority."""
    monkeypatch.setenv(SIM_NICENESS, "6")
    real_spawn = processes.spawn

    def spawn_alive(
        arguments: list[str], log_file: Path, *, niceness: int = 0
    ) -> subprocess.Popen[bytes]:
        return real_spawn(ALIVE, log_file, niceness=niceness)

    monkeypatch.setattr(processes, "spawn", spawn_alive)
    broker = cast(Mosquitto, SimpleNamespace(url="mqtt://127.0.0.1:1"))
    config = tmp_path / "config.yaml"
    own = os.getpriority(os.PRIO_PROCESS, 0)
    with (
        simulated_room(config, broker, "room", tmp_path) as simulator,
        engine(config, broker, "room", tmp_path) as engine_process,
    ):
        assert niceness_once_started(simulator.pid) == own + 6
        assert niceness_once_started(engine_process.process.pid) == own
