"""The research tools on a 3-hour session of about 100 000 events, against a raw SQLite read.

A synthetic journal is written through the Journal API (vitals every second, light
reports, commands, phases, operator actions, notes, BLS sets); then `sessions` listing,
the JSONL, CSV and BIDS exports, the report (text and PNG) and a replay at speed 0 to a
null target are timed (the quickest of three runs), each beside the raw SQLite read of
the same rows in the same run (likewise).
"""

from __future__ import annotations

import contextlib
import io
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.figures import Figure, Target
from controller.engine.clock import ScaledClock
from controller.journal import Event, Journal, list_sessions, read_events
from controller.journal.export import export_bids, export_session
from controller.journal.writer import SHED_FROM
from controller.research.analysis import analyse
from controller.research.mcap_export import export_mcap
from controller.research.plot import timeline_png
from controller.research.replay import Replay, ReplaySource, Selection
from controller.research.report import render_text, report_sections
from controller.research.sessions import session_meta
from controller.research.targets import NullTarget

START_NS = 1_795_280_000 * 10**9
HOURS = 3
RUNS = 3
EXPORT_RATIO = 2.0
"""A streamed export takes at most this many times the raw read of the same rows."""
PHASES = (("centering", 0.2), ("peak", 0.35), ("return", 0.25), ("integration", 0.2))


def synthetic_events(rng: random.Random) -> Iterator[tuple[float, Event]]:
    """About 100 000 events over three hours, in time order."""
    length = HOURS * 3600.0
    starts, at = [], 0.0
    for name, share in PHASES:
        starts.append((at, name))
        at += share * length
    happenings: list[tuple[float, Event]] = []
    for start, name in starts:
        happenings.append(
            (start, Event("phase", {"to": name, "planned_s": 1800.0, "reason": "auto"}))
        )
        happenings.append((start + 0.01, Event("scene", {"name": name, "fade_s": 30})))
    for second in range(int(length)):
        happenings.append(
            (
                second + 0.3,
                Event("vitals", {"hr": 70 + rng.gauss(0, 3), "spo2": 97}, device="oximeter"),
            )
        )
        for light in ("ceiling", "floor-lamp", "strip"):
            for _ in range(2):
                level = rng.random()
                happenings.append(
                    (
                        second + rng.random(),
                        Event("state", {"on": True, "level": level}, device=light),
                    )
                )
        for _ in range(2):
            happenings.append(
                (
                    second + rng.random(),
                    Event(
                        "command",
                        {"payload": '{"brightness":80}'},
                        device="ceiling",
                        topic="zigbee2mqtt/ceiling_light/set",
                    ),
                )
            )
    for _ in range(200):
        happenings.append(
            (rng.uniform(0, length), Event("operator", {"action": "lights", "level": 0.4}))
        )
    for n in range(20):
        happenings.append((rng.uniform(0, length), Event("note", f"note {n}")))
    for _ in range(30):
        t = rng.uniform(0, length)
        happenings.append(
            (t, Event("command", {"bls": "start", "speed_hz": 1.0, "passes": 24}, device="tappers"))
        )
        happenings.append((t + 24, Event("command", {"bls": "set complete"}, device="tappers")))
    happenings.sort(key=lambda item: item[0])
    phase = "centering"
    for t, event in happenings:
        if event.kind == "phase":
            phase = str(event.payload["to"])  # type: ignore[index]
        yield (
            t,
            Event(event.kind, event.payload, device=event.device, topic=event.topic, phase=phase),
        )
    yield length, Event("session", {"event": "end"}, phase=phase)


def write_journal(data_dir: Path) -> Path:
    journal = Journal.create(
        data_dir,
        room="room-a",
        plan="standard",
        participant="P-100",
        time_scale=1.0,
        wall_ns=START_NS,
        on_alert=lambda problem: None,
    )
    for n, (t, event) in enumerate(synthetic_events(random.Random(7)), start=1):
        journal.append(event, t=t, wall_ns=START_NS + int(t * 1e9))
        # written far faster than a room writes: wait for the disk before the writer sheds
        if n % (SHED_FROM // 2) == 0 and not journal.flush():
            raise RuntimeError("the journal did not reach the disk within 10 s")
    journal.close(ended_cleanly=True)
    shed = journal.take_shed()
    if shed:
        raise RuntimeError(f"the journal shed events: {shed}")
    return journal.path


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def quickest(action: Callable[[], Any]) -> float:
    """The quickest of `RUNS` runs of `action`, in seconds (the machine is shared)."""
    return min(timed(action)[0] for _ in range(RUNS))


def raw_read(path: Path) -> int:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    with contextlib.closing(connection):
        rows = connection.execute(
            "SELECT seq, wall_ns, t, phase, kind, device, topic, payload FROM events ORDER BY seq"
        ).fetchall()
    return len(rows)


async def replay_at_full_speed(path: Path) -> int:
    player = Replay(
        ReplaySource.journal(path, Selection()),
        NullTarget(),
        session_meta(path),
        speed=0,
        clock=ScaledClock(1.0),
    )
    return (await player.run()).emitted


async def figures(workdir: Path) -> list[Figure]:
    """Write the 3-hour journal in `workdir`, then time each research tool on it."""
    path = write_journal(workdir / "research")
    count = raw_read(path)
    raw_s = quickest(lambda: raw_read(path))
    baseline = f"raw SQLite read of the {count:,} rows"

    def report() -> None:
        analysis = analyse(session_meta(path), read_events(path))
        render_text(report_sections(analysis))
        timeline_png(analysis)

    steps: list[tuple[str, Callable[[], Any], Target | None]] = [
        ("sessions listing", lambda: list_sessions(workdir / "research"), None),
        (
            "export jsonl",
            lambda: export_session(path, io.StringIO(), format_name="jsonl"),
            Target.ratio_at_most(EXPORT_RATIO),
        ),
        (
            "export csv",
            lambda: export_session(path, io.StringIO(), format_name="csv"),
            Target.ratio_at_most(EXPORT_RATIO),
        ),
        (
            "export mcap",
            lambda: export_mcap(path, io.BytesIO()),
            Target.ratio_at_most(EXPORT_RATIO),
        ),
        ("export bids", lambda: export_bids(path, workdir / "bids"), None),
        ("report (text and timeline PNG)", report, None),
    ]
    measured = [
        Figure(
            f"3-hour session: {name}", quickest(step) * 1000, "ms", raw_s * 1000, baseline, target
        )
        for name, step, target in steps
    ]
    started = time.perf_counter()
    emitted = await replay_at_full_speed(path)
    replay_s = time.perf_counter() - started
    measured.append(
        Figure(
            "3-hour session: replay --speed 0 to a null target",
            emitted / replay_s,
            "events/s",
            count / raw_s,
            "raw SQLite read",
        )
    )
    return measured
