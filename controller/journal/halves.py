"""A long timeline export on two cores: the second half of the events in a forked process.

A JSONL or CSV export spends about as long in SQLite (which builds each row's wall time and
payload text) as in Python (which joins each row into its line), one core at a time. With
another core free and a session long enough, the export forks (`SecondHalf`): the child
writes the second half of the events into an unlinked temporary file while the parent
writes the first half to the output; then the parent copies the child's bytes after its own
(a JSONL or CSV export: the text one process writes; an MCAP export: the child's chunks,
their indexes merged into the file's summary, see `controller.research.mcap_export`).

Forking is safe only in a process that runs one thread (another may hold a lock the child
would need), so `second_half_from` says no split in any other. The child never returns into
the caller (`os._exit`), so nothing of the parent's (atexit handlers, buffered output, open
files) runs twice. Ctrl-C, SIGTERM and SIGHUP end the child at once, running none of the
caller's handlers; a parent that one unwinds (`sessionroom export` is, by each) ends and
reaps its child as it leaves. If the child cannot write its half (say the temporary file's
disk is full) or dies, the parent writes that half itself: the split can make an export
quicker, never lose it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, NoReturn, TextIO, cast

from controller.journal.store import JournalError, reading

SPLIT_FROM = 20_000
"""Events from which an export splits: below, forking costs more than the half it saves."""
SEQ_RANGE = "SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events)"
"""The journal's first and last seq, each read from the end of the key's B-tree: SQLite
reads `min` or `max` so only when it is the query's one aggregate (both at once scan the
whole table, about 8 ms on a 3-hour session)."""
COPY_CHARS = 1 << 20
"""Characters copied from the child's text to the output at a time."""

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
"""Signals that end the child as they are (unless ignored), running no handler of the
caller's. Blocked while the export forks, so that none can interrupt it between the fork and
the child's pid being kept, or the child before it has set their defaults."""


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold `STOP_SIGNALS` back in this thread until the block ends (their handlers run then).

    For a block that runs SQLite: a handler raises (KeyboardInterrupt, or the CLI's
    SystemExit), and SQLite swallows what is raised inside a Python function it calls
    (`damaged`...), so a signal that came then would end an export as a damaged journal.
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


WriteHalf = Callable[[BinaryIO], Any]
"""Writes one half of the timeline to a binary stream; returns an account of it (a JSON value:
the child reports it to the parent)."""


def second_half_from(path: Path, *, split_from: int = SPLIT_FROM) -> int | None:
    """The first seq of the second half if an export of `path` should split, else None.

    It splits when this process runs one thread, can fork and may use two cores, and the
    journal holds `split_from` events or more (by its seq range). JournalError if the file
    is not a readable journal.
    """
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return None
    if len(os.sched_getaffinity(0)) < 2:
        return None
    with reading(path) as (connection, _):
        first, last = connection.execute(SEQ_RANGE).fetchone()
    if not isinstance(first, int) or not isinstance(last, int) or last - first + 1 < split_from:
        return None  # no events, or a remade table whose seq is not a number
    return (first + last) // 2 + 1


class SecondHalf:
    """The second half of an export, written by a forked child while the parent writes the
    first; `written` gives the child's bytes and account (or None if the child could not
    write them). Use as a context manager: the child is forked as the block is entered (a
    signal that unwinds the caller between the two leaves no child behind), and leaving the
    block early stops and reaps it."""

    def __init__(self, write_half: WriteHalf) -> None:
        self._write_half = write_half
        self._pid: int | None = None
        self._spool: IO[bytes] | None = None
        self._report_fd = -1

    def __enter__(self) -> SecondHalf:
        try:  # without a spool, a pipe or a process, the caller writes the half
            self._spool = tempfile.TemporaryFile(prefix="sessionroom-export-")  # closed by __exit__
            self._report_fd, report_writer = os.pipe()
        except OSError:
            return self
        stops = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # until `_pid` is kept
        with contextlib.suppress(OSError):
            self._pid = os.fork()
        if self._pid == 0:
            self._child(self._spool, report_writer, stops)
        os.close(report_writer)
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, stops)  # one that came meanwhile acts now
        except BaseException:  # its handler raised (Ctrl-C): no child is left to the caller
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None
        if self._report_fd >= 0:
            os.close(self._report_fd)
            self._report_fd = -1
        if self._spool is not None:
            self._spool.close()

    def written(self) -> tuple[Any, BinaryIO] | None:
        """Wait for the child: the account its half's writer returned, and the bytes it
        wrote (a file at its start); None if it could not write its half, or died (the
        caller then writes the half itself). JournalError if the child found the journal
        damaged in its half."""
        report = self._report()
        if "journal" in report:
            raise JournalError(str(report["journal"]))
        if "written" not in report or self._spool is None:
            return None
        self._spool.seek(0)
        return report["written"], cast(BinaryIO, self._spool)

    def _report(self) -> dict[str, object]:
        """What the child reported when it ended (empty if it died without a word)."""
        if self._pid is None:
            return {}
        with open(self._report_fd, "rb", closefd=False) as reader:
            data = reader.read()
        with signals_held():  # the child is reaped once: `__exit__` must not kill its pid again
            os.waitpid(self._pid, 0)
            self._pid = None
        try:
            report = json.loads(data)
        except ValueError:
            return {}
        return report if isinstance(report, dict) else {}

    def _child(self, spool: IO[bytes], report_writer: int, stops: Iterable[int]) -> NoReturn:
        """Write the half into `spool`, report how it went, and end this process.

        `STOP_SIGNALS` (Ctrl-C, SIGTERM, SIGHUP) end it at once.
        """
        report: dict[str, object] = {}
        try:
            os.close(self._report_fd)
            for number in STOP_SIGNALS:
                if signal.getsignal(number) != signal.SIG_IGN:  # as `nohup` left it, if so
                    signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, stops)
            with open(spool.fileno(), "wb", closefd=False) as half:
                report = {"written": self._write_half(half)}
        except JournalError as error:
            report = {"journal": str(error)}
        except BaseException as error:  # the parent writes the half itself
            report = {"failed": f"{type(error).__name__}: {error}"}
        finally:
            with contextlib.suppress(BaseException):
                os.write(report_writer, json.dumps(report).encode())
            os._exit(0)


def text_half(write: Callable[[TextIO], int]) -> WriteHalf:
    """A half's text writer (returning its event count) as a writer of UTF-8 bytes."""

    def write_bytes(half: BinaryIO) -> int:
        with open(half.fileno(), "w", encoding="utf-8", newline="", closefd=False) as text:
            return write(text)

    return write_bytes


def append_text(second: SecondHalf, out: TextIO, write: Callable[[TextIO], int]) -> int:
    """Wait for the child; append its half (`text_half(write)`'s) to `out` and return the
    half's event count. If the child could not write its half, `write` writes it to `out`."""
    written = second.written()
    count = None if written is None else written[0]
    if written is None or not isinstance(count, int):
        return write(out)
    spool = written[1]
    text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
    try:
        while chunk := text.read(COPY_CHARS):
            out.write(chunk)
    finally:
        text.detach()
    return count
