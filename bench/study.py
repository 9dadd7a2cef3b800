"""A study of 1,000 recorded sessions: listing, the summary table and one BIDS dataset.

1,000 short journals (ten minutes each: phases, vitals every two seconds, light reports,
device commands, operator actions, a BLS set) are written through the Journal API. Then
the `sessions` listing is timed on all of them (the quickest of three runs), in process
and as a fresh `sessionroom sessions` process (its startup, imports included), and the
summary table (`sessions --format csv`) and the whole-study BIDS export are timed on the
first 10, 100 and 1,000 sessions: the time per session should stay flat as the count grows.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.figures import Figure, Target
from bench.research import quickest
from controller.journal import Event, Journal, list_sessions
from controller.journal.export import analysed, export_study
from controller.research.summary import summary_row, write_summary

START_NS = 1_795_280_000 * 10**9
COUNTS = (10, 100, 1000)
"""Study sizes timed, up to the number of sessions written (1,000; 100 with --quick)."""
MINUTES = 10
FLAT = 1.5
"""Time per session at 1,000 sessions at most this many times that at 10."""


def short_session(n: int) -> list[tuple[float, Event]]:
    """One ten-minute session, about 500 events."""
    timeline: list[tuple[float, Event]] = []
    phases = ("centering", "peak", "return", "integration")
    for index, phase in enumerate(phases):
        start = index * MINUTES * 60 / len(phases)
        timeline.append((start, Event("phase", {"to": phase, "planned_s": 150.0}, phase=phase)))
    for second in range(0, MINUTES * 60, 2):
        hr = 60 + (second + n) % 30
        timeline.append((second + 0.5, Event("vitals", {"hr": hr, "spo2": 97}, device="oximeter")))
        wire = json.dumps({"state": "ON", "brightness": second % 254})
        timeline.append(
            (second + 0.7, Event("command", {"payload": wire}, device="ceiling", topic="z/c/set"))
        )
    timeline.append((100.0, Event("operator", {"action": "lights", "level": 0.4})))
    timeline.append((200.0, Event("command", {"bls": "start", "speed_hz": 1.0}, device="tap")))
    timeline.append((224.0, Event("command", {"bls": "set complete"}, device="tap")))
    timeline.sort(key=lambda item: item[0])
    return timeline


def write_study(data_dir: Path, sessions: int) -> None:
    for n in range(sessions):
        wall_ns = START_NS + n * 3600 * 10**9
        journal = Journal.create(
            data_dir,
            room="room-a",
            plan="standard",
            participant=f"P-{n % 200:03d}",
            time_scale=1.0,
            wall_ns=wall_ns,
            on_alert=lambda problem: None,
        )
        phase = "centering"
        for t, event in short_session(n):
            if event.kind == "phase":
                phase = str(event.phase)
            stamped = Event(event.kind, event.payload, event.device, event.topic, phase)
            journal.append(stamped, t=t, wall_ns=wall_ns + int(t * 1e9))
        journal.close(ended_cleanly=True, wall_ns=wall_ns + MINUTES * 60 * 10**9)


def figures(workdir: Path, sessions: int) -> list[Figure]:
    """Write `sessions` sessions in `workdir`, then time the listing, summary and export."""
    data_dir = workdir / "study"
    write_study(data_dir, sessions)
    counts = [count for count in COUNTS if count <= sessions]
    found = list(reversed(list_sessions(data_dir)))
    listing_s = quickest(lambda: list_sessions(data_dir))
    process_s = quickest(
        lambda: subprocess.run(
            [sys.executable, "-m", "controller.cli", "sessions", "--data-dir", str(data_dir)],
            check=True,
            capture_output=True,
        )
    )
    measured = [
        Figure(
            f"sessions listing of {sessions:,} journals (in process)",
            listing_s * 1000,
            "ms",
            target=Target.value_below(1000, "ms"),
        ),
        Figure(
            f"`sessionroom sessions` on {sessions:,} journals (a new process)",
            process_s * 1000,
            "ms",
            target=Target.value_below(1000, "ms"),
        ),
    ]
    paths = [info.path for info in found]
    works: list[tuple[str, Callable[[int], object]]] = [
        ("sessions --format csv", lambda count: _summary(paths[:count])),
        ("export --all --format bids", lambda count: _study(paths[:count], workdir, count)),
    ]
    for name, work in works:
        per_session = {}
        for count in counts:
            started = time.perf_counter()
            work(count)
            per_session[count] = (time.perf_counter() - started) / count * 1000
        for count in counts[1:]:
            measured.append(
                Figure(
                    f"{name}, {count:,} sessions: time per session",
                    per_session[count],
                    "ms",
                    per_session[counts[0]],
                    f"per session of {counts[0]}",
                    Target.ratio_at_most(FLAT),
                )
            )
    return measured


def _summary(paths: list[Path]) -> None:
    write_summary([summary_row(analysed(path, key=None)) for path in paths], io.StringIO())


def _study(paths: list[Path], workdir: Path, count: int) -> None:
    export_study(paths, workdir / f"bids-{count}", key=b"the key of this benchmark study")
