"""An emergency the engine answers after the console's wait (a reply late on a slow broker,
or to the press sent again once the engine was back) is shown as carried out: the console
kept saying it had no reply (docs/emergency.md#offline-devices-and-console), though the
engine had carried it out."""

from __future__ import annotations

import json

import pytest

from controller.console import link as console_link
from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine

pytestmark = pytest.mark.mosquitto


async def test_an_emergency_answered_after_the_wait_is_shown_carried_out(
    engine: StandInEngine, endpoint: Endpoint, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_link, "REPLY_TIMEOUT_S", 0.5)
    engine.silent.add("emergency")
    async with console_showing(engine, endpoint, states.live_state(room, "peak")) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("emergency"))
        await eventually(lambda: "no reply" in screen_text(app), timeout=5)
        # it connects afresh (the connection may be half-open) and sends the press again
        await eventually(lambda: engine.actions() == ["emergency", "emergency"], timeout=5)
        press = engine.commands[0]
        assert engine.commands[1]["id"] == press["id"]
        late = json.dumps({"id": press["id"], "ok": True}).encode()
        await engine.publish_raw(engine.topics.reply(press["id"]), late)
        await eventually(lambda: "✓ EMERGENCY" in screen_text(app), timeout=5)
        assert "no reply" not in screen_text(app)
