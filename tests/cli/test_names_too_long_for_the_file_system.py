"""A folder or journal named on the command line with a name longer than a file system takes
(255 bytes) is an error that says so, not "OSError: File name too long" with a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main

TOO_LONG = "x" * 300


@pytest.mark.parametrize("command", ["sessions", "export", "report"])
def test_a_data_folder_named_too_long_is_refused_as_an_option_value(
    tmp_path: Path, command: str
) -> None:
    arguments = [command] if command == "sessions" else [command, "s-1"]
    result = CliRunner().invoke(main, [*arguments, "--data-dir", str(tmp_path / TOO_LONG)])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--data-dir': a folder name of 300 bytes is longer than 255" in (
        result.output
    )


@pytest.mark.parametrize("command", ["export", "report", "replay"])
def test_a_journal_named_too_long_is_no_journal_file(tmp_path: Path, command: str) -> None:
    journal = tmp_path / f"{TOO_LONG}.sqlite"
    result = CliRunner().invoke(main, [command, str(journal)])
    assert result.exit_code == 2, result.output  # a traceback ends it with 1
    assert f"no journal file {journal}" in result.output
