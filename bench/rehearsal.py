"""Engine memory after a rehearsal: a whole plan at time scale 60 with the simulated room's vitals.

The engine runs with tracemalloc in its own process (`bench.engine_host`). The benchmark
starts a session of the plan, presses `next` when a manual phase's planned time is up (as
a therapist would; auto phases move on by themselves) and `end` after the last phase, then
asks the engine for its memory. The baseline is the same engine before the session started,
with every simulated device online. The simulated oximeter reports once a real second.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure
from bench.processes import EngineMemory
from bench.stage import RunningRoom, room_running
from controller.config import Room
from controller.journal import list_sessions, read_events
from tests.support.mosquitto import Mosquitto

TIME_SCALE = 60.0
JOURNAL_CLOSE_S = 1.0
"""After `end`, how long the engine gets to close the journal before memory is read."""
MIB = 1024 * 1024


@dataclass(frozen=True)
class Rehearsal:
    plan: str
    session_s: float
    real_s: float
    idle: EngineMemory
    after: EngineMemory
    events: Counter[str]


async def measure(room: Room, broker: Mosquitto, workdir: Path, plan_name: str) -> Rehearsal:
    plan = room.plans.get(plan_name)
    if plan is None:
        raise ValueError(f"no plan {plan_name!r} in the example room ({', '.join(room.plans)})")
    async with room_running(
        room, broker, workdir, time_scale=TIME_SCALE, trace_memory=True
    ) as running:
        idle = await asyncio.to_thread(running.engine.memory)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await running.start_session(plan_name)
        await press_through(running, [(p.duration, p.advance == "manual") for p in plan.phases])
        real_s = loop.time() - started
        await asyncio.sleep(JOURNAL_CLOSE_S)
        after = await asyncio.to_thread(running.engine.memory)
    [session] = list_sessions(room.data_dir, room.room_id)
    events = Counter(event.kind for event in read_events(session.path))
    session_s = sum(phase.duration for phase in plan.phases)
    return Rehearsal(plan_name, session_s, real_s, idle, after, events)


async def press_through(running: RunningRoom, phases: list[tuple[float, bool]]) -> None:
    """Press `next` at the end of each manual phase and `end` after the last one, on time."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    session_s = 0.0
    for index, (duration, manual) in enumerate(phases):
        session_s += duration
        last = index == len(phases) - 1
        if manual or last:
            await asyncio.sleep(max(0.0, started + session_s / TIME_SCALE - loop.time()))
            await running.command("end" if last else "next")


def figures(result: Rehearsal) -> list[Figure]:
    idle, after = result.idle, result.after
    what = f"after {result.plan!r} at ×{TIME_SCALE:g}"
    lines = [
        Figure(f"engine RSS {what}", after.rss / MIB, "MiB", idle.rss / MIB, "idle engine"),
        Figure("engine peak RSS", after.peak_rss / MIB, "MiB", idle.peak_rss / MIB, "idle engine"),
    ]
    if after.traced is not None and idle.traced is not None:
        lines.append(
            Figure(
                f"Python heap since start-up (tracemalloc) {what}",
                after.traced / MIB,
                "MiB",
                idle.traced / MIB,
                "idle engine",
            )
        )
    return lines


def notes(result: Rehearsal) -> list[str]:
    kinds = ", ".join(f"{kind} {count}" for kind, count in result.events.most_common())
    lines = [
        f"Rehearsal: plan {result.plan!r}, {result.session_s / 60:g} session minutes in "
        f"{result.real_s:.0f} real seconds; journal: {sum(result.events.values())} events "
        f"({kinds}).",
    ]
    if result.after.tracing_overhead is not None:
        lines.append(
            f"RSS includes tracemalloc's own {result.after.tracing_overhead / MIB:.1f} MiB; "
            "the Python allocation sites that grew most during the session:"
        )
        lines += [f"  {site}" for site in result.after.top_sites]
    return lines
