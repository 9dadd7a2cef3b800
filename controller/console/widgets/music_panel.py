"""Music: the title playing, its position and the volume."""

from __future__ import annotations

from textual.content import Content

from controller.console.formatting import clock_time, percent
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget


class MusicPanel(ViewWidget):
    DEFAULT_CSS = """
    MusicPanel { height: auto; border-top: hkey $panel-lighten-2; border-title-color: $text-muted; }
    """

    def on_mount(self) -> None:
        self.border_title = "Music"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        if view.state is None:
            return []
        music = view.state.music
        if not music.available or music.status == "unavailable":
            reason = music.error or "no music player on the room PC"
            return [Content.styled(f"unavailable: {reason}", "bold $error")]
        title = music.title or ("—" if music.status == "stopped" else "untitled")
        position = ""
        if music.position_s is not None:
            length = f" / {clock_time(music.duration_s)}" if music.duration_s is not None else ""
            position = f"{clock_time(music.position_s)}{length}  "
        status_style = "$success" if music.status == "playing" else "$warning"
        second = Content.assemble(
            position, (music.status, status_style), "  vol ", (percent(music.volume), "bold")
        )
        if music.error:
            second = Content.assemble(second, "  ", (music.error, "$error"))
        return [
            Content.assemble(("♪ ", "$accent"), (title, "bold")).truncate(width, ellipsis=True),
            second.truncate(width, ellipsis=True),
        ]
