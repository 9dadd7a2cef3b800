"""A BIDS export's physiology table is one row per second and one column per sensor and
measure: a journal of a hundred kilobytes (2,000 sensors, one reading each, and an event a
week on) made a table of over a billion cells, and the export died of MemoryError. Such a
table is refused as the export of a damaged journal, with nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from controller.journal import Event
from tests.conftest import REPO
from tests.research.support import write_journal

EXPORT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))
from controller.cli import main
main(sys.argv[1:])
"""


def sessionroom_in_2_gib(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", EXPORT, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_physio_table_past_its_bound_is_refused_with_nothing_written(tmp_path: Path) -> None:
    timeline = [(float(i), Event("vitals", {"hr": 70}, device=f"sensor-{i}")) for i in range(2000)]
    timeline.append((600_000.0, Event("phase", {"to": "centering"})))
    journal = write_journal(tmp_path / "data", timeline)
    assert journal.stat().st_size < 200_000

    result = sessionroom_in_2_gib("export", journal, "--format", "bids", "-o", tmp_path / "bids")

    assert result.returncode == 2, result.stderr[-2000:]
    assert "MemoryError" not in result.stderr
    assert "physiology table" in result.stderr
    assert not (tmp_path / "bids").exists()


def test_a_day_of_vitals_from_a_room_s_sensors_is_exported(tmp_path: Path) -> None:
    measures = {"hr": 70, "spo2": 97, "sys": 120, "dia": 80, "rr": 12}
    timeline = [
        (float(t), Event("vitals", measures, device=device))
        for t in range(0, 86_400, 600)
        for device in ("oximeter", "bp-cuff", "band")
    ]
    journal = write_journal(tmp_path / "data", timeline)

    result = sessionroom_in_2_gib("export", journal, "--format", "bids", "-o", tmp_path / "bids")

    assert result.returncode == 0, result.stderr[-2000:]
    assert "Wrote 85801 seconds of vitals" in result.stderr
