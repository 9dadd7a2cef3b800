"""`sessionroom check`: the shipped room passes; each room in broken_rooms/ fails with file:line.

Each folder in broken_rooms/ holds only the files that differ from the shipped example room,
and an `expected.txt` with the messages `check` must print for it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main
from controller.config.yamlsource import NOT_REGULAR
from tests.conftest import REPO

BROKEN_ROOMS = Path(__file__).parent / "broken_rooms"
ROOM_PARTS = ("config.yaml", "devices", "scenes", "playlists")


def build_room(case: Path, into: Path) -> Path:
    """Copy the shipped room to `into`, then lay the broken case's files over it."""
    for part in ROOM_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, into / part, ignore=shutil.ignore_patterns("*.py"))
        else:
            shutil.copy(source, into / part)
    for path in case.rglob("*"):
        if path.is_file() and path.name != "expected.txt":
            target = into / path.relative_to(case)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return into / "config.yaml"


def run_check(config: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", "--config", str(config)])
    return result.exit_code, result.stdout, result.stderr


def test_the_shipped_room_is_valid_and_summarised() -> None:
    code, out, err = run_check(REPO / "config.yaml")
    assert (code, err) == (0, "")
    assert "Room room-a" in out
    assert "light   ceiling (zigbee2mqtt), floor-lamp (tasmota), strip (wled)" in out
    assert "standard      1h30m  Standard session (90 minutes)" in out
    assert "  headset      http://127.0.0.1:8781/" in out
    assert "centering 15m → peak 40m → return 20m → integration 15m" in out
    assert "readings due in peak: bp-cuff every 15m; return: bp-cuff every 15m" in out
    assert "HR 45 to under 100, SpO2 at least 92 %, BP under 160/90, under 10m old" in out
    assert "recovery checklist: oriented, walks unaided, escort present" in out
    assert out.rstrip().endswith("The room is valid.")


@pytest.mark.parametrize("case", sorted(p.name for p in BROKEN_ROOMS.iterdir()), ids=str)
def test_a_broken_room_is_rejected_with_file_and_line(case: str, tmp_path: Path) -> None:
    config = build_room(BROKEN_ROOMS / case, tmp_path)
    code, out, err = run_check(config)
    assert code == 2
    assert out == ""
    expected = (BROKEN_ROOMS / case / "expected.txt").read_text().splitlines()
    printed = err.splitlines()
    assert printed[:-1] == expected
    assert printed[-1] == f"{len(expected)} problem{'s' if len(expected) != 1 else ''} found."


def test_a_missing_config_file_is_one_clear_line(tmp_path: Path) -> None:
    code, _, err = run_check(tmp_path / "config.yaml")
    assert code == 2
    assert err.splitlines()[0].endswith(
        "config.yaml: cannot read the file: No such file or directory"
    )


@pytest.mark.parametrize(
    ("relative", "kind"),
    [
        ("config.yaml", "fifo"),
        ("devices/more.yaml", "zero"),
        ("scenes/more.yaml", "fifo"),
        ("playlists/more.m3u", "zero"),
        ("playlists/more.yaml", "fifo"),
    ],
)
def test_a_room_file_that_is_no_regular_file_is_named_not_waited_for_nor_read(
    relative: str, kind: str, tmp_path: Path
) -> None:
    """A FIFO blocked `check` for ever; a link to /dev/zero among the playlists took 8 GB."""
    config = build_room(tmp_path / "no-changes", tmp_path)
    path = tmp_path / relative
    path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    code, out, err = run_check(config)
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == f"{relative}: {NOT_REGULAR}"
