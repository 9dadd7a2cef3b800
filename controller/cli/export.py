"""`sessionroom export`: write a session's timeline as JSONL or CSV (the researchers' contract)."""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import click

from controller.cli.common import Overrides, connection_options
from controller.cli.sessions import fail, resolve_session
from controller.journal import JournalError, count_events
from controller.journal.export import FORMATS, export_session

PROGRESS_AFTER_S = 1.0
"""Exports that take longer than this show their progress on stderr."""
PROGRESS_INTERVAL_S = 0.25


@click.command(
    epilog="\b\nExamples:\n"
    "  sessionroom export room-a-20261121T173000Z --format csv -o session.csv\n"
    "  sessionroom export data/sessions/room-a-20261121T173000Z.sqlite > session.jsonl"
)
@click.argument("session")
@click.option(
    "--format",
    "format_name",
    type=click.Choice(sorted(FORMATS)),
    default="jsonl",
    show_default=True,
    help="jsonl: one JSON object per line; csv: the same columns, payload as JSON text.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="File to write (owner-readable only); standard output when omitted.",
)
@connection_options
def export(
    session: str,
    format_name: str,
    output: Path | None,
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
) -> None:
    """Export a session's timeline as JSONL or CSV.

    SESSION is a session id (see `sessionroom sessions`) or a path to its .sqlite file.
    One record per event in seq order with seq, t (seconds since the session started), wall
    (ISO 8601 UTC), phase, kind, device, topic and payload. Notes are included.
    """
    path = resolve_session(session, config_path, Overrides(broker, room_id, data_dir))
    try:
        progress = ExportProgress(count_events(path))

        def write_timeline(out: TextIO) -> int:
            return export_session(path, out, format_name=format_name, progress=progress)

        try:
            if output is None:
                written = write_stdout(write_timeline)
            else:
                written = write_file_atomically(output, write_timeline)
        finally:
            progress.finish()
    except JournalError as error:
        fail(str(error))
    except BrokenPipeError:
        # Whoever read standard output (e.g. `head`) stopped: end quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    except OSError as error:
        fail(f"cannot write {output or 'to standard output'}: {error.strerror}")
    if output is not None:
        click.echo(f"Wrote {written} events to {output}.", err=True)


class ExportProgress:
    """Shows `exporting… 45% (45000/100000 events)` on stderr once an export runs over a second."""

    def __init__(self, total: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._total = total
        self._clock = clock
        self._started = clock()
        self._shown_at: float | None = None

    def __call__(self, done: int) -> None:
        now = self._clock()
        if now - self._started < PROGRESS_AFTER_S:
            return
        if self._shown_at is not None and now - self._shown_at < PROGRESS_INTERVAL_S:
            return
        self._shown_at = now
        percent = 100 * done // self._total if self._total else 100
        click.echo(f"\rexporting… {percent}% ({done}/{self._total} events)", err=True, nl=False)

    def finish(self) -> None:
        """End the progress line, if one was shown."""
        if self._shown_at is not None:
            click.echo(err=True)
            self._shown_at = None


def write_stdout(write: Callable[[TextIO], int]) -> int:
    """Write to standard output, switched to UTF-8 whatever the locale says."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(encoding="utf-8")
    written = write(sys.stdout)
    sys.stdout.flush()
    return written


def write_file_atomically(target: Path, write: Callable[[TextIO], int]) -> int:
    """Write `target` (mode 0600) via a temporary file, so a failed export leaves no half file."""
    temporary = target.with_name(f".{target.name}.partial")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with open(descriptor, "w", encoding="utf-8", newline="") as out:
            written = write(out)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written
