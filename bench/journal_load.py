"""The journal under load: events per second to disk, and the event loop's lag while journaling.

Throughput: one thread appends a typical device-command event as fast as it can for a
while, then closes the journal; the figure is every event appended, divided by the time
until the last is committed. Baseline: the same rows (the journal's own table, WAL,
synchronous=FULL) inserted by plain sqlite3 in transactions of 500.

Lag: a probe sleeps 5 ms again and again on the event loop and records how late it wakes,
while a task on the same loop journals 1,000 events/s (10 every 10 ms, on a fixed schedule).
Baseline: the same probe on the same loop with nothing else running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.figures import Figure, Target, percentile
from controller.journal import Event, Journal
from controller.journal.store import CREATE_TABLES, INSERT_EVENT

EVENT = Event(
    kind="command",
    payload={"payload": '{"state":"ON","brightness":140,"color_temp":370,"transition":1.0}'},
    device="ceiling",
    topic="zigbee2mqtt/ceiling_light/set",
    phase="peak",
)
"""What the engine journals most: a device command (its payload as sent)."""

RAW_BATCH = 500
APPEND_CHUNK = 100
PROBE_S = 0.005
LAG_RATE_PER_S = 1000
LAG_BURST = 10
LAG_TARGET_MS = 5.0


def new_journal(folder: Path) -> Journal:
    return Journal.create(
        folder,
        room="bench-journal",
        plan="bench",
        participant="B001",
        time_scale=1.0,
        wall_ns=time.time_ns(),
        on_alert=lambda _problem: None,
    )


def journal_throughput(folder: Path, seconds: float) -> float:
    """Events per second through `Journal.append` until committed, appending flat out."""
    journal = new_journal(folder)
    appended = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(APPEND_CHUNK):
            journal.append(EVENT, t=time.perf_counter() - started, wall_ns=time.time_ns())
        appended += APPEND_CHUNK
    journal.close(ended_cleanly=True)
    return appended / (time.perf_counter() - started)


def raw_sqlite_throughput(path: Path, seconds: float) -> float:
    """Events per second inserting the same rows with plain sqlite3, 500 per transaction."""
    connection = sqlite3.connect(path, isolation_level=None)
    with contextlib.closing(connection):
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute(CREATE_TABLES[1])
        payload = json.dumps(EVENT.payload)
        inserted = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            rows = [
                (
                    inserted + index + 1,
                    time.time_ns(),
                    time.perf_counter() - started,
                    EVENT.phase,
                    EVENT.kind,
                    EVENT.device,
                    EVENT.topic,
                    payload,
                )
                for index in range(RAW_BATCH)
            ]
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(INSERT_EVENT, rows)
            connection.execute("COMMIT")
            inserted += RAW_BATCH
        return inserted / (time.perf_counter() - started)


async def loop_lags(
    seconds: float, load: Callable[[], Coroutine[Any, Any, None]] | None
) -> list[float]:
    """How late (s) a `PROBE_S` periodic timer wakes during `seconds`, `load` running beside."""
    loop = asyncio.get_running_loop()
    lags: list[float] = []

    async def probe() -> None:
        while True:
            due = loop.time() + PROBE_S
            await asyncio.sleep(PROBE_S)
            lags.append(loop.time() - due)

    tasks = [asyncio.create_task(probe())]
    if load is not None:
        tasks.append(asyncio.create_task(load()))
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return lags


def journaling(journal: Journal) -> Callable[[], Coroutine[Any, Any, None]]:
    """A load that journals `LAG_RATE_PER_S` events per second from the loop, in bursts."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        due = started
        while True:
            for _ in range(LAG_BURST):
                journal.append(EVENT, t=loop.time() - started, wall_ns=time.time_ns())
            due += LAG_BURST / LAG_RATE_PER_S
            await asyncio.sleep(max(0.0, due - loop.time()))

    return run


async def figures(workdir: Path, seconds: float) -> list[Figure]:
    folder = workdir / "data-bench-journal"
    folder.mkdir(parents=True, exist_ok=True)
    rate = journal_throughput(folder, seconds)
    raw_rate = raw_sqlite_throughput(folder / "raw.sqlite", seconds)
    idle = await loop_lags(seconds, None)
    journal = new_journal(folder)
    try:
        loaded = await loop_lags(seconds, journaling(journal))
    finally:
        await asyncio.to_thread(journal.close, ended_cleanly=True)
    ms = 1000.0
    return [
        Figure(
            "journal throughput (append → on disk)",
            rate,
            "events/s",
            raw_rate,
            "raw sqlite3",
        ),
        Figure(
            f"event-loop lag p99, journaling {LAG_RATE_PER_S:,}/s",
            percentile(loaded, 0.99) * ms,
            "ms",
            percentile(idle, 0.99) * ms,
            "idle loop p99",
            Target.value_below(LAG_TARGET_MS, "ms"),
        ),
    ]
