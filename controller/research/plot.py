"""The session timeline as a picture (matplotlib, Agg backend): one glance at a whole session.

Three panels on one session-time axis (minutes): the room (phases as coloured bands, held
stretches hatched, each light's level as its device reported it, the music volume), what
happened (BLS sets, device dropouts and broker outages as bars; operator actions, cues,
notes, alerts and safety events as markers), and the vitals (heart rate and SpO2 of every
sensor, blood pressure as sys–dia bars).
"""

from __future__ import annotations

import io
import itertools
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from controller.journal.sessions import utc_datetime
from controller.research.analysis import SessionAnalysis, Span
from controller.untrusted import terminal_text

PHASE_COLOURS = {
    "centering": "#dbe9f6",
    "peak": "#e8dcf3",
    "return": "#f8e7d1",
    "integration": "#dcefd8",
}
LIGHT_COLOURS = ("#e69f00", "#d55e00", "#cc79a7", "#f0c419", "#8c6d31")
RAIL = ("BLS", "offline", "broker", "operator", "notes", "alerts")
"""Rows of the middle panel, top to bottom."""


OUTSIDE: dict[str, Any] = {
    "loc": "upper left",
    "bbox_to_anchor": (1.005, 1.0),
    "fontsize": 8,
    "frameon": False,
}
"""Legends sit right of their panel, never over the data."""


def timeline_png(analysis: SessionAnalysis, *, dpi: int = 150) -> bytes:
    """The timeline picture of the session as PNG bytes."""
    figure = timeline_figure(analysis)
    _as_written(figure)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi)
    plt.close(figure)
    return out.getvalue()


def _as_written(figure: Any) -> None:
    """Draw every text of `figure` as the journal wrote it: `$` is no mathematics (a name
    holding `$\\frac{$` is no formula to fail on), and a control character or a lone
    surrogate shows as its escape (`terminal_text`: no font has them, and matplotlib's
    warning of a missing glyph would quote an escape sequence to the terminal)."""
    for text in figure.findobj(Text):
        text.set_parse_math(False)
        text.set_text("\n".join(terminal_text(line) for line in text.get_text().split("\n")))


def timeline_figure(analysis: SessionAnalysis) -> Any:
    """The timeline as a matplotlib figure (see the module docstring)."""
    figure, (room, rail, vitals) = plt.subplots(
        3,
        1,
        figsize=(13, 8.2),
        sharex=True,
        gridspec_kw={"height_ratios": [3.0, 1.7, 2.4], "hspace": 0.08},
        layout="constrained",
    )
    end_min = max(analysis.end_t, 1.0) / 60
    for axis in (room, rail, vitals):
        _phase_bands(axis, analysis)
        axis.set_xlim(0, end_min)
        axis.grid(axis="x", color="#cccccc", linewidth=0.5)
    _room_panel(room, analysis)
    _rail_panel(rail, analysis)
    _vitals_panel(vitals, analysis)
    vitals.set_xlabel("session time (minutes)")
    meta = analysis.meta
    started = utc_datetime(meta.started_wall_ns)
    scale = f" · rehearsal ×{meta.time_scale:g}" if meta.time_scale != 1 else ""
    figure.suptitle(
        f"Session {meta.session_id}  ·  plan {meta.plan}  ·  participant {meta.participant}  ·  "
        f"{started:%Y-%m-%d %H:%M} UTC{scale}",
        fontsize=12,
        x=0.01,
        ha="left",
    )
    return figure


def _minutes(t: float) -> float:
    return t / 60


def _label(
    axis: Any, end_t: float, t: float, y: float, text: str, *, shift: float = 0.0, **style: Any
) -> None:
    """Write `text` at session time `t` (`shift` minutes right), if `t` is within the picture
    (0 to `end_t`): matplotlib draws a label however far outside it is, and fails on a
    place as far as a damaged journal's time may be (1e299 s)."""
    if 0 <= t <= end_t:
        axis.text(_minutes(t) + shift, y, text, **style)


def _phase_bands(axis: Any, analysis: SessionAnalysis) -> None:
    for phase in analysis.phases:
        colour = PHASE_COLOURS.get(phase.name, "#eeeeee")
        axis.axvspan(_minutes(phase.start), _minutes(phase.end), color=colour, lw=0, zorder=0)
        axis.axvline(_minutes(phase.start), color="#888888", lw=0.6, zorder=1)
    for hold in analysis.holds:
        axis.axvspan(
            _minutes(hold.start),
            _minutes(hold.end),
            facecolor="none",
            edgecolor="#999999",
            hatch="///",
            lw=0,
            zorder=1,
        )


