"""The YAML files a console is given besides the room's (`--keys KEYMAP`, `--facility
overview.yaml`) are read by the rules of room files: nesting too deep, a FIFO, a link to
/dev/zero or bytes that are not UTF-8 end the command with a usage error naming the file,
not a traceback, a wait for ever or a read until memory ends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.room import sessionroom

DEEP = "next_phase: " + "[" * 20_000 + "]" * 20_000 + "\n"


def hostile(path: Path, what: str) -> None:
    if what == "nesting":
        path.write_text(DEEP)
    elif what == "fifo":
        os.mkfifo(path)
    elif what == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.write_bytes("broker: {username: Zürich}\n".encode("latin-1"))


CASES = ["nesting", "fifo", "dev-zero", "latin-1"]


@pytest.mark.parametrize("what", CASES)
def test_a_keymap_that_is_no_yaml_a_console_reads_is_a_usage_error(
    tmp_path: Path, what: str
) -> None:
    keys = tmp_path / "keys.yaml"
    hostile(keys, what)
    result = sessionroom("console", "--config", str(REPO / "config.yaml"), "--keys", str(keys))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert str(keys) in result.stderr


@pytest.mark.parametrize("what", CASES)
def test_an_overview_file_that_is_no_yaml_a_console_reads_is_a_usage_error(
    tmp_path: Path, what: str
) -> None:
    overview = tmp_path / "overview.yaml"
    hostile(overview, what)
    result = sessionroom("console", "--facility", str(overview))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert str(overview) in result.stderr
