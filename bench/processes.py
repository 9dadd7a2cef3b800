"""The parts a benchmark runs: a real Mosquitto, `sessionroom sim` and the engine, as processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.requirements import mosquitto_binary as tests_mosquitto_binary

REPO = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_S = 10.0
STATS_TIMEOUT_S = 10.0
PROFILE_ENGINE = "SESSIONROOM_BENCH_PROFILE"
"""Set (to anything) in the environment to profile every engine process with cProfile."""
STAGES_ENGINE = "SESSIONROOM_BENCH_STAGES"
"""Set (to anything) in the environment to time every engine's commands stage by stage."""
SIM_NICENESS = "SESSIONROOM_BENCH_SIM_NICENESS"
"""The niceness `sessionroom sim` runs at (`--sim-niceness`; DEFAULT_SIM_NICENESS unset)."""
DEFAULT_SIM_NICENESS = 10
"""The simulated devices stand for hardware on machines of their own (bulbs, plugs, headsets):
below the engine's priority, their answer to a device message does not take the two cores
from that message while it is still on its way to the benchmark (README, Performance)."""


class MissingPart(Exception):  # noqa: N818 - a condition to report, not a program error
    """Something the benchmark needs is not installed."""


def mosquitto_binary() -> str:
    """Where Mosquitto is, as the tests find it; MissingPart if it is not installed."""
    try:
        return tests_mosquitto_binary()
    except (pytest.skip.Exception, pytest.fail.Exception) as missing:  # how the tests say it
        raise MissingPart(str(missing)) from None


@contextlib.contextmanager
def running_broker(workdir: Path, extra_config: str = "") -> Iterator[Mosquitto]:
    """A Mosquitto of its own on a free loopback port, stopped afterwards.

    `extra_config` holds mosquitto.conf lines added to the default (anonymous, no persistence).
    """
    broker = Mosquitto(mosquitto_binary(), workdir, extra_config=extra_config, verbose=False)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def spawn(arguments: list[str], log_file: Path, *, niceness: int = 0) -> subprocess.Popen[bytes]:
    """Start a Python child process (`python -m …`) from the repository, logging to `log_file`,
    `niceness` below this one's priority (`nice`: every thread of it, from its start)."""
    with log_file.open("ab") as log:
        lower = ["nice", "-n", str(niceness)] if niceness else []
        return subprocess.Popen(
            [*lower, sys.executable, "-m", *arguments],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within STOP_TIMEOUT_S."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def child(
    name: str, arguments: list[str], log_file: Path, *, niceness: int = 0
) -> Iterator[subprocess.Popen[bytes]]:
    """A Python child process (`python -m …`) run from the repository; SIGTERM, then kill."""
    process = spawn(arguments, log_file, niceness=niceness)
    try:
        yield process
    finally:
        stop(process)
        if process.returncode not in (0, -signal.SIGTERM):
            print(f"{name} exited with {process.returncode}; its log: {log_file}", file=sys.stderr)


def room_arguments(config: Path, broker: Mosquitto, room_id: str) -> list[str]:
    return ["--config", str(config), "--broker", broker.url, "--room", room_id]


@contextlib.contextmanager
def simulated_room(
    config: Path, broker: Mosquitto, room_id: str, workdir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`sessionroom sim` for the room: every MQTT device on its own connection, at the niceness
    SIM_NICENESS says."""
    with child(
        "sessionroom sim",
        ["controller.cli", "sim", *room_arguments(config, broker, room_id)],
        workdir / f"sim-{room_id}.log",
        niceness=sim_niceness(),
    ) as process:
        yield process


def sim_niceness() -> int:
    """How much below the benchmark's priority the simulated devices run (SIM_NICENESS)."""
    return int(os.environ.get(SIM_NICENESS, DEFAULT_SIM_NICENESS))


@dataclass(frozen=True)
class EngineMemory:
    """What the engine process says about its memory (bytes)."""

    rss: int
    peak_rss: int
    traced: int | None
    traced_peak: int | None
    tracing_overhead: int | None
    top_sites: list[str]


class EngineProcess:
    """`sessionroom run` in a process of its own (see `bench.engine_host`)."""

    def __init__(self, process: subprocess.Popen[bytes], stats_file: Path) -> None:
        self.process = process
        self._stats_file = stats_file

    def memory(self) -> EngineMemory:
        """Ask the engine for its memory figures (SIGUSR1) and wait for the answer."""
        self._stats_file.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + STATS_TIMEOUT_S
        while not self._stats_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the engine did not report its memory")
            time.sleep(0.02)
        stats: dict[str, Any] = json.loads(self._stats_file.read_text())
        return EngineMemory(**stats)


def engine_arguments(
    config: Path,
    broker: Mosquitto,
    room_id: str,
    workdir: Path,
    *,
    time_scale: float = 1.0,
    host_options: tuple[str, ...] = (),
) -> list[str]:
    """`python -m` arguments of the room's engine in `bench.engine_host`, journaling under
    `workdir/data-<room>` and reporting its memory to `workdir/engine-<room>-memory.json`.

    With PROFILE_ENGINE set in the environment, the engine is profiled with cProfile into
    `workdir/engine-<room>.prof`; with STAGES_ENGINE, its commands are timed stage by stage
    into `workdir/engine-<room>-stages.jsonl` (`bench.stages`).
    """
    options = [str(workdir / f"engine-{room_id}-memory.json"), *host_options]
    if os.environ.get(PROFILE_ENGINE):
        options += ["--profile", str(workdir / f"engine-{room_id}.prof")]
    if os.environ.get(STAGES_ENGINE):
        options += ["--stages", str(workdir / f"engine-{room_id}-stages.jsonl")]
    return [
        "bench.engine_host",
        *options,
        "run",
        *room_arguments(config, broker, room_id),
        "--data-dir",
        str(workdir / f"data-{room_id}"),
        "--time-scale",
        str(time_scale),
    ]


@contextlib.contextmanager
def engine(
    config: Path,
    broker: Mosquitto,
    room_id: str,
    workdir: Path,
    *,
    time_scale: float = 1.0,
    trace_memory: bool = False,
) -> Iterator[EngineProcess]:
    """The room's engine (see `engine_arguments`), stopped afterwards."""
    arguments = engine_arguments(
        config,
        broker,
        room_id,
        workdir,
        time_scale=time_scale,
        host_options=("--trace-memory",) if trace_memory else (),
    )
    with child("sessionroom run", arguments, workdir / f"engine-{room_id}.log") as process:
        yield EngineProcess(process, workdir / f"engine-{room_id}-memory.json")
