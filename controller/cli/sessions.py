"""`sessionroom sessions`: list the recorded sessions, newest first."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import click

from controller.cli.common import EXIT_INVALID, Overrides, connection_options, load_room_or_exit
from controller.journal import (
    JournalError,
    SessionInfo,
    list_sessions,
    session_path,
    sessions_dir,
)
from controller.research.pseudonym import PseudonymKeyError, Renamer, pseudonymiser, read_key
from controller.untrusted import terminal_text

HEADINGS = (
    "SESSION",
    "ROOM",
    "PLAN",
    "PARTICIPANT",
    "STARTED (UTC)",
    "DURATION",
    "PHASES",
    "STATUS",
)


F = TypeVar("F", bound=Callable[..., Any])


def pseudonymise_option(function: F) -> F:
    """--pseudonymise KEYFILE, for commands that write participant codes out."""
    option = click.option(
        "--pseudonymise",
        "key_file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        metavar="KEYFILE",
        help="Replace participant codes by a keyed hash (HMAC-SHA256 with the secret in "
        "KEYFILE, 12 hex digits), the same in every export. Keep KEYFILE outside the "
        "exported data.",
    )
    return option(function)


def study_key(key_file: Path | None) -> bytes | None:
    """The key in `key_file` (None without one); exits with the reason if it is unusable."""
    if key_file is None:
        return None
    try:
        return read_key(key_file)
    except PseudonymKeyError as error:
        fail(str(error))


@click.command(
    epilog="\b\nExamples:\n  sessionroom sessions --room room-a\n"
    "  sessionroom sessions --format csv -o sessions.csv --pseudonymise study.key"
)
@click.option(
    "--format",
    "format_name",
    type=click.Choice(["table", "csv"]),
    default="table",
    show_default=True,
    help="table: a quick listing, newest first; csv: one row per session, oldest first, "
    "with plan, phases planned and actual, holds, extensions, overrides, BLS, emergencies, "
    "alerts, outages and vitals min/median/max (reads every event of every session).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="csv: the file to write (owner-readable only; standard output when omitted).",
)
@pseudonymise_option
@connection_options
def sessions(
    format_name: str,
    output: Path | None,
    key_file: Path | None,
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
) -> None:
    """List the recorded sessions, newest first, or summarise them as CSV.

    Shows every room's sessions in the data directory, or only those of --room. Files in the
    sessions folder that are not readable journals are named on stderr and skipped.
    """
    folder = resolve_data_dir(config_path, Overrides(broker, room_id, data_dir))
    key = study_key(key_file)
    found = list_sessions(folder, room_id, on_unreadable=skipped)
    if format_name == "csv":
        _summary(list(reversed(found)), output, key)
        return
    if not found:
        which = f" of room {room_id}" if room_id else ""
        echo_stdout(f"No sessions{which} in {sessions_dir(folder)}.")
        return
    echo_stdout(session_table(found, pseudonymiser(key)))


def skipped(path: Path, reason: str) -> None:
    """Say on stderr that the file at `path` is left out, and why (its name escaped: a file
    from elsewhere may be named anything)."""
    click.echo(terminal_text(f"skipped {path}: {reason}"), err=True)


def _summary(found: list[SessionInfo], output: Path | None, key: bytes | None) -> None:
    # the research modules only here: a listing starts without them
    from controller.journal.export import analysed
    from controller.research.files import write_private_text
    from controller.research.progress import Progress
    from controller.research.summary import summary_row, write_summary

    progress = Progress(len(found), label="summarising", unit="sessions")
    rows = []
    try:
        for done, info in enumerate(found, start=1):
            try:
                rows.append(summary_row(analysed(info.path, key=key)))
            except JournalError as error:
                skipped(info.path, str(error).removeprefix(f"{info.path}: "))
            progress(done)
    finally:
        progress.finish()
    if output is None:
        write_stdout(lambda out: write_summary(rows, out))
        return
    try:
        write_private_text(output, lambda out: write_summary(rows, out))
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror}")
    click.echo(f"Wrote {len(rows)} sessions to {output}.", err=True)


def session_table(found: list[SessionInfo], rename: Renamer) -> str:
    """The sessions as an aligned text table, one line each, participant codes `rename`d
    (recorded text as `terminal_text`)."""
    from controller.config.durations import format_duration  # the room models come with it

    rows = [HEADINGS] + [
        tuple(
            terminal_text(cell)
            for cell in (
                info.session_id,
                info.room,
                info.plan,
                rename(info.participant),
                f"{info.started:%Y-%m-%d %H:%M:%S}",
                format_duration(info.duration_s),
                " → ".join(info.phases) or "—",
                session_status(info),
            )
        )
        for info in found
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADINGS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def session_status(info: SessionInfo) -> str:
    """`open`, `ended cleanly` or `ended (not cleanly)`, plus `, resumed` after a crash."""
    if info.is_open:
        status = "open"
    elif info.ended_cleanly:
        status = "ended cleanly"
    else:
        status = "ended (not cleanly)"
    return f"{status}, resumed" if info.resumed else status


def resolve_data_dir(config_path: Path, overrides: Overrides) -> Path:
    """The data directory: --data-dir as given (no config needed), else config.yaml's."""
    if overrides.data_dir is not None:
        return overrides.data_dir
    return load_room_or_exit(config_path, overrides).data_dir


def resolve_session(session: str, config_path: Path, overrides: Overrides) -> Path:
    """The journal file SESSION names: a path to a .sqlite file, or a session id.

    Exits with status 2 and a one-line message when there is no such session.
    """
    if session.endswith(".sqlite") or "/" in session:
        path = Path(session)
        if not _is_a_file(path):
            fail(f"no journal file {session}")
        return path
    folder = resolve_data_dir(config_path, overrides)
    path = session_path(folder, session)
    if not _is_a_file(path):
        fail(f"no session {session} in {sessions_dir(folder)} (`sessionroom sessions` lists them)")
    return path


def _is_a_file(path: Path) -> bool:
    """Whether `path` is a file; not when it cannot be looked at (a name too long for the file
    system ended the command with a traceback)."""
    try:
        return path.is_file()
    except OSError:
        return False


def fail(message: str) -> NoReturn:
    """Print `Error: message` on stderr (as `terminal_text`: it may quote a file's name or
    content) and exit with status 2."""
    click.echo(f"Error: {terminal_text(message)}", err=True)
    raise SystemExit(EXIT_INVALID)


Written = TypeVar("Written")


def write_stdout(write: Callable[[TextIO], Written]) -> Written:
    """Write to standard output, switched to UTF-8 whatever the locale says (a lone surrogate
    written as `\\ud800`). Standard output that refuses the text (a full disk) ends the
    command with the reason, as a file named with -o does; a reader that stopped (a broken
    pipe) is left to the caller."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace")
    try:
        written = write(sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        drop_unwritten_stdout()
        fail(f"cannot write to standard output: {error.strerror or error}")
    return written


def echo_stdout(text: str) -> None:
    """`text` and a line break on standard output, as `write_stdout` writes."""
    write_stdout(lambda out: out.write(f"{text}\n"))


def drop_unwritten_stdout() -> None:
    """Standard output pointed at /dev/null, so that what it still buffers is not written
    again (and refused again, with a traceback) as Python exits."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
