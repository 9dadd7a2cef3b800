"""The room's words in the retained state are shown as written, never read as Rich markup.

Phase names, plan titles, participants, alert messages, notes, device labels and the room's
name come from config.yaml or from whoever may publish the room's state; `[/]` or `[bold`
in one of them must neither crash the console (MarkupError) nor style the screen.
"""

from __future__ import annotations

import pytest

from controller.api.state import Alert, DeviceInfo, RoomState, TimelineEntry
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import screen_text
from tests.console.standin_engine import StandInEngine

pytestmark = pytest.mark.mosquitto

WORDS = {
    "room": "Room [/] A",
    "plan": "Plan [bold red]x",
    "phase": "[/]peak",
    "participant": "P[/]1",
    "alert": "pulse [/] [bold high",
    "note": "[link=http://evil.example]note[/link]",
    "device": "Strip [/] [bold",
}


def hostile(state: RoomState) -> RoomState:
    """`state` with markup in every piece of the room's text the console shows."""
    assert state.session is not None and state.phase is not None
    strip: DeviceInfo = state.devices["strip"].model_copy(
        update={"label": WORDS["device"], "available": "offline"}
    )
    note = TimelineEntry(t=state.session.t, wall=state.updated, kind="note", text=WORDS["note"])
    alert = Alert(
        key="vitals:oximeter:hr",
        kind="vitals",
        level="critical",
        message=WORDS["alert"],
        since=state.updated,
    )
    return state.model_copy(
        update={
            "name": WORDS["room"],
            "session": state.session.model_copy(
                update={"plan_title": WORDS["plan"], "participant": WORDS["participant"]}
            ),
            "phase": state.phase.model_copy(update={"name": WORDS["phase"]}),
            "plan_phases": [
                phase.model_copy(update={"name": WORDS["phase"]})
                if phase.name == state.phase.name
                else phase
                for phase in state.plan_phases
            ],
            "devices": {**state.devices, "strip": strip},
            "timeline": [*state.timeline, note],
            "alerts": [alert],
        }
    )


async def test_markup_in_the_live_state_is_shown_as_plain_text(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = hostile(states.live_state(room))
    async with console_showing(engine, endpoint, state) as (app, pilot):
        await pilot.pause()
        text = screen_text(app)
        for key in ("participant", "plan", "room", "alert", "note", "device"):
            assert WORDS[key] in text, key
        assert WORDS["phase"].upper() in text  # in the plan's phases, the current one shouts


async def test_markup_in_the_plans_and_the_rooms_name_is_shown_as_plain_text(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.setup_state(
        room, name=WORDS["room"], plans={"standard": WORDS["plan"], "other": "[/]"}
    )
    async with console_showing(engine, endpoint, state) as (app, pilot):
        await pilot.pause()
        assert WORDS["plan"] in screen_text(app)
