"""Start-up: `sessionroom run` until its retained `online`, and `sessionroom console` until the
room's phase is on screen, each beside the least a process could do in its place.

The engine is started as a new process on the example room (a data folder of its own each
time, so there is no session to resume) while a subscriber stamps the retained status; its
baseline is a bare paho client publishing the same retained `online` (`bench.bare`). The
console runs in a real terminal (tmux) against a running engine with a session in its first
phase, and counts as started when the phase is on screen; its baseline is a bare Textual
app showing one line in the same terminal. Product and baseline alternate, `runs` times each,
and the median is reported.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure, Target
from bench.processes import REPO, MissingPart, room_arguments, stop
from bench.stage import room_running
from bench.wire import Arrival, wire_on
from controller.api.topics import ONLINE, RoomTopics
from controller.config import Room
from tests.support.mosquitto import Mosquitto
from tests.support.terminal import Terminal

START_TIMEOUT_S = 30.0
POLL_S = 0.005
ENGINE_TARGET_S = 0.5
CONSOLE_TARGET_S = 1.0
CONSOLE_RATIO_TARGET = 2.0
BARE_LINE = "● BARE TEXTUAL"
FIRST_PHASE = "● CENTERING"
"""How the console shows the example room's first phase of the standard plan."""
TERMINAL = (100, 32)


@dataclass(frozen=True)
class StartSamples:
    engine: list[float]
    bare_online: list[float]
    console: list[float]
    bare_textual: list[float]


def python(*arguments: str) -> list[str]:
    return [sys.executable, "-m", *arguments]


async def until_online(broker: Mosquitto, topic: str, command: list[str], log: Path) -> float:
    """Seconds from starting `command` until `online` arrives on `topic`; the process is stopped."""
    async with wire_on(broker, [topic]) as wire:
        came: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        def arrived(arrival: Arrival) -> None:
            if arrival.payload == ONLINE.encode() and not came.done():
                came.set_result(arrival.at)

        with log.open("ab") as output:
            started = time.perf_counter()
            wire.on_arrival = arrived
            process = subprocess.Popen(command, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
        try:
            return await asyncio.wait_for(came, START_TIMEOUT_S) - started
        finally:
            stop(process)


async def on_screen(name: str, command: list[str], text: str) -> float:
    """Seconds from starting `command` in a new terminal until `text` is on its screen."""
    terminal = Terminal(f"sessionroom-bench-{name}-{uuid.uuid4().hex[:6]}")
    started = time.perf_counter()
    terminal.start(command, *TERMINAL, cwd=REPO)
    try:
        while text not in terminal.screen():
            if time.perf_counter() - started > START_TIMEOUT_S:
                raise TimeoutError(f"{name} did not show {text!r} within {START_TIMEOUT_S:g} s")
            await asyncio.sleep(POLL_S)
        return time.perf_counter() - started
    finally:
        terminal.close()


async def alternate(
    runs: int, product: Callable[[], Awaitable[float]], baseline: Callable[[], Awaitable[float]]
) -> tuple[list[float], list[float]]:
    measured: tuple[list[float], list[float]] = ([], [])
    for _run in range(runs):
        measured[1].append(await baseline())
        measured[0].append(await product())
    return measured


def compile_sources() -> None:
    """Write the bytecode of the repository's modules, as an installed package has it (even
    where PYTHONDONTWRITEBYTECODE keeps a process from writing it)."""
    subprocess.run(python("compileall", "-q", "controller", "bench"), cwd=REPO, check=True)


async def measure(room: Room, broker: Mosquitto, workdir: Path, runs: int) -> StartSamples:
    if shutil.which("tmux") is None:
        raise MissingPart("tmux is not installed (apt-get install tmux)")
    compile_sources()
    connection = room_arguments(room.config_path, broker, room.room_id)
    count = iter(range(runs))

    async def engine() -> float:
        # A room id and data folder of its own each time: no retained status, no session.
        room_id = f"{room.room_id}-{next(count)}"
        command = python(
            "controller.cli",
            "run",
            *room_arguments(room.config_path, broker, room_id),
            "--data-dir",
            str(workdir / f"data-{room_id}"),
        )
        status = RoomTopics(room_id).status
        return await until_online(broker, status, command, workdir / "start-engine.log")

    async def bare_online() -> float:
        # A topic of its own each time: the retained `online` of the run before is not heard.
        topic = f"bench/bare-{uuid.uuid4().hex[:8]}/status"
        command = python("bench.bare", "online", broker.host, str(broker.port), topic)
        return await until_online(broker, topic, command, workdir / "start-bare.log")

    engine_s, bare_online_s = await alternate(runs, engine, bare_online)
    async with room_running(room, broker, workdir) as running:
        await running.start_session()

        async def console() -> float:
            return await on_screen(
                "console", python("controller.cli", "console", *connection), FIRST_PHASE
            )

        async def bare_textual() -> float:
            return await on_screen("textual", python("bench.bare", "textual", BARE_LINE), BARE_LINE)

        console_s, bare_textual_s = await alternate(runs, console, bare_textual)
    return StartSamples(engine_s, bare_online_s, console_s, bare_textual_s)


def figures(measured: StartSamples) -> list[Figure]:
    runs = len(measured.engine)
    ms = 1000.0
    console = statistics.median(measured.console) * ms
    return [
        Figure(
            f"`sessionroom run` start → retained online (median of {runs})",
            statistics.median(measured.engine) * ms,
            "ms",
            statistics.median(measured.bare_online) * ms,
            "bare paho process",
            Target.value_at_most(ENGINE_TARGET_S * ms, "ms"),
        ),
        Figure(
            f"console start → phase on screen, tmux (median of {runs})",
            console,
            "ms",
            statistics.median(measured.bare_textual) * ms,
            "bare Textual app, one line",
            Target(
                f"ratio ≤ {CONSOLE_RATIO_TARGET:g}× and < {CONSOLE_TARGET_S * ms:g} ms",
                lambda value, ratio: (
                    ratio is not None
                    and ratio <= CONSOLE_RATIO_TARGET
                    and value < CONSOLE_TARGET_S * ms
                ),
            ),
        ),
    ]


def spread(samples: list[float]) -> str:
    """min–max of `samples` in ms."""
    return f"{min(samples) * 1000:.0f}–{max(samples) * 1000:.0f} ms"


def notes(measured: StartSamples) -> list[str]:
    return [
        f"Start-up spread (min–max): engine online {spread(measured.engine)}, bare paho "
        f"{spread(measured.bare_online)}; console {spread(measured.console)}, bare Textual "
        f"{spread(measured.bare_textual)}."
    ]