def _room_panel(axis: Any, analysis: SessionAnalysis) -> None:
    for index, (device, series) in enumerate(sorted(analysis.light_levels.items())):
        times, levels = _extended(series, analysis.end_t)
        axis.step(
            times,
            levels,
            where="post",
            color=LIGHT_COLOURS[index % len(LIGHT_COLOURS)],
            lw=1.6,
            label=f"light: {device}",
        )
    if analysis.volume:
        points = [(t, math.nan if v is None else v) for t, v in analysis.volume]
        times, levels = _extended(points, analysis.end_t)
        axis.step(times, levels, where="post", color="#1f4e79", lw=2, ls="--", label="music volume")
    for phase in analysis.phases:
        planned = None if phase.planned_s is None else phase.planned_s + phase.extended_s
        label = phase.name
        if planned is not None and abs(phase.duration_s - planned) >= 1:
            label += f"\n{_signed_minutes(phase.duration_s - planned)} vs plan"
        _label(
            axis,
            analysis.end_t,
            phase.start,
            1.07,
            label,
            shift=0.01 * _minutes(analysis.end_t),
            va="top",
            fontsize=9,
            color="#333333",
        )
    axis.set_ylim(0, 1.12)
    axis.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    axis.set_yticklabels(["0", "25%", "50%", "75%", "100%"])
    axis.set_ylabel("light level / volume")
    handles, labels = axis.get_legend_handles_labels()
    if analysis.holds:
        handles.append(Patch(facecolor="none", edgecolor="#999999", hatch="///"))
        labels.append("phase held")
    if handles:
        axis.legend(handles, labels, **OUTSIDE)


def _rail_panel(axis: Any, analysis: SessionAnalysis) -> None:
    rows = {name: len(RAIL) - index for index, name in enumerate(RAIL)}
    for bls in analysis.bls_sets:
        axis.broken_barh(
            [_extent(bls.start, bls.duration_s, analysis.end_t)],
            (rows["BLS"] - 0.3, 0.6),
            color="#009e73",
        )
        speed = f"{bls.speed_hz:g} Hz" if bls.speed_hz is not None else ""
        label = f" {speed}"
        _label(axis, analysis.end_t, bls.end, rows["BLS"] + 0.35, label, fontsize=7, va="bottom")
    _bars(axis, analysis.dropouts, rows["offline"], "#7f7f7f", analysis.end_t)
    _bars(axis, analysis.broker_outages, rows["broker"], "#c0392b", analysis.end_t)
    for start, devices in _dropout_labels(analysis.dropouts, analysis.end_t):
        _label(axis, analysis.end_t, start, rows["offline"] + 0.35, devices, fontsize=7)
    for action in analysis.actions:
        marker = "v" if action.category == "cue" else "|"
        colour = "#bbbbbb" if action.refused else ("#0072b2" if marker == "|" else "#56b4e9")
        axis.plot(_minutes(action.t), rows["operator"], marker=marker, color=colour, ms=9, mew=2)
    for note in analysis.notes:
        axis.plot(_minutes(note.t), rows["notes"], marker="^", color="#333333", ms=8)
    for alert in analysis.alerts:
        raised = alert.category == "alert"
        axis.plot(
            _minutes(alert.t),
            rows["alerts"],
            marker="X" if raised else "o",
            color="#d62728" if raised else "#f4a3a3",
            ms=8,
        )
    for safety in analysis.safety:
        axis.plot(_minutes(safety.t), rows["alerts"], marker="D", color="#ff7f0e", ms=7)
    axis.set_ylim(0.4, len(RAIL) + 0.8)
    axis.set_yticks([rows[name] for name in RAIL])
    axis.set_yticklabels(
        ["BLS sets", "devices offline", "broker outage", "operator / cue", "notes", "alerts"]
    )
    axis.tick_params(axis="y", labelsize=8)
    axis.legend(handles=MARKER_LEGEND, **OUTSIDE)


