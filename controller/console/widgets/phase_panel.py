"""The session at a glance: the phases as a track, the current one large, its time, what is next."""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.events import Resize
from textual.reactive import reactive
from textual.widgets import Digits

from controller.api.state import PhaseInfo
from controller.console.formatting import clock_time
from controller.console.view import RoomView
from controller.console.widgets.base import ViewWidget
from controller.console.widgets.big_text import big_text

PHASES = ("centering", "peak", "return", "integration")
WIDE_ENOUGH_FOR_CLOCK = 110
"""Columns from which the elapsed time is drawn in large digits too."""


class PhaseTrack(ViewWidget):
    DEFAULT_CSS = "PhaseTrack { height: 1; }"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        state = view.state
        if state is None or state.phase is None:
            return [Content("")]
        names = [phase.name for phase in state.plan_phases] or list(PHASES)
        current = state.phase.index
        parts: list[str | tuple[str, str]] = []
        drawn = 0
        for index, name in enumerate(names):
            if drawn > width and index > current:  # the rest is cut off anyway
                break
            drawn += len(name) + 6
            if index:
                parts.append((" ── ", "$text-muted"))
            if index < current:
                parts.append((f"✓ {name}", "$text-muted"))
            elif index == current:
                parts.append((f" ● {name.upper()} ", "bold $background on $accent"))
            else:
                parts.append((f"○ {name}", ""))
        return [Content.assemble(*parts).truncate(width, ellipsis=True)]


class PhaseName(ViewWidget):
    DEFAULT_CSS = "PhaseName { height: 3; width: auto; color: $accent; text-style: bold; }"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        phase = view.state.phase if view.state is not None else None
        return [Content(row) for row in big_text(phase.name)] if phase is not None else []


class PhaseClock(Digits):
    """The elapsed time of the phase in large digits."""

    DEFAULT_CSS = "PhaseClock { width: auto; margin: 0 0 0 3; }"

    view: reactive[RoomView | None] = reactive(None)

    def watch_view(self, view: RoomView | None) -> None:
        phase = view.state.phase if view is not None and view.state is not None else None
        self.update(clock_time(phase.elapsed_s) if phase is not None else "")


class PhaseDetails(ViewWidget):
    DEFAULT_CSS = "PhaseDetails { height: 3; width: 1fr; padding: 0 0 0 3; }"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        state = view.state
        if state is None or state.phase is None:
            return []
        phase = state.phase
        time_line = Content.assemble(
            (clock_time(phase.elapsed_s), "bold"), f" of {clock_time(phase.planned_s)}"
        )
        if phase.next is None:
            next_line = Content.styled("last phase", "$text-muted")
        else:
            next_line = Content.assemble(
                ("next ", "$text-muted"), (phase.next, "bold"), f" · {phase.advance}"
            )
        marks: list[str | tuple[str, str]] = []
        if phase.held:
            marks += [(" HELD ", "bold $background on $warning"), " "]
        if phase.extended_s:
            marks += [(f"+{clock_time(phase.extended_s)}", "bold $warning"), " "]
        if state.scene:
            marks += [("scene ", "$text-muted"), state.scene]
        return [
            line.truncate(width, ellipsis=True)
            for line in (time_line, next_line, Content.assemble(*marks))
        ]


class PhaseProgress(ViewWidget):
    DEFAULT_CSS = "PhaseProgress { height: 1; }"

    def view_lines(self, view: RoomView, width: int) -> list[Content]:
        phase = view.state.phase if view.state is not None else None
        if phase is None:
            return [Content("")]
        summary = progress_summary(phase)
        bar_width = max(width - len(summary) - 1, 0)
        filled = round(phase_done(phase) * bar_width)
        over = phase.elapsed_s > phase.planned_s
        return [
            Content.assemble(
                ("━" * filled, "$warning" if over else "$accent"),
                ("─" * (bar_width - filled), "$text-muted"),
                " ",
                (summary, "bold $warning" if over else ""),
            )
        ]


def progress_summary(phase: PhaseInfo) -> str:
    """`42% · 23:00 left`, or `over by 02:13` past the planned time."""
    remaining = phase.planned_s - phase.elapsed_s
    if remaining < 0:
        return f"over by {clock_time(-remaining)}"
    share = round(100 * phase_done(phase))
    return f"{share:3d}% · {clock_time(remaining)} left"


def phase_done(phase: PhaseInfo) -> float:
    """The share of the planned time elapsed, 0 to 1 (1 for a phase of no planned time, or
    one elapsed beyond it however large the ratio)."""
    if not phase.planned_s > 0:
        return 1.0
    ratio = phase.elapsed_s / phase.planned_s
    return 0.0 if math.isnan(ratio) else min(max(ratio, 0.0), 1.0)


class PhasePanel(Vertical):
    DEFAULT_CSS = """
    PhasePanel { height: auto; background: $boost; padding: 0 1; }
    PhasePanel > Horizontal { height: 3; }
    PhasePanel PhaseClock { display: none; }
    PhasePanel.-wide PhaseClock { display: block; }
    """

    view: reactive[RoomView | None] = reactive(None)

    def compose(self) -> ComposeResult:
        yield PhaseTrack().data_bind(PhasePanel.view)
        with Horizontal():
            yield PhaseName().data_bind(PhasePanel.view)
            yield PhaseClock().data_bind(PhasePanel.view)
            yield PhaseDetails().data_bind(PhasePanel.view)
        yield PhaseProgress().data_bind(PhasePanel.view)

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width >= WIDE_ENOUGH_FOR_CLOCK, "-wide")
