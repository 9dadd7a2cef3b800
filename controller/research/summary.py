"""One row per session for R or pandas: `sessionroom sessions --format csv`.

`summary_row` turns a session's analysis into named values; `COLUMNS` lists the columns
in order, each a name and a function of the analysis, so a new column is one more entry.
Phase columns depend on the plans in the table (`<phase>_planned_s`, `<phase>_actual_s`
for every phase any session reached, in the order first met). Times are seconds of
session time; an empty cell means "does not apply" (e.g. no vitals of that kind).
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from controller.journal.sessions import utc_datetime
from controller.research.analysis import SessionAnalysis

OVERRIDE_ACTIONS = ("scene", "lights", "volume", "music", "vr", "bls")
"""Operator actions that override the plan, counted one column each."""
VITAL_MEASURES = ("hr", "spo2", "sys", "dia")

Column = tuple[str, Callable[[SessionAnalysis], Any]]


def _iso(wall_ns: int | None) -> str | None:
    return None if wall_ns is None else utc_datetime(wall_ns).isoformat().replace("+00:00", "Z")


def _status(analysis: SessionAnalysis) -> str:
    if analysis.meta.ended_wall_ns is None:
        return "open"
    return "ended cleanly" if analysis.meta.ended_cleanly else "ended (not cleanly)"


def _overrides(action: str) -> Column:
    def count(analysis: SessionAnalysis) -> int:
        return sum(
            1
            for moment in analysis.actions
            if moment.category == "operator"
            and moment.name == action
            and moment.source != "cue"
            and moment.refused is None
        )

    return f"overrides_{action}", count


def _checks(name: str) -> Column:
    return f"readings_{name}", lambda a: sum(m.name == name for m in a.checks)


def _vital(measure: str, name: str, statistic: Callable[[list[float]], float]) -> Column:
    def value(analysis: SessionAnalysis) -> float | None:
        readings = [
            reading
            for measures in analysis.vitals.values()
            for _, reading in measures.get(measure, [])
        ]
        return statistic(readings) if readings else None

    return f"{measure}_{name}", value


COLUMNS: list[Column] = [
    ("session", lambda a: a.meta.session_id),
    ("room", lambda a: a.meta.room),
    ("plan", lambda a: a.meta.plan),
    ("participant", lambda a: a.meta.participant),
    ("started", lambda a: _iso(a.meta.started_wall_ns)),
    ("ended", lambda a: _iso(a.meta.ended_wall_ns)),
    ("status", _status),
    ("resumed", lambda a: len(a.resumes)),
    ("duration_s", lambda a: a.duration_s),
    ("holds", lambda a: len(a.holds)),
    ("hold_s", lambda a: sum(span.duration_s for span in a.holds)),
    ("extensions", lambda a: len(a.extensions)),
    ("extension_s", lambda a: sum(phase.extended_s for phase in a.phases)),
    *(_overrides(action) for action in OVERRIDE_ACTIONS),
    ("bls_sets", lambda a: len(a.bls_sets)),
    ("bls_s", lambda a: sum(span.duration_s for span in a.bls_sets)),
    ("emergencies", lambda a: sum(m.name == "emergency start" for m in a.safety)),
    ("alerts", lambda a: sum(m.category == "alert" for m in a.alerts)),
    ("device_outages", lambda a: len(a.dropouts)),
    ("device_outage_s", lambda a: sum(span.duration_s for span in a.dropouts)),
    ("broker_outages", lambda a: len(a.broker_outages)),
    ("baseline", lambda a: a.baseline),
    *(_checks(name) for name in ("due", "taken", "missed")),
    ("recovery", lambda a: a.recovery),
    *(
        _vital(measure, name, statistic)
        for measure in VITAL_MEASURES
        for name, statistic in (("min", min), ("median", statistics.median), ("max", max))
    ),
]
"""The fixed columns, in order; the phase columns come after `duration_s`."""
PHASES_AFTER = "duration_s"


def summary_row(analysis: SessionAnalysis) -> dict[str, Any]:
    """The session's values by column name, its phase columns included."""
    row = {name: value(analysis) for name, value in COLUMNS}
    for phase in analysis.phases:
        planned = f"{phase.name}_planned_s"
        if row.get(planned) is None:
            row[planned] = phase.planned_s
        actual = f"{phase.name}_actual_s"
        row[actual] = row.get(actual, 0.0) + phase.duration_s
    return row


def write_summary(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    """The rows as CSV with a header: the fixed columns, each session's phases after duration."""
    phases: dict[str, None] = {}
    fixed = {name for name, _ in COLUMNS}
    for row in rows:
        phases.update((name, None) for name in row if name not in fixed)
    names = [name for name, _ in COLUMNS]
    at = names.index(PHASES_AFTER) + 1
    header = [*names[:at], *phases, *names[at:]]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(row.get(name)) for name in header] for row in rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)
