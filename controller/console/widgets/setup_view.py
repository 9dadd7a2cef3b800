"""Before the session: choose the plan, enter the participant's code, check the room, start."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.validation import Regex
from textual.widgets import Button, Input, Label, Select, Static

from controller.api.commands import PARTICIPANT_CODE, participant_code
from controller.console.view import RoomView, readiness
from controller.console.widgets.baseline_panel import BaselinePanel
from controller.console.widgets.preflight_panel import PreflightPanel
from controller.console.widgets.steady_input import SteadyInput

CODE_RULE = "a pseudonymous code such as P014: letters, digits, dashes, with a digit — never a name"


class SetupView(Vertical):
    DEFAULT_CSS = """
    SetupView { padding: 0 1; }
    SetupView #setup-title { text-style: bold; color: $accent; height: 1; }
    SetupView Horizontal { height: 3; }
    SetupView .field-label { width: 13; height: 3; content-align: left middle; }
    SetupView Select { width: 1fr; }
    SetupView Input { width: 1fr; max-width: 30; }
    SetupView #code-rule {
        width: 1fr; height: 3; content-align: left middle; color: $text-muted; padding: 0 1;
    }
    SetupView #start { margin: 0 1 0 0; }
    SetupView #readiness { width: 1fr; height: 3; content-align: left middle; }
    """

    @dataclass
    class StartRequested(Message):
        """The therapist asked to start a session with this plan and participant code."""

        plan: str
        participant: str

    view: reactive[RoomView | None] = reactive(None)

    def __init__(self, default_plan: str | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.default_plan = default_plan
        self._plans_offered: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Label("Before the session", id="setup-title")
        with Horizontal():
            yield Label("Plan", classes="field-label")
            yield Select[str]([], prompt="choose a plan", id="plan")
        with Horizontal():
            yield Label("Participant", classes="field-label")
            yield SteadyInput(
                placeholder="e.g. P014",
                max_length=24,
                validators=[Regex(PARTICIPANT_CODE.pattern, failure_description=CODE_RULE)],
                id="participant",
            )
            yield Static("pseudonymous code, never a name", id="code-rule")
        yield BaselinePanel().data_bind(SetupView.view)
        yield PreflightPanel().data_bind(SetupView.view)
        with Horizontal():
            yield Button("Start session", id="start", variant="primary", disabled=True)
            yield Static(id="readiness")

    def on_mount(self) -> None:
        self.focus_code()

    def focus_code(self) -> None:
        """Put the cursor in the participant code, ready to type."""
        self.query_one("#participant", Input).focus()

    def forget_participant(self) -> None:
        """A session began: the next one is another participant's, whose code is asked
        afresh (the last one's, left in the field, was a start away from the next session)."""
        self.query_one("#participant", Input).value = ""

    def watch_view(self, view: RoomView | None) -> None:
        if view is not None and view.state is not None:
            self._offer_plans(view.state.plans)
        self._refresh_start()

    def _offer_plans(self, plans: dict[str, str]) -> None:
        if plans == self._plans_offered:
            return
        self._plans_offered = dict(plans)
        select: Select[str] = self.query_one("#plan", Select)
        chosen = select.value
        # the room's words, not markup: a title with `[bold` is shown as written
        select.set_options([(Content(title), name) for name, title in plans.items()])
        if chosen in plans:
            select.value = chosen
        elif self.default_plan in plans:
            select.value = self.default_plan
        elif plans:
            select.value = next(iter(plans))

    @on(Input.Changed, "#participant")
    @on(Select.Changed, "#plan")
    def _form_changed(self) -> None:
        self._refresh_start()

    @on(Input.Submitted, "#participant")
    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        plan, participant, problems = self._form()
        if plan is not None and not problems:
            self.post_message(self.StartRequested(plan, participant))

    def _form(self) -> tuple[str | None, str, list[str]]:
        """The plan, the participant code and what stops a start (blockers first)."""
        view = self.view
        problems = [] if view is None else list(readiness(view).blockers)
        value = self.query_one("#plan", Select).value
        plan = value if isinstance(value, str) else None
        if plan is None:
            problems.append("choose a plan")
        participant = self.query_one("#participant", Input).value.strip()
        if not participant_code(participant):
            problems.append(f"participant: {CODE_RULE}")
        return plan, participant, problems

    def _refresh_start(self) -> None:
        if not self.is_mounted:
            return
        _, _, problems = self._form()
        warnings = readiness(self.view).warnings if self.view is not None else ()
        self.query_one("#start", Button).disabled = bool(problems)
        readiness_line = self.query_one("#readiness", Static)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            readiness_line.update(Content.styled(f"✕ {problems[0]}{more}", "bold $error"))
        elif warnings:
            readiness_line.update(
                Content.styled(f"! starts with: {'; '.join(warnings)}", "bold $warning")
            )
        else:
            readiness_line.update(Content.styled("✓ ready", "$success"))
