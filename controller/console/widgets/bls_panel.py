"""Bilateral stimulation: running or not, speed, passes or set time."""

from __future__ import annotations

from textual.content import Content

from controller.console.formatting import clock_time
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget


class BlsPanel(ViewWidget):
    DEFAULT_CSS = """
    BlsPanel { height: auto; border-top: hkey $panel-lighten-2; border-title-color: $text-muted; }
    """

    def on_mount(self) -> None:
        self.border_title = "BLS"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        if view.state is None:
            return []
        bls = view.state.bls
        speed = f"{bls.speed_hz:.1f} Hz" if bls.speed_hz is not None else "speed –"
        running = ("● running", "bold $success") if bls.running else ("stopped", "$text-muted")
        first = Content.assemble(running, f"  {speed}", f"  {bls.mode}" if bls.mode else "")
        progress = []
        if bls.pass_count is not None:
            of = f"/{bls.passes}" if bls.passes is not None else ""
            progress.append(f"pass {bls.pass_count}{of}")
        if bls.set_elapsed_s is not None:
            of = f" / {clock_time(bls.seconds)}" if bls.seconds is not None else ""
            progress.append(f"set {clock_time(bls.set_elapsed_s)}{of}")
        if not progress and bls.devices:
            progress.append(", ".join(bls.devices))
        return [
            first.truncate(width, ellipsis=True),
            Content("  ".join(progress)).truncate(width, ellipsis=True),
        ]
