"""The participant's code typed for one session is not offered for the next: after a session,
the setup screen asks for the next participant's code afresh (with the last one's left in
the field, a start with one keypress filed the next participant's session under it). The
stand-in engine on the real Mosquitto publishes the session's states."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import confirm_baseline, eventually
from tests.console.standin_engine import StandInEngine

pytestmark = pytest.mark.mosquitto


async def test_after_a_session_the_participant_code_is_asked_afresh(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    setup = states.setup_state(room)
    async with console_showing(engine, endpoint, setup) as (app, pilot):
        code = app.query_one("#participant", Input)
        await pilot.click("#participant")
        await pilot.press(*"P014", "enter")
        await confirm_baseline(app, pilot)
        await eventually(lambda: engine.actions() == ["start"], what="the start sent")

        live = states.live_state(room)
        await engine.publish_state(live)
        await eventually(lambda: app.view.in_session, what="the session shown")
        after = states.setup_state(room, at=live.session.t + 600 if live.session else 0)
        await engine.publish_state(after)
        await eventually(lambda: not app.view.in_session, what="the setup shown again")
        await pilot.pause()

        assert code.value == ""
