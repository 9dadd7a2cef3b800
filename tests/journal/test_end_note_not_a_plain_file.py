"""The note a journal's writer leaves beside it when the session's end could not be written
(`<journal>.ending`) is read only when it is a plain file, and never past a few KiB: a link
to /dev/zero in its place was read as the engine started until memory ran out, and a FIFO
kept the look for the open session waiting for ever. Either is no note: the session is
found open, to be resumed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.journal.support import START_NS

LOOK = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from controller.journal.sessions import find_open_session
found = find_open_session(Path(sys.argv[1]), "room-a")
print(found.session_id if found else None, found.ending if found else None)
"""


CRASHED = f"""
import os, sys
from pathlib import Path
from controller.journal import Event, Journal
journal = Journal.create(
    Path(sys.argv[1]), room="room-a", plan="standard", participant="P-017", time_scale=1.0,
    wall_ns={START_NS}, on_alert=lambda problem: None,
)
journal.append(Event("phase", {{"to": "centering"}}), t=0.0, wall_ns={START_NS})
assert journal.flush(timeout_s=10.0)
print(journal.path)
os._exit(0)  # the engine stopped: the session is never ended
"""


def left_open(data_dir: Path) -> Path:
    """A journal whose session was never ended, its writer's process gone."""
    created = subprocess.run(
        [sys.executable, "-c", CRASHED, str(data_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Path(created.stdout.strip())


@pytest.mark.parametrize("note", ["a link to /dev/zero", "a FIFO", "a folder"])
def test_an_end_note_that_is_no_plain_file_is_no_note(tmp_path: Path, note: str) -> None:
    data = tmp_path / "data"
    journal = left_open(data)
    marker = journal.with_suffix(".ending")
    if note == "a FIFO":
        os.mkfifo(marker)
    elif note == "a folder":
        marker.mkdir()
    else:
        marker.symlink_to("/dev/zero")

    looked = subprocess.run(
        [sys.executable, "-c", LOOK, str(data)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert looked.returncode == 0, looked.stderr
    assert looked.stdout.split() == [journal.stem, "None"]
