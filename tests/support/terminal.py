"""A real terminal for end-to-end runs: a tmux server of its own, driven by keys, read as text."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.requirements import missing


class Terminal:
    """A tmux server of its own with one window running a command."""

    def __init__(self, name: str) -> None:
        binary = shutil.which("tmux")
        if binary is None:
            missing("tmux", "apt-get install tmux")
        self.base = [binary, "-L", name]

    def start(self, command: list[str], width: int, height: int, cwd: Path | None = None) -> None:
        size = ["-x", str(width), "-y", str(height)]
        folder = ["-c", str(cwd)] if cwd is not None else []
        subprocess.run(
            [*self.base, "new-session", "-d", "-s", "console", *size, *folder, *command],
            check=True,
        )

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", "console", *keys], check=True)

    def screen(self) -> str:
        shown = subprocess.run(
            [*self.base, "capture-pane", "-p", "-t", "console"], capture_output=True, text=True
        )
        return shown.stdout

    def running(self) -> bool:
        probe = [*self.base, "has-session", "-t", "console"]
        return subprocess.run(probe, capture_output=True).returncode == 0

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)
