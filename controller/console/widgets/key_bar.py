"""The keys that work now, from the keymap in force; each is clickable (tablets have no keys)."""

from __future__ import annotations

from functools import cache

from textual.content import Content
from textual.style import Style

from controller.console.keymap import CONTROLS, Control, Keymap
from controller.console.view import RoomView, offered
from controller.console.widgets.base import ViewWidget


def key_item(control: Control, keymap: Keymap, enabled: bool) -> Content:
    if not enabled:
        cap_style, label_style = "$text-disabled on $panel", "$text-disabled"
    elif control.id == "emergency":
        cap_style, label_style = "bold $text on $error", "bold $error"
    else:
        cap_style, label_style = "bold $background on $accent-muted", "$text"
    item = Content.assemble(
        (f" {keymap.display(control.id)} ", cap_style), (f" {control.label}", label_style)
    )
    return item.stylize(click_to(control))


@cache
def click_to(control: Control) -> Style:
    """Clicking runs the control's action. Built once, not parsed from a style string: a
    string naming each key's action is a style of its own, parsed anew the first time each is
    drawn (a third of the console's first frame with the room's state)."""
    return Style.from_meta({"@click": f"app.{control.action}"})


def pack(items: list[Content], width: int, gap: int = 2) -> list[Content]:
    """Items on as few lines of `width` as they fit, in order."""
    lines: list[list[Content]] = [[]]
    used = 0
    for item in items:
        needed = item.cell_length + (gap if lines[-1] else 0)
        if lines[-1] and used + needed > width:
            lines.append([])
            used, needed = 0, item.cell_length
        lines[-1].append(item)
        used += needed
    return [Content(" " * gap).join(line) for line in lines if line]


class KeyBar(ViewWidget):
    DEFAULT_CSS = """
    KeyBar {
        height: auto; background: $panel; padding: 0 1;
        link-style: none; link-style-hover: bold; link-background-hover: $panel-lighten-2;
    }
    """

    def __init__(self, keymap: Keymap, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.keymap = keymap

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        items = []
        for control in CONTROLS:
            state = offered(control, view)
            if state is not False:
                items.append(key_item(control, self.keymap, enabled=state is True))
        return pack(items, width)
