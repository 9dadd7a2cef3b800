"""`sessionroom` run as its own process, as a researcher or technician runs it from a shell
(its exit status, standard output and error as text)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def sessionroom(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m controller.cli` with `args` from the repository; never raises on exit."""
    return subprocess.run(
        [sys.executable, "-m", "controller.cli", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
