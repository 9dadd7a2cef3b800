"""config.yaml's folders (`data_dir`, `paths:`) hold names a file system takes: a folder name
longer than 255 bytes ended `check` with "OSError: File name too long", and a `data_dir` so
long passed the check and ended `sessions` (and `run`) the same way."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main
from controller.config import RoomConfigError, load_room
from tests.conftest import REPO

LONG = "d" * 300


def example_room(into: Path, old: str, new: str) -> Path:
    for part in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / part, into / part, ignore=shutil.ignore_patterns("*.py"))
    config = (REPO / "config.yaml").read_text()
    assert old in config
    (into / "config.yaml").write_text(config.replace(old, new, 1))
    return into / "config.yaml"


@pytest.mark.parametrize(
    ("old", "key"),
    [
        ("data_dir: data", "data_dir"),
        ("  devices: devices", "devices"),
        ("  scenes: scenes", "scenes"),
        ("  playlists: playlists", "playlists"),
        ("  content: content", "content"),
    ],
)
def test_a_folder_name_longer_than_a_file_system_takes_is_a_problem_on_its_line(
    tmp_path: Path, old: str, key: str
) -> None:
    config = example_room(tmp_path, old, old.split(": ")[0] + f": data/{LONG}")
    line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if LONG in text)
    with pytest.raises(RoomConfigError) as caught:
        load_room(config)
    assert [(issue.file, issue.line) for issue in caught.value.issues] == [("config.yaml", line)]
    assert "longer than 255 bytes" in caught.value.issues[0].message


def test_check_and_sessions_end_with_the_problem_not_a_traceback(tmp_path: Path) -> None:
    config = example_room(tmp_path, "data_dir: data", f"data_dir: {LONG}")
    for command in ("check", "sessions"):
        result = CliRunner().invoke(main, [command, "--config", str(config)])
        assert result.exit_code == 2, (command, result.exception)
        assert "config.yaml:" in result.stderr
