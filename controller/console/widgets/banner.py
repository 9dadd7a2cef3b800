"""Loud lines for what is wrong: broker lost, engine offline, stale state, alerts."""

from __future__ import annotations

from textual.content import Content

from controller.console.formatting import age_text
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget

ERROR = "bold $text on $error"
WARNING = "bold $background on $warning"
MAX_LINES = 6


def banner_lines(view: RoomView) -> list[tuple[str, str]]:
    """(text, style) for every problem, the worst first."""
    lines: list[tuple[str, str]] = []
    if not view.broker_connected:
        attempt = f" (attempt {view.reconnect_attempt})" if view.reconnect_attempt else ""
        problem = f": {view.broker_problem}" if view.broker_problem else ""
        if view.broker_ever_connected:
            lost = f"BROKER CONNECTION LOST — reconnecting to {view.broker_url}{attempt}{problem}"
            lines.append((lost, ERROR))
        elif view.broker_problem is None:
            lines.append((f"Connecting to the broker at {view.broker_url}…", WARNING))
        else:
            never = f"NO BROKER CONNECTION — cannot reach {view.broker_url}{attempt}{problem}"
            lines.append((never, ERROR))
    elif view.engine == "offline":
        lines.append(
            ("ENGINE OFFLINE — the room keeps its last settings; controls are disabled", ERROR)
        )
    elif view.engine == "unknown":
        lines.append((f"Waiting for the engine of room {view.room} to say it is online…", WARNING))
    if view.state_problem:
        lines.append((view.state_problem[:1].upper() + view.state_problem[1:], ERROR))
    if view.stale and view.age_s is not None:
        lines.append(
            (
                f"STALE — no update from the engine for {age_text(view.age_s)}; "
                "what you see may be out of date",
                WARNING,
            )
        )
    if view.state is not None:
        for alert in view.state.alerts:
            style = ERROR if alert.level == "critical" else WARNING
            lines.append((f"⚠ {alert.message}", style))
    return lines


class Banner(ViewWidget):
    DEFAULT_CSS = f"Banner {{ height: auto; max-height: {MAX_LINES}; }}"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        return [  # no more than it shows: a state may hold thousands of alerts
            Content.styled(f" {text}".ljust(width), style).truncate(width, ellipsis=True)
            for text, style in banner_lines(view)[:MAX_LINES]
        ]

    def watch_view(self, view: RoomView | None) -> None:
        self.display = view is not None and bool(banner_lines(view))
