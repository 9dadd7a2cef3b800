"""The fuzz part at a small size: every input boundary of the example room takes hostile
bytes without a crash (docs/robustness.md); the bench part runs 10^5 examples."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import strategies as st

from bench import fuzz
from tests.conftest import REPO


def test_every_boundary_takes_hostile_bytes_without_a_crash() -> None:
    notes: list[str] = []
    outcomes = fuzz.measure(16 * 60, notes.append)
    names = {outcome.name for outcome in outcomes}
    assert {"command topic", "device headset", "decode strip", "console state/status/reply"} <= (
        names
    )
    assert [outcome.crash for outcome in outcomes] == [None] * len(outcomes), notes
    assert all(outcome.examples >= 30 for outcome in outcomes), notes


def test_a_boundary_that_raises_is_reported_as_a_crash() -> None:
    def fragile(payload: bytes) -> None:
        json.loads(payload)  # raises on most bytes: no refusal of its own

    outcome = fuzz.run(fuzz.Boundary("fragile", fragile, st.binary(min_size=1)), 50)
    assert outcome.crash is not None and outcome.crash.startswith(
        ("JSONDecodeError", "UnicodeDecodeError")
    )


@pytest.mark.mosquitto
def test_the_bench_part_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "fuzz", "--fuzz-examples", "160"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    assert "fuzz: examples over 16 boundaries" in rows, result.stdout
    assert rows["fuzz: crashes"].split()[-1] == "PASS", rows["fuzz: crashes"]
