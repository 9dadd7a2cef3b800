"""The recent timeline: phase changes, overrides, notes, safety events and alerts, newest last."""

from __future__ import annotations

from textual.content import Content

from controller.api.state import TimelineEntry
from controller.console.formatting import clock_time, local_time
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget

KIND_STYLES = {
    "phase": "bold $accent",
    "scene": "$accent",
    "note": "$secondary",
    "safety": "bold $error",
    "alert": "bold $warning",
    "error": "bold $error",
    "broker": "$warning",
    "availability": "$warning",
}
KIND_WIDTH = 9


def timeline_line(entry: TimelineEntry) -> Content:
    when = clock_time(entry.t) if entry.t is not None else local_time(entry.wall)
    style = KIND_STYLES.get(entry.kind, "")
    return Content.assemble(
        (when.rjust(8), "$text-muted"),
        " ",
        (entry.kind[: KIND_WIDTH - 1].ljust(KIND_WIDTH), style or "$text-muted"),
        (entry.text, style),
    )


class TimelinePanel(ViewWidget):
    DEFAULT_CSS = """
    TimelinePanel {
        height: 1fr; min-height: 3;
        border-top: hkey $panel-lighten-2; border-title-color: $text-muted;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Timeline"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        entries = view.state.timeline if view.state is not None else []
        if not entries:
            return [Content.styled("nothing yet", "$text-muted")]
        shown = entries[-max(self.content_size.height, 1) :]
        return [timeline_line(entry).truncate(width, ellipsis=True) for entry in shown]
