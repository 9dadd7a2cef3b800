"""An emergency pressed while the broker is away waits, and the console says so until it is
sent (docs/emergency.md#offline-devices-and-console): the reconnect key, pressed meanwhile,
does not put its own line in that one's place. A Mosquitto of the test's own, stopped; the
stand-in engine."""

from __future__ import annotations

import pytest

from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine
from tests.console.test_console_keys import emergency_pressed_with_the_broker_gone
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto


async def test_the_reconnect_key_leaves_an_emergency_waiting_for_the_broker_said(
    private_mosquitto: Mosquitto, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reconnect key's line took the place of the emergency's: "… reconnecting: sent,
    waiting for the engine", while the emergency still waited for a broker still away."""
    endpoint = Endpoint(private_mosquitto.host, private_mosquitto.port)
    async with (
        StandInEngine(private_mosquitto.host, private_mosquitto.port, room) as engine,
        console_showing(engine, endpoint, states.live_state(room)) as (app, pilot),
    ):
        await emergency_pressed_with_the_broker_gone(app, pilot, private_mosquitto, monkeypatch)
        attempts = app.view.reconnect_attempt

        await pilot.press(DEFAULT_KEYMAP.key("reconnect"))
        await eventually(
            lambda: app.view.reconnect_attempt > attempts, what="the reconnection tried"
        )
        await pilot.pause()

        assert "… EMERGENCY: not connected, sent when the broker is back" in screen_text(app)
