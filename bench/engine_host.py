"""Runs a `sessionroom` command in this process and answers SIGUSR1 with its memory figures.

    python -m bench.engine_host STATS.json [--trace-memory] [--profile OUT.prof]
                                [--stages TRACE.jsonl] [--refuse-writes-while FLAG] run --config …

On SIGUSR1 the process writes its resident set (now and peak, from /proc) to STATS.json as
JSON. With `--trace-memory`, tracemalloc runs from the moment the engine's modules are
imported, and the report adds the Python heap it counts (now and at peak), the tracer's own
overhead, and the allocation sites that grew most since the previous report (or the
biggest ones, the first time). With `--profile`, the whole run is profiled with cProfile
and the statistics are written to OUT.prof at exit. With `--stages`, each command's way
through the engine is timed stage by stage (`bench.stages`) into TRACE.jsonl at exit. With
`--refuse-writes-while FLAG`, every session journal's writes fail while the file FLAG exists
(a disk that fills and is freed): its statements are interrupted, as SQLite's progress
handler allows.
"""

from __future__ import annotations

import cProfile
import json
import signal
import sqlite3
import sys
import time
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any

from bench import stages
from controller.cli import main as sessionroom
from controller.journal import Journal
from controller.journal.store import connect_for_writing

TOP_SITES = 5
FLAG_CHECK_S = 0.05
"""How often a refusing journal connection looks whether the disk is still "full"."""


def resident_kib() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB."""
    figures: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0])
    return figures


class MemoryReport:
    """Writes the memory figures to a file; remembers the last heap snapshot to diff against."""

    def __init__(self, stats_file: Path) -> None:
        self.stats_file = stats_file
        self.previous: tracemalloc.Snapshot | None = None

    def figures(self) -> dict[str, Any]:
        resident = resident_kib()
        figures: dict[str, Any] = {
            "rss": resident["VmRSS"] * 1024,
            "peak_rss": resident["VmHWM"] * 1024,
            "traced": None,
            "traced_peak": None,
            "tracing_overhead": None,
            "top_sites": [],
        }
        if tracemalloc.is_tracing():
            traced, traced_peak = tracemalloc.get_traced_memory()
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            sites = (
                snapshot.statistics("lineno")
                if self.previous is None
                else snapshot.compare_to(self.previous, "lineno")
            )
            self.previous = snapshot
            figures.update(
                traced=traced,
                traced_peak=traced_peak,
                tracing_overhead=tracemalloc.get_tracemalloc_memory(),
                top_sites=[str(site) for site in sites[:TOP_SITES]],
            )
        return figures

    def write(self, _signal: int, _frame: FrameType | None) -> None:
        partial = self.stats_file.with_suffix(".partial")
        partial.write_text(json.dumps(self.figures()))
        partial.replace(self.stats_file)


def refuse_writes_while(flag: Path) -> None:
    """Make every journal opened from now on fail its writes while `flag` exists."""
    checked = {"at": 0.0, "refusing": False}

    def refusing() -> int:
        now = time.monotonic()
        if now - checked["at"] >= FLAG_CHECK_S:
            checked.update(at=now, refusing=flag.exists())
        return int(checked["refusing"])

    def connect(path: Path) -> sqlite3.Connection:
        connection = connect_for_writing(path)
        connection.set_progress_handler(refusing, 1)
        return connection

    # The journal's factories take the writer's connection as a keyword default.
    for factory in (Journal.create, Journal.reopen):
        factory.__func__.__kwdefaults__["connect"] = connect  # type: ignore[union-attr]


def main(arguments: list[str]) -> None:
    report = MemoryReport(Path(arguments.pop(0)))
    profile_file: Path | None = None
    while arguments and arguments[0].startswith("--"):
        option = arguments.pop(0)
        if option == "--trace-memory":
            tracemalloc.start()
        elif option == "--profile":
            profile_file = Path(arguments.pop(0))
        elif option == "--stages":
            stages.install(Path(arguments.pop(0)))
        elif option == "--refuse-writes-while":
            refuse_writes_while(Path(arguments.pop(0)))
        else:
            raise SystemExit(f"unknown option {option}")
    signal.signal(signal.SIGUSR1, report.write)
    if profile_file is None:
        sessionroom.main(arguments, prog_name="sessionroom")
        return
    profiler = cProfile.Profile()
    try:
        profiler.runcall(sessionroom.main, arguments, prog_name="sessionroom")
    finally:
        profiler.dump_stats(profile_file)


if __name__ == "__main__":
    main(sys.argv[1:])
