"""Every device of the room: available or not (offline shown loudly) and its current level."""

from __future__ import annotations

from typing import Any

from textual.content import Content

from controller.api.state import DeviceInfo
from controller.console.formatting import percent
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget

CELL_WIDTH = 32
"""Columns for one device; the panel puts as many side by side as fit."""
NARROW_CELL_WIDTH = 24
"""Narrower cells, so that a small terminal still shows two devices side by side."""


def device_reading(device: DeviceInfo) -> str:
    """What the device last reported, in a few characters."""
    state: dict[str, Any] = device.state
    if state.get("on") is False:
        return "off"
    if _is_number(state.get("level")):
        return percent(state["level"])
    if _is_number(state.get("volume")):
        return f"vol {percent(state['volume'])}"
    if "running" in state:
        return "running" if state["running"] else "idle"
    if isinstance(state.get("status"), str):
        return str(state["status"])
    return ""


def _is_number(value: object) -> bool:
    """Whether a report's `value` is a number a level or volume reads from: `true` is none
    (Python counts it as 1, which read as 100%)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def device_cell(name: str, device: DeviceInfo, width: int) -> Content:
    """One device in `width` columns; an offline one in red, OFFLINE never cut off."""
    if device.available == "offline":
        label = Content(name).truncate(max(width - len(" ✕  OFFLINE  "), 1), ellipsis=True)
        text = f" ✕ {label.plain} OFFLINE".ljust(width - 1)
        return Content.styled(text, "bold $text on $error").pad_right(1)
    if device.available == "unknown":
        mark, reading, style = "?", "unknown", "$warning"
    else:
        mark, reading, style = "●", device_reading(device), "$success"
    label = Content(name).truncate(max(width - len(reading) - 5, 1), ellipsis=True, pad=True)
    return Content.assemble((f" {mark} ", style), label, " ", (reading, "bold")).truncate(
        width, pad=True
    )


class DevicesPanel(ViewWidget):
    DEFAULT_CSS = """
    DevicesPanel {
        height: auto; width: 1fr;
        border-top: hkey $panel-lighten-2; border-title-color: $text-muted;
    }
    """

    def on_mount(self) -> None:
        self.border_title = "Devices"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        devices = view.state.devices if view.state is not None else {}
        if not devices:
            return [Content.styled("no devices reported", "$text-muted")]
        columns = max(width // CELL_WIDTH, min(width // NARROW_CELL_WIDTH, 2), 1)
        cell_width = width // columns
        shown = list(devices.items())
        rows = max(self.app.size.height, 1)
        more = len(shown) - rows * columns
        if more > 0:  # more than the screen holds: the offline first, then the rest
            shown.sort(key=lambda item: item[1].available == "online")
            shown = shown[: rows * columns - 1]
            more = len(devices) - len(shown)
        cells = [
            device_cell(device.label or device_id, device, cell_width)
            for device_id, device in shown
        ]
        if more > 0:
            cells.append(Content.styled(f" … {more} more".ljust(cell_width), "$text-muted"))
        return [
            Content("").join(cells[start : start + columns])
            for start in range(0, len(cells), columns)
        ]
