"""The top line: room, plan, participant code, session time, engine and when the state was made."""

from __future__ import annotations

from textual.content import Content

from controller.console.formatting import age_text, clock_time, local_time
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget

ENGINE_STYLES = {"online": "$success", "offline": "bold $error", "unknown": "$warning"}


class TopBar(ViewWidget):
    DEFAULT_CSS = "TopBar { height: 1; background: $panel; padding: 0 1; }"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        state = view.state
        room_name = state.name if state is not None and state.name else view.room
        where: list[str | tuple[str, str]] = [(room_name, "bold")]
        if state is not None and state.session is not None:
            session = state.session
            where = [
                (session.participant, "bold"),
                "  ",
                (clock_time(session.t), "bold"),
                ("  ", ""),
                session.plan_title,
                ("  ·  ", "$text-muted"),
                room_name,
            ]
        right = freshness(view)
        left = Content.assemble(*where).truncate(
            max(width - right.cell_length - 1, 0), ellipsis=True
        )
        gap = max(width - left.cell_length - right.cell_length, 1)
        return [Content.assemble(left, " " * gap, right)]


def freshness(view: RoomView) -> Content:
    """The engine's status and the age of the state shown, marked STALE when too old."""
    parts: list[str | tuple[str, str]] = [
        ("● ", ENGINE_STYLES[view.engine]),
        (f"engine {view.engine}", ENGINE_STYLES[view.engine]),
    ]
    if view.state is not None:
        made = local_time(view.state.updated)
        age = "" if view.age_s is None else f", {age_text(view.age_s)} ago"
        if view.stale:
            parts += ["  ", (f" STALE {made}{age} ", "bold $background on $warning")]
        else:
            parts += [("  ", ""), made, (age, "$text-muted")]
    return Content.assemble(*parts)
