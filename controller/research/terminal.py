"""The replay's terminal: keys (space, →, ↑, ↓, q) read in cbreak mode, and a progress line.

Only used when standard input (keys) or standard error (progress) is a terminal; the
terminal's settings are restored when the block ends, whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator
from typing import TextIO

from controller.untrusted import terminal_text

KEYS = {
    b" ": "pause",
    b"\x1b[C": "step",
    b"\x1bOC": "step",
    b"\x1b[A": "faster",
    b"\x1bOA": "faster",
    b"\x1b[B": "slower",
    b"\x1bOB": "slower",
    b"q": "quit",
}
"""Key sequences and what they ask the replay to do (arrows in both cursor-key modes)."""
STATUS_INTERVAL_S = 0.2


def parse_keys(data: bytes) -> list[str]:
    """The replay actions in bytes read from the terminal; anything else is ignored."""
    actions = []
    index = 0
    while index < len(data):
        for sequence, action in KEYS.items():
            if data.startswith(sequence, index):
                actions.append(action)
                index += len(sequence)
                break
        else:
            index += 1
    return actions


@contextlib.contextmanager
def key_actions(on_action: Callable[[str], None], stdin: TextIO = sys.stdin) -> Iterator[bool]:
    """Call `on_action` for each replay key pressed while the block runs (in asyncio).

    Yields whether keys are read: False when standard input is not a terminal.
    """
    if not stdin.isatty():
        yield False
        return
    descriptor = stdin.fileno()
    saved = termios.tcgetattr(descriptor)
    loop = asyncio.get_running_loop()

    def readable() -> None:
        for action in parse_keys(os.read(descriptor, 64)):
            on_action(action)

    try:
        tty.setcbreak(descriptor)
        loop.add_reader(descriptor, readable)
        yield True
    finally:
        loop.remove_reader(descriptor)
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)


class OutputRefusedError(Exception):
    """The output a `StatusLine` prints to refused a line (a full disk); the reason."""


class StatusLine:
    """A progress line at the bottom of a terminal; lines printed meanwhile go above it."""

    def __init__(
        self,
        out: TextIO | None = None,
        status: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = out or sys.stdout
        self._status = status or sys.stderr
        self._live = self._status.isatty()
        self._clock = clock
        self._text = ""
        self._shown_at = -1e9

    def print(self, line: str) -> None:
        """Print `line` above the progress line, as one line (`terminal_text`).
        OutputRefusedError when the output refuses it (a full disk); a broken pipe (its
        reader stopped) is raised as it is."""
        self._erase()
        try:
            self._out.write(terminal_text(line) + "\n")
            self._out.flush()
        except BrokenPipeError:
            raise
        except OSError as error:
            raise OutputRefusedError(error.strerror or str(error)) from None
        self._draw()

    def show(self, text: str) -> None:
        """Show `text` as the progress line (at most every `STATUS_INTERVAL_S`)."""
        now = self._clock()
        if not self._live or (text == self._text or now - self._shown_at < STATUS_INTERVAL_S):
            return
        self._text = text
        self._shown_at = now
        self._erase()
        self._draw()

    def close(self) -> None:
        self._erase()
        self._text = ""

    def _erase(self) -> None:
        if self._live and self._text:
            self._status.write("\r\x1b[K")
            self._status.flush()

    def _draw(self) -> None:
        if self._live and self._text:
            self._status.write(terminal_text(self._text[:200]))
            self._status.flush()
