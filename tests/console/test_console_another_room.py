"""A state on this room's topic that says it is another room's (a client writing there, an
engine or a replay set up with the wrong topic) is not shown as this room's: the console
keeps the last state of its own room, and says so, on the real Mosquitto."""

from __future__ import annotations

import pytest

from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine

pytestmark = pytest.mark.mosquitto


async def test_a_state_of_another_room_on_this_room_s_topic_is_not_shown_as_this_room_s(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    ours = states.live_state(room)
    theirs = states.emergency(states.live_state("room-elsewhere")).model_copy(
        update={"name": "Room elsewhere", "updated": states.wall(5000)}
    )
    async with console_showing(engine, endpoint, ours) as (app, pilot):
        await engine.publish_state(theirs)
        await eventually(
            lambda: app.view.state != ours or app.view.state_problem is not None,
            what="the other room's state heard",
        )
        await pilot.pause()

        assert app.view.state == ours
        assert not app.view.emergency
        assert app.view.state_problem is not None and "another room" in app.view.state_problem
        assert "Room elsewhere" not in screen_text(app)
