"""The console in a browser (a tablet in the room): textual-serve runs one console per page."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

from textual_serve.server import Server

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def console_command(arguments: Sequence[str]) -> str:
    """The shell command that runs one terminal console with these arguments."""
    return shlex.join([sys.executable, "-m", "controller.console", *arguments])


def serve(arguments: Sequence[str], *, host: str, port: int, title: str) -> None:
    """Serve the console on http://host:port/ until interrupted."""
    Server(console_command(arguments), host=host, port=port, title=title).serve()
