"""The top line: room, plan, participant code, session time, engine and when the state was made."""

from __future__ import annotations

from textual.content import Content

from controller.console.formatting import age_text, clock_time, local_time
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget

ENGINE_STYLES = {"online": "$success", "offline": "bold $error", "unknown": "$warning"}
SESSION_CELLS = 16
"""What the participant's code and the session time need: on a screen too narrow for them
beside the full freshness, the freshness is told in short (`● 1 s`, `● STALE 6 s`)."""


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
        if width - right.cell_length - 1 < SESSION_CELLS:
            right = freshness(view, short=True)
        left = Content.assemble(*where).truncate(
            max(width - right.cell_length - 1, 0), ellipsis=True
        )
        gap = max(width - left.cell_length - right.cell_length, 1)
        return [Content.assemble(left, " " * gap, right)]


def freshness(view: RoomView, *, short: bool = False) -> Content:
    """The engine's status and the age of the state shown, marked STALE when too old;
    `short`: the status as its coloured dot, the age without the time the state was made."""
    style = ENGINE_STYLES[view.engine]
    parts: list[str | tuple[str, str]] = [("●" if short else "● ", style)]
    if not short:
        parts.append((f"engine {view.engine}", style))
    if view.state is None:
        return Content.assemble(*parts)
    age = "" if view.age_s is None else age_text(view.age_s)
    made = local_time(view.state.updated)
    ago = f", {age} ago" if age else ""
    if view.stale:
        when = age if short else f"{made}{ago}"
        parts += [" " if short else "  ", (f" STALE {when} ", "bold $background on $warning")]
    elif short:
        parts += [" ", (age, "$text-muted")]
    else:
        parts += [("  ", ""), made, (ago, "$text-muted")]
    return Content.assemble(*parts)
