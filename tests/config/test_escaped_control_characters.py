"""A control character spelled by a double-quoted escape (`"\\0"`, `"\\e"`) is refused with
its file and line, as the same character written plainly is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main
from controller.config import RoomConfigError, load_room
from controller.config.issues import ConfigIssue
from controller.config.yamlsource import parse_yaml_text
from tests.conftest import REPO


def issue_of(text: str) -> ConfigIssue | None:
    found = parse_yaml_text(text, Path("x.yaml"), "x.yaml")
    return found if isinstance(found, ConfigIssue) else None


@pytest.mark.parametrize(
    ("escape", "code"),
    [("\\0", 0), ("\\e", 0x1B), ("\\a", 7), ("\\x7f", 0x7F), ("\\x9b", 0x9B), ("\\u0001", 1)],
)
def test_an_escaped_control_character_in_a_value_is_refused_on_its_line(
    escape: str, code: int
) -> None:
    issue = issue_of(f'a: 1\nb: "x{escape}y"\n')
    assert issue is not None
    assert issue.line == 2
    assert f"control character U+{code:04X}" in issue.message


def test_an_escaped_control_character_in_a_key_is_refused_on_its_line() -> None:
    issue = issue_of('a: 1\n"b\\0": 2\n')
    assert issue is not None
    assert issue.line == 2


def test_tabs_and_line_breaks_a_file_may_hold_plainly_stay_allowed() -> None:
    assert issue_of('a: "x\\ty"\nb: "1\\n2\\r\\n3"\nc: |\n  one\n  two\n') is None


def room_with(tmp_path: Path, old: str, new: str) -> Path:
    for part in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / part, tmp_path / part, ignore=shutil.ignore_patterns("*.py"))
    config = (REPO / "config.yaml").read_text()
    assert old in config
    (tmp_path / "config.yaml").write_text(config.replace(old, new, 1))
    return tmp_path / "config.yaml"


def test_a_nul_in_the_data_folder_is_a_problem_of_config_yaml_not_a_valid_room(
    tmp_path: Path,
) -> None:
    """`check` said the room was valid; `run` then ended with "ValueError: embedded null byte"
    as it made the data folder."""
    config = room_with(tmp_path, "data_dir: data", 'data_dir: "da\\0ta"')
    lines = config.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.startswith("data_dir:"))
    with pytest.raises(RoomConfigError) as caught:
        load_room(config)
    assert [(issue.file, issue.line) for issue in caught.value.issues] == [("config.yaml", line)]


def test_check_never_writes_an_escape_sequence_from_the_room_s_name_to_the_terminal(
    tmp_path: Path,
) -> None:
    config = room_with(tmp_path, "name: Session room A (demo)", 'name: "A\\e]0;owned\\aB\\e[2J"')
    result = CliRunner().invoke(main, ["check", "--config", str(config)])
    assert result.exit_code == 2
    assert "\x1b" not in result.stdout + result.stderr
    assert "config.yaml:3: " in result.stderr
