"""The emergency state, unmistakable: what the room is doing and the keys that matter now."""

from __future__ import annotations

from textual.content import Content

from controller.console.formatting import local_time
from controller.console.keymap import Keymap
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget


class EmergencyBand(ViewWidget):
    DEFAULT_CSS = """
    EmergencyBand {
        height: auto; background: $error; color: $text; text-style: bold;
        padding: 0 2; display: none;
    }
    EmergencyBand.-active { display: block; }
    """

    def __init__(self, keymap: Keymap, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.keymap = keymap

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        emergency = view.state.emergency if view.state is not None else None
        if emergency is None or not emergency.active:
            return []
        since = f" since {local_time(emergency.since)}" if emergency.since else ""
        if emergency.immediate:
            what = "everything stopped at once, lights up"
            keys = ""
        else:
            what = "lights up, BLS and VR stopped, music fading out"
            keys = f"{self.keymap.display('emergency')} again: immediate · "
        keys += f"{self.keymap.display('clear_emergency')}: clear"
        return [
            Content(f"EMERGENCY{since}").center(width),
            Content(what).center(width),
            Content(keys).center(width),
        ]

    def watch_view(self, view: RoomView | None) -> None:
        self.set_class(view is not None and view.emergency, "-active")
