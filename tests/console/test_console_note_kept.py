"""A note the console could not send is not lost: the note dialog opens with it again.

The broker here is a Mosquitto of the test's own, stopped while the note is typed (a
tablet's Wi-Fi gone) and started again; the engine is the stand-in.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input

from controller.console import link as console_link
from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

NOTE = "participant asked for a blanket, feet cold"


async def test_a_note_not_sent_for_want_of_the_broker_is_offered_again_and_sent(
    private_mosquitto: Mosquitto, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = Endpoint(private_mosquitto.host, private_mosquitto.port)
    state = states.live_state(room)
    async with (
        StandInEngine(private_mosquitto.host, private_mosquitto.port, room) as engine,
        console_showing(engine, endpoint, state) as (app, pilot),
    ):
        monkeypatch.setattr(console_link, "RECONNECT_DELAYS_S", (60.0,))
        await pilot.press(DEFAULT_KEYMAP.key("note"))
        await eventually(lambda: "Note for the session timeline" in screen_text(app))
        await pilot.press(*NOTE)
        private_mosquitto.stop()
        await eventually(lambda: not app.view.broker_connected, what="the broker is gone")
        await pilot.press("enter")
        await eventually(
            lambda: (
                app.view.feedback is not None
                and app.view.feedback.outcome is not None
                and app.view.feedback.outcome.kind == "not_sent"
            ),
            what="the note not sent",
        )

        private_mosquitto.start()
        async with StandInEngine(private_mosquitto.host, private_mosquitto.port, room) as back:
            await back.publish_state(state)
            await pilot.press(DEFAULT_KEYMAP.key("reconnect"))
            await eventually(lambda: app.view.engine_reachable, what="the engine back")
            await pilot.press(DEFAULT_KEYMAP.key("note"))
            await eventually(lambda: "Note for the session timeline" in screen_text(app))
            await pilot.pause()

            assert app.screen.query_one("#note", Input).value == NOTE
            await pilot.press("enter")
            await eventually(lambda: back.actions() == ["note"], what="the note sent")
            assert back.commands[0]["text"] == NOTE


async def test_a_note_kept_is_offered_in_its_own_session_only(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    """(A note about one participant never opens in another's session.)"""
    state = states.live_state(room)
    assert state.session is not None
    engine.refusals["note"] = "the journal is not writable"
    async with console_showing(engine, endpoint, state) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("note"))
        await eventually(lambda: "Note for the session timeline" in screen_text(app))
        await pilot.press(*NOTE, "enter")
        await eventually(lambda: engine.actions() == ["note"], what="the note refused")
        await eventually(lambda: "journal is not writable" in screen_text(app))

        await pilot.press(DEFAULT_KEYMAP.key("note"))
        await eventually(lambda: "Note for the session timeline" in screen_text(app))
        assert app.screen.query_one("#note", Input).value == NOTE
        await pilot.click("#cancel")
        await eventually(lambda: "Note for the session timeline" not in screen_text(app))

        following = state.model_copy(
            update={
                "session": state.session.model_copy(update={"id": "20250314-1100-room-a"}),
                "updated": states.wall(state.session.t + 7200),
            }
        )
        await engine.publish_state(following)
        await eventually(lambda: app.view.state == following, what="the next session shown")
        await pilot.press(DEFAULT_KEYMAP.key("note"))
        await eventually(lambda: "Note for the session timeline" in screen_text(app))
        assert app.screen.query_one("#note", Input).value == ""
