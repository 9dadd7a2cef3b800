"""A widget that draws one part of the `RoomView`, line by line."""

from __future__ import annotations

from textual.content import Content
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from controller.console.view import RoomView


class ViewWidget(Widget):
    """Renders `view` as the lines `view_lines` gives for the widget's width."""

    view: reactive[RoomView | None] = reactive(None, layout=True)

    def render(self) -> Content:
        if self.view is None:
            return Content("")
        width = max(self.content_size.width, 1)
        return Content("\n").join(self.view_lines(self.view, width))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if self.view is None:
            return 0
        return len(self.view_lines(self.view, max(width, 1)))

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        raise NotImplementedError
