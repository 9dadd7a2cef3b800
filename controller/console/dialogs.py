"""The two dialogs: a yes/no confirmation and the note input. Neither uses the emergency key."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from controller.console.widgets.steady_input import SteadyInput

NOTE_MAX_CHARS = 4000

DIALOG_CSS = """
{name} {{ align: center middle; background: $background 60%; }}
{name} > Vertical {{
    width: 64; max-width: 100%; height: auto; padding: 1 2;
    background: $surface; border: thick $accent;
}}
{name} Label {{ width: 100%; margin-bottom: 1; }}
{name} Horizontal {{ height: auto; align-horizontal: right; }}
{name} Button {{ margin-left: 2; }}
"""


class ConfirmDialog(ModalScreen[bool]):
    """A question answered with y or n (or the buttons); keys typed before it was asked (in
    one burst with the one that asked: `x tab enter`) answer nothing (`ConsoleApp.on_key`)."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmDialog")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "yes", show=False),
        Binding("n", "answer(False)", "no", show=False),
    ]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.asked_at = Message().time
        """When the question was asked, by the clock Textual stamps each key with."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="question")
            with Horizontal():
                yield Button("No (n)", id="no")
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class NoteDialog(ModalScreen[str | None]):
    """A note for the timeline; Enter adds it, an empty note or Cancel adds nothing. `draft`:
    the text it opens with (a note typed before that did not reach the engine); the empty
    note Enter gives back (`""`) says it is no longer wanted, Cancel (None) keeps it."""

    DEFAULT_CSS = DIALOG_CSS.format(name="NoteDialog")

    def __init__(self, draft: str = "") -> None:
        super().__init__()
        self.draft = draft

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Note for the session timeline (Enter adds it)")
            yield SteadyInput(self.draft, max_length=NOTE_MAX_CHARS, id="note")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Add note", id="add", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#note", Input).focus()

    @on(Input.Submitted, "#note")
    @on(Button.Pressed, "#add")
    def _add(self) -> None:
        self.dismiss(self.query_one("#note", Input).value.strip())

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
