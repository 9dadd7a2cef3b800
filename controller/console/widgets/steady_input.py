"""A text input whose cursor does not blink (nothing on the console flickers), and whose
pastes are held to what it can take."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from controller.console.formatting import shown


class SteadyInput(Input):
    def on_mount(self) -> None:
        self.cursor_blink = False

    def _on_paste(self, event: events.Paste) -> None:
        """The first line pasted, control characters shown as their pictures (`␛`), cut to
        the room left: a paste too long for the field was dropped whole, without a word."""
        event.prevent_default()
        event.stop()
        line = shown(event.text.splitlines()[0]) if event.text else ""
        start, end = sorted(self.selection)
        room = self.max_length - (len(self.value) - (end - start)) if self.max_length else None
        if room is not None and len(line) > room:
            line = line[: max(room, 0)]
            self.notify(f"The paste was cut to the field's {self.max_length} characters.")
        if line:
            self.replace(line, start, end)
