"""Many rooms on one broker: a room's command-to-wire latency alone and among many, and the
facility overview's time to show every room.

Each room is the example room with device topics of its own (`f<n>-…`), its engine and its
simulated devices as processes, all on the benchmark's one Mosquitto. Each room's music and
tones play through VLC on ALSA's `null` device, a sound card that takes the audio at the
card's pace and discards it: as in a real room, the output works (VLC's default output has no
sound card here and fails, and VLC opens it anew for every track). The latency is measured
exactly as the `latency` part does (bench.latency), on one room (room 0) with a session
open, in two conditions: among the others, which run their sessions beside it (each in its
standard plan's centering phase: lights, the headset's breathing guide, music on two
crossfading decks, vitals every second; a console's link reading its state in a process of
its own, `bench.onlooker`, as for room 0: the process that times reads none of it), and
alone, with the others' engines and simulators paused (SIGSTOP): still connected, but
sending, receiving and computing nothing, as if the room were the only one on the broker.

The two conditions alternate in blocks of BLOCK commands within one run, in the order
among, alone, alone, among, … (so a drift in the machine's other load falls on both
alike): the room alone and the room among the others are timed in the same minutes, not
one after the other. After the others resume (SIGCONT), RESUME_SETTLE_S passes before
timing, so their catch-up (overdue ticks and readings, each engine's state) is not what is
timed; after they are paused, PAUSE_SETTLE_S lets what they had sent be delivered. A
pause (at most two blocks in a row, a few seconds) stays far below the 45 s (1.5 times the
keep-alive) after which the broker would take a paused client for gone. The
others' CPU (each engine and simulator process, from /proc) is counted while they run
beside the timed room and printed as a note.

The overview is the real `OverviewApp`, headless, timed from its start until every room's
row shows its engine online (all ten running); its baseline is a plain client receiving the
same retained status and state messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import yaml

from bench import latency
from bench.figures import Figure, Target, percentile
from bench.rooms import on_broker
from bench.stage import RunningRoom, room_running
from controller.config import Room, load_room
from controller.config.settings import BrokerSettings
from controller.console.overview import EVERY_STATE, EVERY_STATUS, OverviewApp
from tests.support.mosquitto import Mosquitto
from tests.support.room import copy_room

P99_TARGET_RATIO = 1.5
OVERVIEW_TIMEOUT_S = 30.0
BLOCK = 25
"""Commands timed in a row in one condition (alone or among the others)."""
PAUSE_SETTLE_S = 0.5
"""After pausing the others: what they had sent reaches its subscribers before timing."""
RESUME_SETTLE_S = 2.0
"""After resuming them: their catch-up (overdue ticks, a vitals reading, VLC finding its
clock again, each engine's state) passes before timing, so it is not what is timed."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class FacilitySamples:
    rooms: int
    alone: latency.LatencySamples
    among: latency.LatencySamples
    overview_s: float
    raw_overview_s: float
    others_cpu: OthersCpu


@dataclass(frozen=True)
class OthersCpu:
    """The other rooms' CPU (ms a second, each process with all its threads) while they ran
    beside the timed room."""

    engines: list[float]
    simulators: list[float]


def facility_room(broker: Mosquitto, workdir: Path, room_id: str, number: int) -> Room:
    """The example room as room `number` of the facility: device topics prefixed `f<n>-`, its
    music and tones on ALSA's `null` device."""
    folder = copy_room(workdir / room_id, room_id, topic_prefix=f"f{number}-")
    for path in (folder / "devices").glob("*.yaml"):
        inventory = yaml.safe_load(path.read_text())  # a list of devices, or one device
        for device in inventory.get("devices", [inventory]):
            if device["driver"] in ("vlc", "tones"):
                device.update(aout="alsa", audio_device="null")
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return on_broker(load_room(folder / "config.yaml"), broker, room_id, workdir)


class Others:
    """The other rooms' engines and simulators: paused together (SIGSTOP) while the room is
    timed alone, resumed (SIGCONT) while it is timed among them; their CPU counted meanwhile."""

    def __init__(self, rooms: list[RunningRoom]) -> None:
        self._engines = [room.engine.process.pid for room in rooms]
        self._simulators = [room.simulator.pid for room in rooms]
        self.paused = False
        self._running_since = 0.0
        self._cpu_at_resume: dict[int, float] = {}
        self.running_s = 0.0
        """Seconds timed among the others (settling pauses not counted)."""
        self.cpu_s: dict[int, float] = {}
        """Process id → CPU seconds it spent while the room was timed among the others."""

    @property
    def pids(self) -> list[int]:
        return [*self._engines, *self._simulators]

    def _signal(self, number: signal.Signals) -> None:
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):  # one that ended is not paused
                os.kill(pid, number)

    async def pause(self) -> None:
        """Stop them, then wait PAUSE_SETTLE_S for what they had sent to be delivered."""
        if self.paused:
            return
        self._count()
        self._signal(signal.SIGSTOP)
        self.paused = True
        await asyncio.sleep(PAUSE_SETTLE_S)

    async def resume(self) -> None:
        """Let them run again, then wait RESUME_SETTLE_S for their catch-up to pass."""
        if not self.paused:
            return
        self.resume_now()
        await asyncio.sleep(RESUME_SETTLE_S)
        self.start_counting()

    def resume_now(self) -> None:
        """SIGCONT at once (before the rooms are stopped: a stopped process cannot end)."""
        self._signal(signal.SIGCONT)
        self.paused = False

    def start_counting(self) -> None:
        """Count their CPU and time from now on."""
        self._running_since = time.monotonic()
        self._cpu_at_resume = {pid: cpu_seconds(pid) for pid in self.pids}

    def _count(self) -> None:
        """Add the CPU they spent since they were last resumed (or counting started)."""
        self.running_s += time.monotonic() - self._running_since
        for pid, before in self._cpu_at_resume.items():
            self.cpu_s[pid] = self.cpu_s.get(pid, 0.0) + cpu_seconds(pid) - before

    def cpu_ms_per_s(self) -> OthersCpu:
        """Each engine's and simulator's CPU (ms a second) while they ran beside the room."""
        self._count()

        def rate(pid: int) -> float:
            return self.cpu_s.get(pid, 0.0) * 1000.0 / max(self.running_s, 1e-9)

        return OthersCpu(
            [rate(pid) for pid in self._engines], [rate(pid) for pid in self._simulators]
        )


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of the process (all its threads) so far, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, from field 3
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


