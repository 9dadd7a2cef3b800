"""The session report: what happened, in sections a researcher reads, as text or HTML.

Sections: the session; phases against the plan; holds and extensions; vitals checks
(baseline, timed readings, recovery); operator actions by kind; BLS sets; device dropouts
and broker outages; safety events; alerts; vitals; notes (counted, never quoted).
`report_sections()` builds them from a `SessionAnalysis`; `render_text()` and
`render_html()` lay the same sections out.
"""

from __future__ import annotations

import base64
import html
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from controller.config.durations import format_duration
from controller.journal.sessions import utc_datetime
from controller.research.analysis import BlsSpan, Moment, SessionAnalysis, Span
from controller.untrusted import terminal_text


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, an optional table, and lines of plain words."""

    title: str
    headings: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    lines: tuple[str, ...] = field(default_factory=tuple)


def clock(t: float) -> str:
    """Session time as `M:SS` or `H:MM:SS`."""
    seconds = round(t)
    hours, rest = divmod(seconds, 3600)
    minutes, second = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{second:02d}" if hours else f"{minutes}:{second:02d}"


def signed(seconds: float) -> str:
    return ("+" if seconds >= 0 else "−") + format_duration(abs(seconds))


def report_sections(analysis: SessionAnalysis) -> list[Section]:
    """The report's sections, in reading order."""
    return [
        _session(analysis),
        _phases(analysis),
        _holds(analysis),
        _checks(analysis),
        _actions(analysis),
        _bls(analysis),
        _outages(analysis),
        _moments("Safety events", analysis.safety),
        _moments("Alerts", analysis.alerts),
        _vitals(analysis),
        _notes(analysis),
    ]


def _session(analysis: SessionAnalysis) -> Section:
    meta = analysis.meta
    ending = "ended cleanly" if meta.ended_cleanly else "did not end cleanly"
    if meta.ended_wall_ns is None:
        ending = "still open (running, or its engine stopped)"
    lines = [
        f"{meta.session_id}: room {meta.room}, plan {meta.plan}, participant {meta.participant}",
        f"Started {utc_datetime(meta.started_wall_ns):%Y-%m-%d %H:%M:%S} UTC; "
        f"{format_duration(analysis.end_t)} of session time; {ending}"
        + (f"; resumed after a crash {len(analysis.resumes)}×" if analysis.resumes else ""),
        f"{analysis.event_count} events"
        + (f"; rehearsal at time scale {meta.time_scale:g}" if meta.time_scale != 1 else ""),
    ]
    return Section("Session", lines=tuple(lines))


def _phases(analysis: SessionAnalysis) -> Section:
    rows = []
    for phase in analysis.phases:
        planned = None if phase.planned_s is None else phase.planned_s + phase.extended_s
        rows.append(
            (
                phase.name,
                clock(phase.start),
                "?" if phase.planned_s is None else format_duration(phase.planned_s),
                format_duration(phase.extended_s) if phase.extended_s else "—",
                format_duration(phase.duration_s),
                "?" if planned is None else signed(phase.duration_s - planned),
                format_duration(phase.held_s) if phase.held_s else "—",
                phase.began,
            )
        )
    return Section(
        "Phases against the plan",
        ("phase", "began at", "planned", "extended", "actual", "vs plan", "held", "how"),
        tuple(rows),
        () if rows else ("The session reached no phase.",),
    )


def _holds(analysis: SessionAnalysis) -> Section:
    lines = [
        f"hold in {hold.label}: {clock(hold.start)}–{clock(hold.end)} "
        f"({format_duration(hold.duration_s)}{'' if hold.ended else ', until the end'})"
        for hold in analysis.holds
    ] + [
        f"extended {moment.phase} at {clock(moment.t)}: {moment.text.removeprefix('extend ')}"
        for moment in analysis.extensions
    ]
    return Section("Holds and extensions", lines=tuple(lines) or ("None.",))


def _checks(analysis: SessionAnalysis) -> Section:
    """The baseline, each timed reading due, taken or missed, and the recovery check."""
    counts = Counter(moment.name for moment in analysis.checks)
    recovered = any(m.name == "recovery" and "recovery check:" in m.text for m in analysis.checks)
    summary = (
        f"timed readings: {counts['due']} due, {counts['taken']} taken, "
        f"{counts['missed']} missed; recovery check "
        + ("recorded." if recovered else "not recorded.")
    )
    lines = [f"{clock(m.t)}  {m.phase or '—'}: {m.text}" for m in analysis.checks]
    return Section("Vitals checks", lines=(*lines, summary) if lines else ("None recorded.",))


def _actions(analysis: SessionAnalysis) -> Section:
    carried: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    by_cue: Counter[str] = Counter()
    for action in analysis.actions:
        if action.category == "cue":
            continue
        (refused if action.refused else carried)[action.name] += 1
        if action.source == "cue" and not action.refused:
            by_cue[action.name] += 1
    cues = sum(1 for action in analysis.actions if action.category == "cue")
    rows = tuple(
        (name, str(carried[name]), str(by_cue[name] or "—"), str(refused[name] or "—"))
        for name in sorted(set(carried) | set(refused))
    )
    return Section(
        "Operator actions and overrides",
        ("action", "carried out", "of them by cues", "refused"),
        rows,
        (f"{cues} plan cue{'s' if cues != 1 else ''} fired.",),
    )


