"""`sessionroom export`: a session as JSONL or CSV (the researchers' contract), or as BIDS.

Without a SESSION, `--all`, `--room`, `--since`, `--until` and `--plan` choose many
sessions, exported together into one BIDS dataset (a whole study at once).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NoReturn, TextIO, TypeVar

import click

from controller.cli.common import Overrides, connection_options
from controller.cli.sessions import (
    fail,
    pseudonymise_option,
    resolve_data_dir,
    resolve_session,
    skipped,
    study_key,
    write_stdout,
)
from controller.journal import JournalError, SessionInfo, count_events, list_sessions
from controller.journal.export import FORMATS, export_bids, export_session, export_study
from controller.research.files import write_private, write_private_text
from controller.research.mcap_export import export_mcap
from controller.research.progress import Progress as ExportProgress

BIDS = "bids"
MCAP = "mcap"


@click.command(
    epilog="\b\nExamples:\n"
    "  sessionroom export room-a-20261121T173000Z --format csv -o session.csv\n"
    "  sessionroom export room-a-20261121T173000Z --format mcap -o session.mcap\n"
    "  sessionroom export data/sessions/room-a-20261121T173000Z.sqlite > session.jsonl\n"
    "  sessionroom export room-a-20261121T173000Z --format bids -o study/ "
    "--pseudonymise study.key\n"
    "  sessionroom export --all --since 2026-11-01 --plan standard --format bids -o study/ "
    "--pseudonymise study.key"
)
@click.argument("session", required=False)
@click.option(
    "--format",
    "format_name",
    type=click.Choice([*sorted(FORMATS), BIDS, MCAP]),
    default="jsonl",
    show_default=True,
    help="jsonl: one JSON object per line; csv: the same columns, payload as JSON text; "
    "bids: a BIDS folder (events.tsv, physio.tsv.gz and their JSON sidecars); "
    "mcap: one file for Foxglove (a channel per kind and device, phase, levels, vitals).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="jsonl/csv/mcap: the file to write (owner-readable only; standard output when "
    "omitted, except for mcap). "
    "bids: the dataset folder (required; created if new, other sessions in it are kept).",
)
@click.option(
    "--all", "every", is_flag=True, help="bids: export every recorded session (no SESSION)."
)
@click.option(
    "--since",
    metavar="DATE",
    help="bids, no SESSION: sessions started at or after DATE (UTC, e.g. 2026-11-01 or "
    "2026-11-01T14:00).",
)
@click.option(
    "--until",
    metavar="DATE",
    help="bids, no SESSION: sessions started before DATE's end (a day counts whole).",
)
@click.option("--plan", metavar="PLAN", help="bids, no SESSION: sessions of this plan only.")
@pseudonymise_option
@click.option(
    "--include-notes",
    is_flag=True,
    help="bids: include the therapist's notes (left out by default). "
    "jsonl/csv always hold the whole timeline, notes included.",
)
@connection_options
def export(
    session: str | None,
    format_name: str,
    output: Path | None,
    every: bool,
    since: str | None,
    until: str | None,
    plan: str | None,
    key_file: Path | None,
    include_notes: bool,
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
) -> None:
    """Export a session as JSONL, CSV, MCAP or BIDS, or many sessions as one BIDS dataset.

    SESSION is a session id (see `sessionroom sessions`) or a path to its .sqlite file.
    JSONL and CSV hold one record per event in seq order with seq, t (seconds since the
    session started), wall (ISO 8601 UTC), phase, kind, device, topic and payload; notes
    are included. BIDS writes sub-<participant>/ses-<start>/beh/ with an events.tsv (onset,
    duration, trial_type: phases, BLS sets, holds and outages as durations; operator
    actions, cues, alerts and safety events as impulses) and the vitals resampled to 1 Hz
    as physio.tsv.gz, each with its JSON sidecar, and lists every participant in
    participants.tsv and their sessions in sub-<participant>_sessions.tsv. MCAP writes one
    file for Foxglove: a channel per event kind and device, /room/phase, light and volume
    levels.

    Without SESSION, --all (or --room, --since, --until, --plan) exports the sessions they
    choose into one BIDS dataset. A BIDS export is all or nothing: if anything fails, the
    dataset folder is left as it was and the error names what failed.
    """
    click.get_current_context().with_resource(_ended_by_signals())
    overrides = Overrides(broker, room_id, data_dir)
    key = study_key(key_file)
    choosing = every or room_id is not None or any((since, until, plan))
    if session is None:
        if not choosing:
            fail("name a SESSION, or choose sessions with --all, --room, --since, --until, --plan")
        if format_name != BIDS:
            fail("many sessions are exported into one BIDS dataset: add --format bids -o DIR")
        paths = _chosen(resolve_data_dir(config_path, overrides), room_id, since, until, plan)
        _export_study(paths, _bids_folder(output), include_notes=include_notes, key=key)
        return
    if every or any((since, until, plan)):
        fail("--all, --since, --until and --plan choose sessions: give them without SESSION")
    path = resolve_session(session, config_path, overrides)
    if format_name == BIDS:
        _export_bids(path, _bids_folder(output), include_notes=include_notes, key=key)
        return
    if output is not None and output.is_dir():
        fail(f"{output} is a folder; --format {format_name} writes one file")
    if format_name == MCAP:
        _export_mcap(path, output, key=key)
        return
    try:
        progress = ExportProgress(count_events(path))

        def write_timeline(out: TextIO) -> int:
            return export_session(path, out, format_name=format_name, progress=progress, key=key)

        try:
            if output is None:
                written = write_stdout(write_timeline)
            else:
                written = write_private_text(output, write_timeline)
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


ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""Signals that end an export as Ctrl-C does (SIGHUP: its terminal closed)."""


