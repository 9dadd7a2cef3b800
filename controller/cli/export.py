"""`sessionroom export`: a session as JSONL or CSV (the researchers' contract), or as BIDS."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import click

from controller.cli.common import Overrides, connection_options
from controller.cli.sessions import fail, resolve_session
from controller.journal import JournalError, count_events
from controller.journal.export import FORMATS, export_bids, export_session
from controller.research.progress import Progress as ExportProgress
from controller.research.pseudonym import PseudonymKeyError, read_key

BIDS = "bids"


@click.command(
    epilog="\b\nExamples:\n"
    "  sessionroom export room-a-20261121T173000Z --format csv -o session.csv\n"
    "  sessionroom export data/sessions/room-a-20261121T173000Z.sqlite > session.jsonl\n"
    "  sessionroom export room-a-20261121T173000Z --format bids -o study/ "
    "--pseudonymise study.key"
)
@click.argument("session")
@click.option(
    "--format",
    "format_name",
    type=click.Choice([*sorted(FORMATS), BIDS]),
    default="jsonl",
    show_default=True,
    help="jsonl: one JSON object per line; csv: the same columns, payload as JSON text; "
    "bids: a BIDS folder (events.tsv, physio.tsv.gz and their JSON sidecars).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="jsonl/csv: the file to write (owner-readable only; standard output when omitted). "
    "bids: the dataset folder (required; created if new, other sessions in it are kept).",
)
@click.option(
    "--pseudonymise",
    "key_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="KEYFILE",
    help="Replace participant codes by a keyed hash (HMAC-SHA256 with the secret in KEYFILE, "
    "12 hex digits). Keep KEYFILE outside the exported data.",
)
@click.option(
    "--include-notes",
    is_flag=True,
    help="bids: include the therapist's notes (left out by default). "
    "jsonl/csv always hold the whole timeline, notes included.",
)
@connection_options
def export(
    session: str,
    format_name: str,
    output: Path | None,
    key_file: Path | None,
    include_notes: bool,
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
) -> None:
    """Export a session's timeline as JSONL, CSV or BIDS.

    SESSION is a session id (see `sessionroom sessions`) or a path to its .sqlite file.
    JSONL and CSV hold one record per event in seq order with seq, t (seconds since the
    session started), wall (ISO 8601 UTC), phase, kind, device, topic and payload; notes
    are included. BIDS writes sub-<participant>/ses-<start>/beh/ with an events.tsv (onset,
    duration, trial_type: phases, BLS sets, holds and outages as durations; operator
    actions, cues, alerts and safety events as impulses) and the vitals resampled to 1 Hz
    as physio.tsv.gz, each with its JSON sidecar.
    """
    path = resolve_session(session, config_path, Overrides(broker, room_id, data_dir))
    key = _key(key_file)
    if format_name == BIDS:
        _export_bids(path, output, include_notes=include_notes, key=key)
        return
    if output is not None and output.is_dir():
        fail(f"{output} is a folder; --format {format_name} writes one file")
    try:
        progress = ExportProgress(count_events(path))

        def write_timeline(out: TextIO) -> int:
            return export_session(path, out, format_name=format_name, progress=progress, key=key)

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


def _key(key_file: Path | None) -> bytes | None:
    if key_file is None:
        return None
    try:
        return read_key(key_file)
    except PseudonymKeyError as error:
        fail(str(error))


def _export_bids(
    path: Path, folder: Path | None, *, include_notes: bool, key: bytes | None
) -> None:
    if folder is None:
        fail("--format bids writes a folder: give it with -o DIR")
    if folder.exists() and not folder.is_dir():
        fail(f"{folder} is a file; --format bids writes a folder")
    try:
        progress = ExportProgress(count_events(path))
        try:
            written = export_bids(
                path, folder, include_notes=include_notes, key=key, progress=progress
            )
        finally:
            progress.finish()
    except JournalError as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot write into {folder}: {error.strerror}")
    click.echo(f"Wrote {written.rows} events to {written.events}.", err=True)
    if written.physio is not None:
        click.echo(f"Wrote {written.samples} seconds of vitals to {written.physio}.", err=True)
    else:
        click.echo("No vitals were recorded; no physio file.", err=True)


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
