"""Before the session: each vitals sensor's latest reading, its age, and the start thresholds."""

from __future__ import annotations

from textual.content import Content

from controller.api.state import BaselineInfo, BaselineReading, RoomState, VitalsInfo
from controller.console.formatting import age_text
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget
from controller.console.widgets.preflight_panel import BAD, GOOD, check_line
from controller.console.widgets.vitals_panel import vitals_rows


def reading_text(reading: VitalsInfo | None) -> str:
    """`HR 72 · SpO₂ 97%`, or `no reading` when the sensor has given none."""
    if reading is None:
        return "no reading"
    return " · ".join(f"{label} {value}" for label, value, _ in vitals_rows(reading)) or "empty"


def thresholds_text(baseline: BaselineInfo) -> str:
    """The pre-session thresholds in a line: what starts without a reason."""
    limits = baseline.thresholds
    if not limits:
        return ""

    def limit(name: str) -> str:
        value = limits.get(name)
        return "?" if value is None else f"{value:g}"  # a threshold the engine did not give

    max_age = limits.get("max_age_s")
    return (
        f"starts without a reason: HR {limit('hr_low')} to under {limit('hr_below')}, "
        f"SpO₂ ≥ {limit('spo2_low')}%, BP under {limit('sys_below')}/"
        f"{limit('dia_below')}, readings under {'?' if max_age is None else age_text(max_age)} old"
    )


def sensor_name(state: RoomState, sensor: str) -> str:
    device = state.devices.get(sensor)
    return (device.label if device is not None else None) or sensor


def baseline_line(state: RoomState, entry: BaselineReading) -> Content:
    """One sensor: mark, name, reading, age, and what is outside (if anything)."""
    age = "" if entry.age_s is None else f" · {age_text(entry.age_s)} ago"
    text = f"{sensor_name(state, entry.sensor)}: {reading_text(entry.reading)}{age}"
    if not entry.problems:
        return check_line(GOOD, text)
    return Content.assemble(check_line(BAD, text), (f" — {'; '.join(entry.problems)}", "$error"))


class BaselinePanel(ViewWidget):
    DEFAULT_CSS = """
    BaselinePanel {
        height: auto; border-top: hkey $panel-lighten-2; border-title-color: $text-muted;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Baseline vitals"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        state = view.state
        if state is None:
            return [Content.styled("no state from the engine yet", "$text-muted")]
        baseline = state.checks.baseline
        if not baseline.sensors:
            return [Content.styled("the room has no vitals sensor", "$text-muted")]
        lines = [baseline_line(state, entry) for entry in baseline.sensors]
        lines.append(Content.styled(thresholds_text(baseline), "$text-muted"))
        return [line.truncate(width, ellipsis=True) for line in lines]