def _bls(analysis: SessionAnalysis) -> Section:
    sets = analysis.bls_sets
    if not sets:
        return Section("BLS sets", lines=("None.",))
    total = sum(span.duration_s for span in sets)
    speeds = sorted({span.speed_hz for span in sets if span.speed_hz is not None})
    rows = tuple(
        (
            clock(span.start),
            span.device,
            span.mode or "?",
            f"{span.speed_hz:g} Hz" if span.speed_hz is not None else "?",
            _asked(span),
            format_duration(span.duration_s),
            span.ended,
        )
        for span in sets
    )
    speed_words = ", ".join(f"{speed:g}" for speed in speeds) + " Hz" if speeds else "unknown"
    return Section(
        "BLS sets",
        ("at", "device", "mode", "speed", "asked", "lasted", "ended by"),
        rows,
        (f"{len(sets)} sets, {format_duration(total)} in total; speeds {speed_words}.",),
    )


def _asked(span: BlsSpan) -> str:
    """The length a BLS set was asked for: its passes, its seconds, or `?` (neither recorded)."""
    if span.passes is not None:
        return str(span.passes)
    return "?" if span.seconds is None else f"{span.seconds:g} s"


def _outages(analysis: SessionAnalysis) -> Section:
    by_device: dict[str, list[Span]] = {}
    for span in analysis.dropouts:
        by_device.setdefault(span.label, []).append(span)
    rows = [
        (
            device,
            str(len(spans)),
            format_duration(sum(s.duration_s for s in spans)),
            ", ".join(clock(s.start) for s in spans),
        )
        for device, spans in sorted(by_device.items())
    ]
    if analysis.broker_outages:
        spans = analysis.broker_outages
        rows.append(
            (
                "MQTT broker",
                str(len(spans)),
                format_duration(sum(s.duration_s for s in spans)),
                ", ".join(clock(s.start) for s in spans),
            )
        )
    return Section(
        "Device dropouts and broker outages",
        ("what", "times", "offline in total", "from"),
        tuple(rows),
        () if rows else ("None.",),
    )


def _moments(title: str, moments: Sequence[Moment]) -> Section:
    lines = tuple(f"{clock(m.t)}  {m.phase or '—'}: {m.text}" for m in moments)
    return Section(title, lines=lines or ("None.",))


def _vitals(analysis: SessionAnalysis) -> Section:
    rows = []
    for device, measures in sorted(analysis.vitals.items()):
        for measure, readings in sorted(measures.items()):
            values = [value for _, value in readings]
            rows.append(
                (
                    device,
                    measure,
                    str(len(values)),
                    f"{min(values):g}",
                    f"{statistics.fmean(values):.1f}",
                    f"{max(values):g}",
                )
            )
    return Section(
        "Vitals",
        ("sensor", "measure", "readings", "min", "mean", "max"),
        tuple(rows),
        () if rows else ("No vitals were recorded.",),
    )


def _notes(analysis: SessionAnalysis) -> Section:
    count = len(analysis.notes)
    times = ", ".join(clock(note.t) for note in analysis.notes)
    words = f"{count} note{'s' if count != 1 else ''}" + (f" (at {times})" if count else "")
    return Section("Notes", lines=(words + "; their words stay in the journal.",))


def render_text(sections: Sequence[Section]) -> str:
    """The sections as plain text with aligned tables (recorded text as `terminal_text`)."""
    parts = []
    for section in sections:
        title = terminal_text(section.title)
        out = [title, "─" * len(title)]
        if section.rows:
            table = [
                [terminal_text(cell) for cell in row] for row in (section.headings, *section.rows)
            ]
            widths = [max(len(row[i]) for row in table) for i in range(len(section.headings))]
            out += [
                "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                for row in table
            ]
        out += [f"  {terminal_text(line)}" for line in section.lines]
        parts.append("\n".join(line.rstrip() for line in out))
    return "\n\n".join(parts) + "\n"


def render_html(sections: Sequence[Section], *, title: str, png: bytes | None) -> str:
    """A self-contained HTML page: the timeline picture (embedded) and the sections."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    if png is not None:
        data = base64.b64encode(png).decode()
        body.append(f'<img alt="Session timeline" src="data:image/png;base64,{data}">')
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.rows:
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in section.headings)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                for row in section.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        body += [f"<p>{html.escape(line)}</p>" for line in section.lines]
    return HTML_PAGE.format(title=html.escape(title), body="\n".join(body))


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }}
img {{ width: 100%; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }}
th {{ background: #f4f4f4; }}
h2 {{ margin-top: 1.6em; border-bottom: 2px solid #eee; }}
</style></head>
<body>
{body}
</body></html>
"""
