"""Vitals: the last value of each measure, a small trend, and the ones beyond a threshold marked;
above them the plan's timed checks: the time since each reading and a visible "BP due"."""

from __future__ import annotations

from textual.content import Content

from controller.api.state import TimedCheck, VitalsInfo
from controller.console.formatting import age_text
from controller.console.trends import sparkline
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget

LABEL_WIDTH = 5
VALUE_WIDTH = 8


def vitals_rows(reading: VitalsInfo) -> list[tuple[str, str, tuple[str, ...]]]:
    """(label, value, measures it shows; the first one's trend is drawn) per reported measure."""
    rows: list[tuple[str, str, tuple[str, ...]]] = []
    if reading.hr is not None:
        rows.append(("HR", f"{reading.hr:.0f}", ("hr",)))
    if reading.spo2 is not None:
        rows.append(("SpO₂", f"{reading.spo2:.0f}%", ("spo2",)))
    if reading.sys is not None or reading.dia is not None:
        systolic = f"{reading.sys:.0f}" if reading.sys is not None else "–"
        diastolic = f"{reading.dia:.0f}" if reading.dia is not None else "–"
        measures = ("sys", "dia") if reading.sys is not None else ("dia", "sys")
        rows.append(("BP", f"{systolic}/{diastolic}", measures))
    return rows


def timed_check_lines(check: TimedCheck, t: float) -> list[Content]:
    """`BP due · last 16 min` (loud, and whether the sensor was asked to measure) or
    `BP last 4 min · every 15 min` (quiet)."""
    since = "no reading yet" if check.last_t is None else f"last {age_text(t - check.last_t)}"
    if not check.due:
        return [
            Content.styled(
                f"{check.label} {since} · every {age_text(check.interval_s)}", "$text-muted"
            )
        ]
    lines = [Content.assemble((f" {check.label} due ", "bold $text on $error"), f" {since}")]
    if check.asked:
        lines.append(Content.styled("  asked to measure", "$text-muted"))
    return lines


class VitalsPanel(ViewWidget):
    DEFAULT_CSS = """
    VitalsPanel {
        height: auto; width: 26; margin-left: 2;
        border-top: hkey $panel-lighten-2; border-title-color: $text-muted;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Vitals"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        state = view.state
        if state is None or not (state.vitals or state.checks.timed):
            return [Content.styled("no readings", "$text-muted")]
        alerting = {alert.key for alert in state.alerts if alert.kind == "vitals"}
        spark_width = max(width - LABEL_WIDTH - VALUE_WIDTH - 1, 0)
        t = state.session.t if state.session is not None else 0.0
        rows = max(self.app.size.height, 1)  # no more than the screen holds
        lines = [
            line.truncate(width, ellipsis=True)
            for check in state.checks.timed[:rows]
            for line in timed_check_lines(check, t)
        ]
        for sensor, reading in list(state.vitals.items())[:rows]:
            for label, value, measures in vitals_rows(reading):
                alert = any(f"vitals:{sensor}:{measure}" in alerting for measure in measures)
                trend = sparkline(view.trends.series(sensor, measures[0]), spark_width)
                lines.append(
                    Content.assemble(
                        (label.ljust(LABEL_WIDTH), "$text-muted"),
                        (value.rjust(VALUE_WIDTH - 1), "bold $text on $error" if alert else "bold"),
                        " ",
                        (trend, "$error" if alert else "$accent"),
                    )
                )
        return lines
