"""`python -m bench` at a tiny size: every part runs end to end and its figures are printed.

Runs the real thing (Mosquitto, `sessionroom sim`, the engine as processes); only the sizes
are small, so the figures themselves mean nothing here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.requirements import mosquitto_binary

TINY = [
    "--commands", "4",
    "--lights", "6",
    "--scenes", "1",
    "--presses", "2",
    "--journal-seconds", "0.3",
    "--plan", "rehearsal",
    "--rooms", "2",
    "--fuzz-examples", "32",
    "--flood", "500",
    "--starts", "1",
]  # fmt: skip

FIGURES = (
    "cmd→wire latency p50 (n=4)",
    "cmd→wire latency p99 (n=4)",
    "aiomqtt relay floor (two hops) p50 (n=4)",
    "paho relay floor (two hops) p99 (n=4)",
    "cmd→wire light nudge p99 (n=4)",
    "cmd→wire VR toggle p50 (n=4)",
    "cmd→wire scene change p99 (n=4)",
    "cmd→wire VR toggle p50 (n=4) vs paho relay",
    "`sessionroom run` start → retained online (median of 1)",
    "console start → phase on screen, tmux (median of 1)",
    "scene fan-out to 6 lights, median of 1",
    "emergency→last device msg, example room (6 msgs) p99 (n=2)",
    "emergency→last device msg, 6 lights (6 msgs) p99 (n=2)",
    "journal throughput (append → on disk)",
    "event-loop lag p99, journaling 1,000/s",
    "engine RSS after 'rehearsal' at ×60",
    "Python heap since start-up (tracemalloc) after 'rehearsal' at ×60",
    "cmd→wire p50 among 2 rooms (n=4)",
    "cmd→wire p99 among 2 rooms (n=4)",
    "overview shows 2 rooms, all running",
)


def run_bench(*arguments: str, timeout: float) -> tuple[str, dict[str, str]]:
    """Run `python -m bench` to the end; its output, and the table's rows by figure name."""
    mosquitto_binary()
    result = subprocess.run(
        [sys.executable, "-m", "bench", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    return result.stdout, rows


def assert_ratio(figure: str, output: str, rows: dict[str, str]) -> None:
    assert figure in rows, f"{figure!r} missing from:\n{output}"
    assert re.search(r" \d+\.\d\d× ", rows[figure]), f"no ratio to a baseline: {rows[figure]}"


@pytest.mark.mosquitto
@pytest.mark.slow
def test_the_benchmark_measures_every_part_and_prints_the_table() -> None:
    output, rows = run_bench(*TINY, timeout=300)
    for figure in FIGURES:
        assert_ratio(figure, output, rows)
    assert re.search(r"(PASS|MISS)\s*$", rows["cmd→wire latency p99 (n=4)"])
    for kind in ("light nudge", "VR toggle", "scene change"):
        row = rows[f"cmd→wire {kind} p99 (n=4)"]
        assert re.search(r"\(aiomqtt relay p99\) .*ratio ≤ 1\.5×\s+(PASS|MISS)\s*$", row), row
    assert re.search(r"vitals [1-9]", output), "the rehearsal journaled no vitals"


EMERGENCY_SENDS = (
    'bls/tappers/set {"running":false}',
    'bls/lightbar/set {"running":false}',
    'vr/headset/set {"action":"stop"}',
    "zigbee2mqtt/ceiling_light/set",
    "cmnd/floorlamp/Backlog",
    "wled/wled-strip/api",
)
"""What an emergency in the example room sends (config.yaml): BLS and VR stop, safe scene."""


@pytest.mark.mosquitto
@pytest.mark.slow
def test_the_emergency_part_times_first_presses_in_both_rooms() -> None:
    output, rows = run_bench(
        "--only", "emergency", "--presses", "2", "--lights", "6", "--flood", "500", timeout=180
    )
    for case in ("example room (6 msgs)", "6 lights (6 msgs)"):
        for name in ("p50", "p99"):
            figure = f"emergency→last device msg, {case} {name} (n=2)"
            assert_ratio(figure, output, rows)
            assert f"(raw hop {name})" in rows[figure], rows[figure]
    for name in ("p50", "p99"):
        flooded = rows[f"emergency, example room, under 500 device msgs/s {name} (n=2)"]
        assert f"(idle {name})" in flooded and re.search(r"ratio ≤ 2×\s+(PASS|MISS)", flooded)
    target_row = rows["emergency→last device msg, 6 lights (6 msgs) p99 (n=2)"]
    assert re.search(r"≤ 50 ms\s+(PASS|MISS)\s*$", target_row), target_row
    lines = output.splitlines()
    for message in EMERGENCY_SENDS:
        assert any(line.startswith(f"  {message}") for line in lines), (
            f"the recorded emergency lacks {message!r}:\n{output}"
        )
    first_presses = "presses that started an emergency: 3; made one immediate: 0;"
    assert " ".join(output.split()).count(first_presses) == 2, output


@pytest.mark.mosquitto
@pytest.mark.slow
def test_the_latency_part_times_each_command_stage_by_stage(tmp_path: Path) -> None:
    output, _rows = run_bench(
        "--only", "latency", "--commands", "4", "--stages", "--keep", str(tmp_path), timeout=180
    )
    assert "Stages of the commands in engine-bench-latency-stages.jsonl:" in output, output
    for kind in ("lights (n=4)", "vr pause (n=2)", "vr resume (n=2)"):
        summary = output.split(kind, 1)[1].split("\n\n", 1)[0]
        stages = [line.split()[0] for line in summary.splitlines()[1:] if line.startswith("  ")]
        assert stages[:3] == ["woke", "read", "dispatch"], summary
        assert "wire" in stages, summary
    onlooker_log = (tmp_path / "onlooker-bench-latency.log").read_text()
    assert onlooker_log.startswith("READY"), onlooker_log  # a console read the state meanwhile
