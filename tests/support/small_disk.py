"""A small disk that fills up for real: a tmpfs mounted in a mount namespace of the test's own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.room import child_env

FILL_THE_DISK = """
def fill_the_disk(folder):
    \"\"\"Write a file into `folder` until its disk refuses (ENOSPC); its path.\"\"\"
    import os
    filler = os.path.join(folder, "filler")
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(descriptor, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(descriptor)
    return filler
"""
"""Source of `fill_the_disk(folder)`, for a script run on the small disk."""


def namespace_with_a_small_disk(disk: Path) -> list[str]:
    """The command prefix running a program with a 4 MiB tmpfs on `disk`; skips the test where
    no mount namespace can be made."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare here")
    disk.mkdir()
    mount = 'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"'
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", mount, str(disk), "true"], capture_output=True, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip(f"no tmpfs in a mount namespace here: {probe.stderr.decode()[:200]}")
    return ["unshare", "-rm", "sh", "-c", mount, str(disk)]


def run_on_a_small_disk(tmp_path: Path, script: str, *arguments: str, timeout_s: float) -> str:
    """Run the Python `script` with a 4 MiB tmpfs at `tmp_path / "disk"` (its first argument,
    `arguments` after it), from the repository, as a child of the tests: what it printed.
    Skips the test where no mount namespace can be made; fails on the script's non-zero
    exit."""
    disk = tmp_path / "disk"
    prefix = namespace_with_a_small_disk(disk)
    ran = subprocess.run(
        [*prefix, sys.executable, "-c", script, str(disk), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO,
        env=child_env(),
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout
