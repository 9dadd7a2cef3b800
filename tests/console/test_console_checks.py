"""The vitals checks on the console (docs/safety.md#vitals-checks), against the stand-in engine.

A start asks to confirm the baseline, and for a reason when a reading is outside the
thresholds or too old; finishing asks for the recovery check, or a reason to go without it.
Each is judged by the commands that reach the engine on the real Mosquitto.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox

from controller.console.app import ConsoleApp
from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine

pytestmark = pytest.mark.mosquitto


async def ask_to_start(app: ConsoleApp, pilot: Pilot[None]) -> None:
    """Type the participant's code and press Enter: the baseline is asked for."""
    await pilot.press(*"P014", "enter")
    await eventually(lambda: "Confirm the baseline" in screen_text(app))


def fields(command: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in command.items() if name not in ("id", "source")}


async def test_a_fine_baseline_is_confirmed_with_the_start(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.setup_state(room)) as (app, pilot):
        await ask_to_start(app, pilot)
        assert "Blood-pressure cuff: HR 73 · BP 126/81 · 2 min ago" in screen_text(app)
        await pilot.press("enter")
        await eventually(lambda: engine.commands, what="start reaches the engine")
    assert fields(engine.commands[0]) == {
        "action": "start",
        "plan": "standard",
        "participant": "P014",
        "baseline_confirmed": True,
    }


async def test_a_baseline_outside_the_thresholds_starts_only_with_a_typed_reason(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.baseline_outside(states.setup_state(room))
    async with console_showing(engine, endpoint, state) as (app, pilot):
        await ask_to_start(app, pilot)
        await pilot.press("enter")
        await eventually(lambda: "Type a reason to start" in screen_text(app))
        assert engine.commands == []
        await pilot.press(*"approved by Dr K", "enter")
        await eventually(lambda: engine.commands, what="start reaches the engine")
    assert engine.commands[0]["reason"] == "approved by Dr K"
    assert engine.commands[0]["baseline_confirmed"] is True


async def test_cancelling_the_baseline_sends_nothing(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.setup_state(room)) as (app, pilot):
        await ask_to_start(app, pilot)
        await pilot.click("#cancel")
        await eventually(lambda: "Confirm the baseline" not in screen_text(app))
    assert engine.commands == []


def awaiting_recovery(room: str) -> Any:
    return states.awaiting_recovery(states.live_state(room, "integration"))


async def test_finishing_asks_for_the_recovery_check_and_records_it_before_the_end(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, awaiting_recovery(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("end_session"))
        await eventually(lambda: "Recovery check before" in screen_text(app))
        assert "Peak ended 39 min ago" in screen_text(app)
        await pilot.click("#record")
        await eventually(lambda: "Confirm “oriented” or type why not." in screen_text(app))
        app.screen.query_one("#item-0", Checkbox).value = True
        app.screen.query_one("#item-1", Checkbox).value = True
        await pilot.click("#why-2")
        await pilot.press(*"taxi booked")
        await pilot.click("#record")
        await eventually(lambda: len(engine.commands) == 2, what="recovery, then end")
    assert [fields(command) for command in engine.commands] == [
        {
            "action": "recovery",
            "items": {"oriented": True, "walks unaided": True, "escort present": "taxi booked"},
        },
        {"action": "end"},
    ]


async def test_a_refused_recovery_check_does_not_end_the_session(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    engine.refusals["recovery"] = "answer each checklist item exactly once"
    async with console_showing(engine, endpoint, awaiting_recovery(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("end_session"))
        await eventually(lambda: "Recovery check before" in screen_text(app))
        for index in range(3):
            app.screen.query_one(f"#item-{index}", Checkbox).value = True
        await pilot.click("#record")
        await eventually(lambda: "refused: answer each checklist item" in screen_text(app))
    assert engine.actions() == ["recovery"]


async def test_ending_without_the_recovery_check_asks_why(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, awaiting_recovery(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("end_session"))
        await eventually(lambda: "Recovery check before" in screen_text(app))
        await pilot.click("#skip")
        await eventually(lambda: "Why does the session end without" in screen_text(app))
        await pilot.press("enter")
        assert engine.commands == [], "no reason, no end"
        await pilot.press(*"left early, escorted", "enter")
        await eventually(lambda: engine.commands, what="end reaches the engine")
    assert fields(engine.commands[0]) == {"action": "end", "reason": "left early, escorted"}
