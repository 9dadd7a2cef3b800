"""`sessionroom sessions`: list the recorded sessions, newest first."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from controller.cli.common import EXIT_INVALID, Overrides, connection_options, load_room_or_exit
from controller.config.durations import format_duration
from controller.journal import SessionInfo, list_sessions, session_path, sessions_dir

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


@click.command(epilog="Example: sessionroom sessions --room room-a")
@connection_options
def sessions(
    config_path: Path, broker: str | None, room_id: str | None, data_dir: Path | None
) -> None:
    """List the recorded sessions, newest first.

    Shows every room's sessions in the data directory, or only those of --room. Files in the
    sessions folder that are not readable journals are named on stderr and skipped.
    """
    folder = resolve_data_dir(config_path, Overrides(broker, room_id, data_dir))
    found = list_sessions(
        folder,
        room_id,
        on_unreadable=lambda path, reason: click.echo(f"skipped {path}: {reason}", err=True),
    )
    if not found:
        which = f" of room {room_id}" if room_id else ""
        click.echo(f"No sessions{which} in {sessions_dir(folder)}.")
        return
    click.echo(session_table(found))


def session_table(found: list[SessionInfo]) -> str:
    """The sessions as an aligned text table, one line each."""
    rows = [HEADINGS] + [
        (
            info.session_id,
            info.room,
            info.plan,
            info.participant,
            f"{info.started:%Y-%m-%d %H:%M:%S}",
            format_duration(info.duration_s),
            " → ".join(info.phases) or "—",
            session_status(info),
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
        if not path.is_file():
            fail(f"no journal file {session}")
        return path
    folder = resolve_data_dir(config_path, overrides)
    path = session_path(folder, session)
    if not path.is_file():
        fail(f"no session {session} in {sessions_dir(folder)} (`sessionroom sessions` lists them)")
    return path


def fail(message: str) -> NoReturn:
    """Print `Error: message` on stderr and exit with status 2."""
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(EXIT_INVALID)
