"""Pre-flight before a session: broker, engine, journal, playlists and every device."""

from __future__ import annotations

from textual.content import Content

from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget

GOOD, BAD, DOUBT = ("✓", "$success"), ("✕", "bold $error"), ("!", "bold $warning")


def check_line(mark: tuple[str, str], text: str) -> Content:
    symbol, style = mark
    return Content.assemble((f" {symbol} ", style), (text, "bold" if mark is BAD else ""))


def preflight_lines(view: RoomView) -> list[Content]:
    lines = [
        check_line(GOOD, "broker connected")
        if view.broker_connected
        else check_line(BAD, f"broker not connected ({view.broker_url})")
    ]
    engine_mark = {"online": GOOD, "offline": BAD, "unknown": DOUBT}[view.engine]
    version = f" ({view.state.engine_version})" if view.state is not None else ""
    lines.append(check_line(engine_mark, f"engine {view.engine}{version}"))
    state = view.state
    if state is None:
        return lines
    preflight = state.preflight
    if preflight is None:
        lines.append(check_line(DOUBT, "no pre-flight report from the engine"))
    else:
        if preflight.journal_writable:
            lines.append(check_line(GOOD, "journal writable"))
        else:
            problem = preflight.journal_problem or "no reason given"
            lines.append(check_line(BAD, f"journal NOT writable: {problem}"))
        if preflight.playlists_missing:
            missing = ", ".join(preflight.playlists_missing)
            lines.append(check_line(DOUBT, f"playlists missing: {missing}"))
        else:
            lines.append(check_line(GOOD, "playlists present"))
    for device_id, device in state.devices.items():
        essential = " · essential" if device.essential else ""
        name = device.label or device_id
        if device.available == "online":
            lines.append(check_line(GOOD, f"{name}{essential}"))
        elif device.essential:
            lines.append(check_line(BAD, f"{name} {device.available.upper()}{essential}"))
        else:
            lines.append(check_line(DOUBT, f"{name} {device.available}"))
    return lines


class PreflightPanel(ViewWidget):
    DEFAULT_CSS = """
    PreflightPanel {
        height: 1fr; border-top: hkey $panel-lighten-2; border-title-color: $text-muted;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Pre-flight"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        lines = preflight_lines(view)
        height = max(self.content_size.height, 1)
        columns = -(-len(lines) // height)
        column_width = max(width // columns, 2)
        return [
            Content("").join(
                lines[index].truncate(column_width - 1, ellipsis=True, pad=True).pad_right(1)
                for index in range(row, len(lines), height)
            )
            for row in range(min(height, len(lines)))
        ]