MARKER_LEGEND = [
    Line2D([], [], marker="|", ls="", color="#0072b2", ms=9, mew=2, label="operator action"),
    Line2D([], [], marker="|", ls="", color="#bbbbbb", ms=9, mew=2, label="refused action"),
    Line2D([], [], marker="v", ls="", color="#56b4e9", ms=8, label="plan cue"),
    Line2D([], [], marker="^", ls="", color="#333333", ms=8, label="note"),
    Line2D([], [], marker="X", ls="", color="#d62728", ms=8, label="vitals alert"),
    Line2D([], [], marker="o", ls="", color="#f4a3a3", ms=8, label="alert cleared"),
    Line2D([], [], marker="D", ls="", color="#ff7f0e", ms=7, label="safety event"),
]


def _dropout_labels(spans: list[Span], end_t: float) -> list[tuple[float, str]]:
    """One label per group of dropouts that began together (within 1 % of the session)."""
    groups: list[tuple[float, list[str]]] = []
    for span in sorted(spans, key=lambda s: s.start):
        if groups and span.start - groups[-1][0] <= 0.01 * end_t:
            groups[-1][1].append(span.label)
        else:
            groups.append((span.start, [span.label]))
    return [(start, ", ".join(sorted(set(names)))) for start, names in groups]


def _bars(axis: Any, spans: list[Span], row: float, colour: str, end_t: float) -> None:
    if spans:
        axis.broken_barh(
            [_extent(s.start, s.duration_s, end_t) for s in spans],
            (row - 0.3, 0.6),
            color=colour,
        )


def _vitals_panel(axis: Any, analysis: SessionAnalysis) -> None:
    if not analysis.vitals:
        axis.text(0.5, 0.5, "no vitals recorded", transform=axis.transAxes, ha="center")
        axis.set_yticks([])
        return
    saturation = axis.twinx()
    for device, measures in sorted(analysis.vitals.items()):
        if "hr" in measures:
            times, values = _with_gaps(measures["hr"])
            axis.plot(times, values, ".-", ms=4, lw=1, label=f"HR {device}")
        if "spo2" in measures:
            saturation.plot(
                [_minutes(t) for t, _ in measures["spo2"]],
                [value for _, value in measures["spo2"]],
                ".",
                ms=3,
                color="#17becf",
                label="SpO₂",
            )
        if "sys" in measures and "dia" in measures:
            for (t, high), (_, low) in zip(measures["sys"], measures["dia"], strict=False):
                axis.plot([_minutes(t)] * 2, [low, high], color="#9467bd", lw=3, alpha=0.8)
            axis.plot([], [], color="#9467bd", lw=3, label=f"BP sys–dia {device}")
    axis.set_ylabel("HR (bpm), BP (mmHg)")
    saturation.set_ylabel("SpO₂ (%)", color="#17becf")
    saturation.set_ylim(85, 100.5)
    handles, labels = axis.get_legend_handles_labels()
    more, more_labels = saturation.get_legend_handles_labels()
    axis.legend(
        handles + more[:1], labels + more_labels[:1], **{**OUTSIDE, "bbox_to_anchor": (1.06, 1.0)}
    )


def _with_gaps(readings: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """Minutes and values, broken (NaN) where readings stopped for over 5× their usual gap."""
    gaps = sorted(b - a for (a, _), (b, _) in itertools.pairwise(readings))
    usual = gaps[len(gaps) // 2] if gaps else 0.0
    times: list[float] = []
    values: list[float] = []
    for index, (t, value) in enumerate(readings):
        if index and usual and t - readings[index - 1][0] > 5 * usual:
            times.append(math.nan)
            values.append(math.nan)
        times.append(_minutes(t))
        values.append(value)
    return times, values


def _extent(start: float, duration: float, end_t: float) -> tuple[float, float]:
    """A bar's (start, width) in minutes, never too thin to see."""
    return _minutes(start), max(_minutes(duration), 0.002 * _minutes(end_t))


def _extended(points: list[tuple[float, float]], end_t: float) -> tuple[list[float], list[float]]:
    """Step-plot coordinates in minutes, the last value held to the session end."""
    times = [_minutes(t) for t, _ in points] + [_minutes(end_t)]
    values = [value for _, value in points]
    return times, values + values[-1:]


def _signed_minutes(seconds: float) -> str:
    sign = "+" if seconds >= 0 else "−"
    minutes, rest = divmod(round(abs(seconds)), 60)
    return f"{sign}{minutes}:{rest:02d}"
