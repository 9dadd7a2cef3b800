"""A research command whose standard output is on a full disk (here /dev/full, which refuses
every write as a full disk does) ends with the reason, exit status 2, as `export` always
did: `sessions`, its CSV summary, `report` and `replay` ended with an OSError traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from controller.journal import Event
from tests.conftest import REPO
from tests.research.support import write_journal
from tests.support.room import child_env


def on_a_full_disk(*args: str | Path) -> subprocess.CompletedProcess[str]:
    with open("/dev/full", "w") as full:
        return subprocess.run(
            [sys.executable, "-m", "controller.cli", *map(str, args)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=REPO,
            env=child_env(),
            check=False,
        )


@pytest.mark.parametrize(
    "command",
    [
        ("sessions",),
        ("sessions", "--format", "csv"),
        ("report", "JOURNAL"),
        ("export", "JOURNAL"),
        ("replay", "JOURNAL", "--speed", "0"),
    ],
    ids=" ".join,
)
def test_a_full_disk_on_standard_output_is_said_not_a_traceback(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    data = tmp_path / "data"
    journal = write_journal(data, [(0.0, Event("phase", {"to": "centering"}))])
    args = [journal if part == "JOURNAL" else part for part in command]

    result = on_a_full_disk(*args, "--data-dir", data)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "Error: cannot write to standard output: No space left on device"
    )
