"""`sessionroom report`: what happened in a recorded session, as text, a timeline PNG and HTML."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli.common import Overrides, connection_options
from controller.cli.sessions import fail, resolve_session, write_stdout
from controller.journal import JournalError, count_events
from controller.journal.export import checked_events
from controller.research.analysis import SessionAnalysis, analyse
from controller.research.files import write_private_bytes
from controller.research.plot import timeline_png
from controller.research.progress import Progress
from controller.research.report import render_html, render_text, report_sections
from controller.research.sessions import session_meta


@click.command(
    epilog="\b\nExamples:\n"
    "  sessionroom report room-a-20261121T173000Z\n"
    "  sessionroom report room-a-20261121T173000Z --png timeline.png --html report.html"
)
@click.argument("session")
@click.option(
    "--png",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the session timeline picture (phases, lights, volume, BLS, events, vitals).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write a self-contained HTML report: the timeline and every section.",
)
@connection_options
def report(
    session: str,
    png: Path | None,
    html_path: Path | None,
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
) -> None:
    """Report on a recorded session: phases against the plan, holds and extensions,
    operator actions, BLS sets, dropouts and outages, safety events, alerts and vitals.

    SESSION is a session id (see `sessionroom sessions`) or a path to its .sqlite file.
    The text goes to standard output; --png draws the timeline, --html gives both.
    """
    overrides = Overrides(broker, room_id, data_dir)
    path = resolve_session(session, config_path, overrides)
    try:
        analysis = _analyse(path)
    except JournalError as error:
        fail(str(error))
    sections = report_sections(analysis)
    write_stdout(lambda out: out.write(render_text(sections)))
    if png is None and html_path is None:
        return
    picture = timeline_png(analysis)
    if png is not None:
        _write(png, picture)
        click.echo(f"Wrote the timeline to {png}.", err=True)
    if html_path is not None:
        page = render_html(sections, title=f"Session {analysis.meta.session_id}", png=picture)
        _write(html_path, page.encode(errors="backslashreplace"))  # a lone surrogate: \ud800
        click.echo(f"Wrote the report to {html_path}.", err=True)


def _analyse(path: Path) -> SessionAnalysis:
    progress = Progress(count_events(path), label="reading the session")
    try:
        return analyse(session_meta(path), checked_events(path), progress=progress)
    finally:
        progress.finish()


def _write(path: Path, content: bytes) -> None:
    try:
        write_private_bytes(path, content)
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror}")