async def measure(broker: Mosquitto, workdir: Path, rooms: int, samples: int) -> FacilitySamples:
    """Time `samples` commands to room 0 alone and as many among `rooms - 1` others, in
    alternating blocks of BLOCK (ABBA: among, alone, alone, among, …), the others paused
    for the blocks alone; then the overview with every room running."""
    others = [facility_room(broker, workdir, f"bench-facility-{n}", n) for n in range(1, rooms)]
    alone, among = latency.LatencySamples([], []), latency.LatencySamples([], [])
    async with contextlib.AsyncExitStack() as stack:
        running = []
        for room in others:  # each with a console's link, none read by this process
            running.append(await stack.enter_async_context(room_running(room, broker, workdir)))
            await running[-1].start_session()
            await stack.enter_async_context(latency.onlooker_on(broker, workdir, room.room_id))
            await running[-1].close_client()
        neighbours = Others(running)
        stack.callback(neighbours.resume_now)
        measured_room = facility_room(broker, workdir, "bench-facility-0", 0)
        sampler = await stack.enter_async_context(
            latency.sampler_on(measured_room, broker, workdir)
        )
        neighbours.start_counting()
        for block in range(math.ceil(samples / BLOCK)):
            size = min(BLOCK, samples - block * BLOCK)
            for alone_now in (False, True) if block % 2 == 0 else (True, False):
                await (neighbours.pause() if alone_now else neighbours.resume())
                for _ in range(size):
                    await sampler.take(alone if alone_now else among)
        await neighbours.resume()
        cpu = neighbours.cpu_ms_per_s()
        every_id = [measured_room.room_id, *(room.room_id for room in others)]
        raw_s = await raw_overview(broker, every_id)
        overview_s = await overview(broker, every_id)
    return FacilitySamples(rooms, alone, among, overview_s, raw_s, cpu)