@contextlib.contextmanager
def _ended_by_signals() -> Iterator[None]:
    """`ENDING_SIGNALS` unwind the export, so that its temporary files and processes go with
    it; exit status 128 + the signal's number. One ignored (`nohup`) stays ignored."""

    def stop(number: int, _frame: object) -> NoReturn:
        raise SystemExit(128 + number)

    previous = {number: signal.getsignal(number) for number in ENDING_SIGNALS}
    ending = [number for number, handler in previous.items() if handler == signal.SIG_DFL]
    for number in ending:
        signal.signal(number, stop)
    try:
        yield
    finally:
        for number in ending:
            signal.signal(number, signal.SIG_DFL)


def _bids_folder(folder: Path | None) -> Path:
    if folder is None:
        fail("--format bids writes a folder: give it with -o DIR")
    if folder.exists() and not folder.is_dir():
        fail(f"{folder} is a file; --format bids writes a folder")
    return folder


def _chosen(
    data_dir: Path, room: str | None, since: str | None, until: str | None, plan: str | None
) -> list[Path]:
    """The journals of the sessions the options choose, oldest first."""
    start = _moment(since, "--since") if since else None
    end = _moment(until, "--until", end_of_day=True) if until else None
    found = list_sessions(
        data_dir,
        room,
        on_unreadable=skipped,
    )
    chosen = [info for info in reversed(found) if _wanted(info, start, end, plan)]
    if not chosen:
        fail("no recorded session matches the options given (`sessionroom sessions` lists them)")
    return [info.path for info in chosen]


def _wanted(
    info: SessionInfo, start: datetime | None, end: datetime | None, plan: str | None
) -> bool:
    return (
        (start is None or info.started >= start)
        and (end is None or info.started < end)
        and (plan is None or info.plan == plan)
    )


def _moment(text: str, option: str, *, end_of_day: bool = False) -> datetime:
    """A date or date and time given on the command line, in UTC; with `end_of_day`, a date
    alone (2026-11-01 or 20261101) is the end of that day."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not a date (e.g. 2026-11-01 or 2026-11-01T14:00)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end_of_day and _is_a_day(text):
        if moment.date() == date.max:  # its end is past what a datetime holds, and every session
            return datetime.max.replace(tzinfo=UTC)
        moment += timedelta(days=1)
    return moment


def _is_a_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _export_mcap(path: Path, output: Path | None, *, key: bytes | None) -> None:
    if output is None:
        fail("--format mcap writes a binary file: give it with -o FILE.mcap")
    written = _all_or_nothing(
        lambda: ExportProgress(count_events(path)),
        output,
        lambda progress: write_private(
            output, lambda out: export_mcap(path, out, key=key, progress=progress)
        ),
    )
    click.echo(f"Wrote {written} events to {output} (open it in Foxglove).", err=True)


def _export_bids(path: Path, folder: Path, *, include_notes: bool, key: bytes | None) -> None:
    written = _all_or_nothing(
        lambda: ExportProgress(count_events(path)),
        folder,
        lambda progress: export_bids(
            path, folder, include_notes=include_notes, key=key, progress=progress
        ),
    )
    click.echo(f"Wrote {written.rows} events to {written.events}.", err=True)
    if written.physio is not None:
        click.echo(f"Wrote {written.samples} seconds of vitals to {written.physio}.", err=True)
    else:
        click.echo("No vitals were recorded; no physio file.", err=True)


def _export_study(
    paths: list[Path], folder: Path, *, include_notes: bool, key: bytes | None
) -> None:
    written = _all_or_nothing(
        lambda: ExportProgress(len(paths), unit="sessions"),
        folder,
        lambda progress: export_study(
            paths, folder, include_notes=include_notes, key=key, progress=progress
        ),
    )
    participants = len({export.events.parts[-4] for export in written})
    click.echo(
        f"Wrote {len(written)} sessions of {participants} participants to {folder}.", err=True
    )


Done = TypeVar("Done")


def _all_or_nothing(
    start: Callable[[], ExportProgress], target: Path, work: Callable[[ExportProgress], Done]
) -> Done:
    """Run an export that writes `target` whole or not at all; exit with the reason if it fails
    (reading the journal for `start`'s count of the work included)."""
    try:
        progress = start()
        try:
            return work(progress)
        finally:
            progress.finish()
    except JournalError as error:
        fail(f"{error}; nothing was written")
    except OSError as error:
        fail(f"cannot write {target}: {error.strerror}; nothing was written")
