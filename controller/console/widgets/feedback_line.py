"""One line saying what became of the last command: done, refused and why, or no reply."""

from __future__ import annotations

from textual.content import Content

from controller.console.view import Feedback, RoomView
from controller.console.widgets.base import ViewWidget


def feedback_text(feedback: Feedback) -> tuple[str, str]:
    """(text, style) for a command's fate."""
    outcome = feedback.outcome
    if outcome is None and feedback.until_connected:
        return f"… {feedback.label}: not connected, sent when the broker is back", "bold $error"
    if outcome is None:
        return f"… {feedback.label}: sent, waiting for the engine", "$text-muted"
    if outcome.kind == "done":
        return f"✓ {feedback.label}", "$success"
    if outcome.kind == "refused":
        return f"✗ {feedback.label} refused: {outcome.reason}", "bold $error"
    if outcome.kind == "no_reply":
        return f"✗ {feedback.label}: {outcome.reason}", "bold $error"
    return f"✗ {feedback.label} not sent: {outcome.reason}", "bold $error"


class FeedbackLine(ViewWidget):
    DEFAULT_CSS = "FeedbackLine { height: 1; padding: 0 1; }"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        if view.feedback is None:
            return [Content("")]
        text, style = feedback_text(view.feedback)
        return [Content.styled(text, style).truncate(width, ellipsis=True)]
