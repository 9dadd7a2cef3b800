"""A retained state cleared on the broker (an empty payload, which anyone who may publish
there can send) says nothing about the room: during a session the console keeps the live
screen with the last state, which goes stale, and says the state was cleared; it did not
switch to the setup screen ("Before the session") until the engine's next state, closing
any dialog open. On the real Mosquitto, with the stand-in engine."""

from __future__ import annotations

import pytest

from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine

pytestmark = pytest.mark.mosquitto


async def test_a_cleared_state_during_a_session_keeps_the_live_screen_and_says_so(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.live_state(room)
    async with console_showing(engine, endpoint, state) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("note"))
        await eventually(lambda: "Note for the session timeline" in screen_text(app))
        await pilot.press(*"half way through")

        await engine.publish_raw_state(b"")
        await eventually(
            lambda: app.view.state is None or app.view.state_problem is not None,
            what="the cleared state heard",
        )
        await pilot.pause()

        assert app.view.state == state
        assert "cleared" in (app.view.state_problem or "")
        assert "Note for the session timeline" in screen_text(app)
        assert "Before the session" not in screen_text(app)
