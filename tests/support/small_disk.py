"""A small disk that fills up for real: a tmpfs mounted in a mount namespace of the test's own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

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