async def overview(broker: Mosquitto, room_ids: list[str]) -> float:
    """Seconds from the overview's start until it shows every room online."""
    settings = BrokerSettings(mode="external", host=broker.host, port=broker.port)
    started = time.perf_counter()
    app = OverviewApp(settings, root=Path.cwd())

    def shown() -> bool:
        return all(room in app.rows for room in room_ids) and all(
            app.rows[room].engine == "online" for room in room_ids
        )

    async with app.run_test(size=(140, 10 + len(room_ids))) as pilot:
        while not shown():
            if time.perf_counter() - started > OVERVIEW_TIMEOUT_S:
                raise TimeoutError("the overview never showed every room")
            await pilot.pause(0.005)
        return time.perf_counter() - started


async def raw_overview(broker: Mosquitto, room_ids: list[str]) -> float:
    """Seconds from a plain client's start until it has every room's retained status and state."""
    wanted = {f"sessionroom/{room}/{part}" for room in room_ids for part in ("status", "state")}
    started = time.perf_counter()
    client_id = f"bench-overview-{uuid.uuid4().hex[:8]}"
    async with aiomqtt.Client(broker.host, broker.port, identifier=client_id) as client:
        await client.subscribe(EVERY_STATUS, qos=1)
        await client.subscribe(EVERY_STATE, qos=1)
        async with asyncio.timeout(OVERVIEW_TIMEOUT_S):
            async for message in client.messages:
                wanted.discard(str(message.topic))
                if not wanted:
                    break
    return time.perf_counter() - started


def latency_figure(
    measured: FacilitySamples, fraction: float, target: Target | None = None
) -> Figure:
    """The `fraction` percentile among the rooms, beside the same room's alone."""
    name = f"p{round(fraction * 100)}"
    return Figure(
        f"cmd→wire {name} among {measured.rooms} rooms (n={len(measured.among.engine)})",
        percentile(measured.among.engine, fraction) * 1000.0,
        "ms",
        percentile(measured.alone.engine, fraction) * 1000.0,
        f"the room alone, others paused, {name}",
        target,
    )


def figures(measured: FacilitySamples) -> list[Figure]:
    rooms = measured.rooms
    return [
        latency_figure(measured, 0.50),
        latency_figure(measured, 0.99, Target.ratio_at_most(P99_TARGET_RATIO)),
        Figure(
            f"overview shows {rooms} rooms, all running",
            measured.overview_s * 1000.0,
            "ms",
            measured.raw_overview_s * 1000.0,
            "raw retained read",
        ),
    ]


def notes(measured: FacilitySamples) -> list[str]:
    """The raw hops in either condition, and what each other room cost while it ran."""
    cpu = measured.others_cpu

    def spread(values: list[float]) -> str:
        return f"median {statistics.median(values):.1f}, {min(values):.1f}–{max(values):.1f}"

    def hop(samples: latency.LatencySamples) -> str:
        p50, p99 = (percentile(samples.raw, fraction) * 1000 for fraction in (0.50, 0.99))
        return f"{p50:.2f} / {p99:.2f}"

    return [
        f"Facility: the {measured.rooms - 1} other rooms are paused (SIGSTOP) while the room "
        f"is timed alone, running their sessions while it is timed among them, in alternating "
        f"blocks of {BLOCK} commands. Raw MQTT hop p50 / p99: {hop(measured.alone)} ms alone, "
        f"{hop(measured.among)} ms among them. CPU of each other room while it ran (ms a "
        f"second): engine {spread(cpu.engines)}; simulator {spread(cpu.simulators)}.",
    ]
