"""The vitals checks' screens: confirm the baseline before the start, the recovery check before
the end, and the reason asked for when a check is skipped (docs/safety.md#vitals-checks).

The console decides nothing clinical: it shows the readings, asks, and sends what the
therapist confirmed; the engine journals it. None of these screens uses the emergency key.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from controller.api.commands import REASON_MAX_CHARS
from controller.api.state import RoomState, VitalsInfo
from controller.console.dialogs import DIALOG_CSS
from controller.console.formatting import age_text
from controller.console.widgets.baseline_panel import baseline_line, sensor_name, thresholds_text
from controller.console.widgets.steady_input import SteadyInput
from controller.console.widgets.vitals_panel import vitals_rows

WIDE_DIALOG_CSS = """
{name} > Vertical {{ width: 90; }}
{name} .problem {{ color: $error; text-style: bold; margin-bottom: 0; }}
{name} Static {{ width: 100%; }}
"""


@dataclass(frozen=True)
class BaselineAnswer:
    """The therapist confirmed the baseline; `reason` when something needed one."""

    reason: str | None


@dataclass(frozen=True)
class RecoveryAnswer:
    """Each checklist item: True when confirmed, else why not."""

    items: dict[str, bool | str]


@dataclass(frozen=True)
class EndWithoutCheck:
    """The therapist chose to end without the recovery check (the reason is asked next)."""


def _typed(value: str) -> str | None:
    return value.strip() or None


class BaselineDialog(ModalScreen[BaselineAnswer | None]):
    """Confirm the latest readings as the session's baseline; a reason when one is needed."""

    DEFAULT_CSS = DIALOG_CSS.format(name="BaselineDialog") + WIDE_DIALOG_CSS.format(
        name="BaselineDialog"
    )

    def __init__(self, state: RoomState) -> None:
        super().__init__()
        self.state = state
        self.needs_reason = state.checks.baseline.needs_reason

    def compose(self) -> ComposeResult:
        baseline = self.state.checks.baseline
        with Vertical():
            yield Label(Content.styled("Confirm the baseline before dosing", "bold"))
            lines = [baseline_line(self.state, entry) for entry in baseline.sensors]
            yield Static(Content("\n").join(lines) if lines else "no vitals sensor in the room")
            yield Static(Content.styled(thresholds_text(baseline), "$text-muted"))
            if self.needs_reason:
                yield Label(
                    "A reading is outside the thresholds or too old: "
                    "type why the session starts anyway.",
                    classes="problem",
                )
            yield SteadyInput(
                placeholder="reason (required)" if self.needs_reason else "reason (optional)",
                max_length=REASON_MAX_CHARS,
                id="reason",
            )
            yield Label("", id="problem", classes="problem")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Confirm and start", id="confirm", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        reason = _typed(self.query_one("#reason", Input).value)
        if self.needs_reason and reason is None:
            self.query_one("#problem", Label).update("Type a reason to start with this baseline.")
            return
        self.dismiss(BaselineAnswer(reason))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


def comparison_lines(state: RoomState) -> list[Content]:
    """Each measure of each sensor: its baseline beside its current reading."""
    baseline = {e.sensor: e.reading for e in state.checks.baseline.sensors}
    sensors = list(dict.fromkeys([*baseline, *state.vitals]))
    lines = [Content.styled(f"{'':<28}{'baseline':>10}{'now':>10}", "$text-muted")]
    for sensor in sensors:
        before = _values(baseline.get(sensor))
        now = _values(state.vitals.get(sensor))
        for label in dict.fromkeys([*before, *now]):
            name = f"{label} · {sensor_name(state, sensor)}"[:27]
            lines.append(
                Content.assemble(
                    (f"{name:<28}", "$text-muted"),
                    f"{before.get(label, '–'):>10}",
                    (f"{now.get(label, '–'):>10}", "bold"),
                )
            )
    return lines


def _values(reading: VitalsInfo | None) -> dict[str, str]:
    return {} if reading is None else {label: value for label, value, _ in vitals_rows(reading)}


def peak_text(state: RoomState) -> str:
    """How long ago the peak phase ended, in session time."""
    recovery = state.checks.recovery
    ended = recovery.peak_ended_t if recovery is not None else None
    if ended is not None and state.session is not None:
        return f"Peak ended {age_text(state.session.t - ended)} ago"
    if state.phase is not None and state.phase.name == "peak":
        return "Still in the peak phase"
    return "The peak phase has not ended in this session"


class RecoveryDialog(ModalScreen[RecoveryAnswer | EndWithoutCheck | None]):
    """Before the participant leaves: vitals against the baseline, and the checklist."""

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="RecoveryDialog")
        + WIDE_DIALOG_CSS.format(name="RecoveryDialog")
        + """
    RecoveryDialog .item { height: 1; margin-bottom: 0; }
    RecoveryDialog Checkbox, RecoveryDialog Checkbox:focus {
        width: 26; height: 1; border: none; padding: 0;
    }
    RecoveryDialog Checkbox:focus { background: $boost; text-style: bold; }
    RecoveryDialog .item Input, RecoveryDialog .item Input:focus {
        width: 1fr; height: 1; border: none; padding: 0 1;
    }
    RecoveryDialog .item Input:focus { background: $boost; }
    RecoveryDialog #checklist { height: auto; margin: 1 0 0 0; }
    """
    )

    def __init__(self, state: RoomState) -> None:
        super().__init__()
        self.state = state
        recovery = state.checks.recovery
        self.checklist = list(recovery.checklist) if recovery is not None else []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Content.styled("Recovery check before the participant leaves", "bold"))
            yield Static(Content.styled(peak_text(self.state), "bold"))
            yield Static(Content("\n").join(comparison_lines(self.state)))
            with Vertical(id="checklist"):
                for index, item in enumerate(self.checklist):
                    with Horizontal(classes="item"):
                        yield Checkbox(item, id=f"item-{index}")
                        yield SteadyInput(
                            placeholder="or why not",
                            max_length=REASON_MAX_CHARS,
                            id=f"why-{index}",
                        )
            yield Label("", id="problem", classes="problem")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("End without check", id="skip", variant="warning")
                yield Button("Record and finish", id="record", variant="primary")

    def on_mount(self) -> None:
        if self.checklist:
            self.query_one("#item-0", Checkbox).focus()

    def answers(self) -> dict[str, bool | str] | str:
        """Each item's answer, or what is still missing."""
        items: dict[str, bool | str] = {}
        for index, item in enumerate(self.checklist):
            if self.query_one(f"#item-{index}", Checkbox).value:
                items[item] = True
                continue
            why = _typed(self.query_one(f"#why-{index}", Input).value)
            if why is None:
                return f"Confirm “{item}” or type why not."
            items[item] = why
        return items

    @on(Button.Pressed, "#record")
    def _record(self) -> None:
        answers = self.answers()
        if isinstance(answers, str):
            self.query_one("#problem", Label).update(answers)
            return
        self.dismiss(RecoveryAnswer(answers))

    @on(Button.Pressed, "#skip")
    def _skip(self) -> None:
        self.dismiss(EndWithoutCheck())

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class ReasonDialog(ModalScreen[str | None]):
    """A reason in words (required): Enter gives it, Cancel gives none."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ReasonDialog")

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            yield SteadyInput(max_length=REASON_MAX_CHARS, id="reason")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Give reason", id="give", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted, "#reason")
    @on(Button.Pressed, "#give")
    def _give(self) -> None:
        reason = _typed(self.query_one("#reason", Input).value)
        if reason is not None:
            self.dismiss(reason)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
