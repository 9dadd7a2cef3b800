"""An emergency carried out while a fault of ours breaks the engine's tick is answered as
carried out, and the room's retained state says the room is latched and why it is loud
(docs/emergency.md, docs/safety.md#one-guarded-path: a fault of ours is journaled with a
critical alert and the room goes on).

The stand-in fault: the engine's own `tick` raises while the room is latched (a bug in one
medium's tick, which would raise on every tick from then on). Nothing here can make the real
tick fail on demand.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.engine.service import RoomService
from tests.engine.test_service import (
    Wire,
    client_for,
    eventually,
    service,  # noqa: F401 (a fixture)
    wire,  # noqa: F401 (a fixture)
)
from tests.support.mosquitto import Mosquitto


async def test_an_emergency_is_answered_done_and_shown_latched_while_the_tick_faults(
    mosquitto: Mosquitto,
    service: RoomService,  # noqa: F811 (the fixture)
    wire: Wire,  # noqa: F811 (the fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = service.engine
    assert engine is not None
    real_tick = engine.tick

    def tick_that_faults_while_latched() -> None:
        real_tick()
        if engine.emergency is not None:
            raise RuntimeError("a medium's tick went wrong")

    monkeypatch.setattr(engine, "tick", tick_that_faults_while_latched)
    topic = f"sessionroom/{service.room.room_id}/state"
    async with client_for(mosquitto, service.room.room_id) as client:
        assert (await client.command("start", timeout=5, plan="rehearsal", participant="P1"))["ok"]
        reply = await client.command("emergency", timeout=5)

        def latched_state() -> dict[str, Any] | None:
            for payload in reversed(wire.payloads(topic)):
                state: dict[str, Any] = json.loads(payload)
                return state if state["emergency"]["active"] else None
            return None

        state = await eventually(latched_state, "a state showing the room latched", timeout=5)
    assert any(
        '"color_temp":250' in payload for payload in wire.payloads("zigbee2mqtt/ceiling_light/set")
    ), "the lights-up was not carried out"
    assert reply["ok"] is True, f"carried out, but answered {reply}"
    alerts = {alert["key"]: alert for alert in state["alerts"]}
    assert alerts["engine"]["level"] == "critical"
