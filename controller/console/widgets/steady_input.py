"""A text input whose cursor does not blink: nothing on the console flickers."""

from __future__ import annotations

from textual.widgets import Input


class SteadyInput(Input):
    def on_mount(self) -> None:
        self.cursor_blink = False
