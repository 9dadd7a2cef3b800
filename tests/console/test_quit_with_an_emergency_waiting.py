"""A console whose emergency waits for the broker (pressed while the connection is down,
docs/emergency.md#offline-devices-and-console: "keeps an emergency pressed meanwhile and sends
it as soon as the connection is back") does not quit without asking: quit at once, the press
is never sent, though the console said it would be. Outside a session the quit asked
nothing."""

from __future__ import annotations

import pytest

from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import screen_text
from tests.console.standin_engine import StandInEngine
from tests.console.test_console_keys import emergency_pressed_with_the_broker_gone
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto


async def test_quit_with_an_emergency_waiting_for_the_broker_asks_first(
    private_mosquitto: Mosquitto, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = Endpoint(private_mosquitto.host, private_mosquitto.port)
    state = states.setup_state(room)  # no session: a quit asks nothing then
    async with (
        StandInEngine(private_mosquitto.host, private_mosquitto.port, room) as engine,
        console_showing(engine, endpoint, state) as (app, pilot),
    ):
        await emergency_pressed_with_the_broker_gone(app, pilot, private_mosquitto, monkeypatch)
        await pilot.press(DEFAULT_KEYMAP.key("quit"))
        await pilot.pause(0.3)
        assert app.is_running, "the console quit with its emergency never sent"
        assert "emergency" in screen_text(app).lower()
        await pilot.press("n")
        await pilot.pause(0.1)
        assert app.is_running
