"""A room latched in its emergency stays latched when its engine is started on another
computer, or with another data_dir (docs/emergency.md: latched until `clear_emergency`,
whatever else happens; docs/control-api.md#the-engines-start: the room's engine may be
started elsewhere once the first is gone). The emergency's marker is on the first one's
disk; the broker keeps the room's state, which says the room is latched. An engine that
starts idle there lowers the lights to the idle scene in a room staff made safe.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from controller.cli.common import Overrides, apply_overrides
from controller.engine.service import RoomService
from tests.engine.test_service import (
    DEADLINE_S,
    Wire,
    client_for,
    eventually,
    press_and_see_the_lights_up,
    room_on,
    wire,  # noqa: F401 (a fixture)
)
from tests.support.mosquitto import Mosquitto


async def test_an_engine_started_elsewhere_keeps_the_room_latched_its_retained_state_shows(
    mosquitto: Mosquitto,
    tmp_path: Path,
    wire: Wire,  # noqa: F811 (the fixture)
) -> None:
    room = room_on(mosquitto, tmp_path / "here")
    first = asyncio.create_task(RoomService(room).run())
    base = f"sessionroom/{room.room_id}"
    try:
        async with client_for(mosquitto, room.room_id) as client:
            await press_and_see_the_lights_up(client, wire)

            def latched() -> bool:
                states = [json.loads(p) for p in wire.payloads(f"{base}/state")]
                return bool(states) and states[-1]["emergency"]["active"]

            await eventually(latched, "the state retained, latched")
    finally:
        first.cancel()  # its computer is gone
        await asyncio.gather(first, return_exceptions=True)
    await eventually(lambda: wire.payloads(f"{base}/status")[-1:] == ["offline"], "offline")

    elsewhere = apply_overrides(room, Overrides(data_dir=tmp_path / "elsewhere"))
    second = asyncio.create_task(RoomService(elsewhere).run())
    try:
        async with client_for(mosquitto, room.room_id) as client:

            async def live_state() -> dict[str, Any]:
                while True:
                    state = await client.state(timeout=DEADLINE_S)
                    if state["updated"] != stale["updated"]:
                        return state

            stale = json.loads(wire.payloads(f"{base}/state")[-1])
            state = await asyncio.wait_for(live_state(), DEADLINE_S)
    finally:
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
    assert state["emergency"]["active"] is True, "the engine elsewhere started idle"
    assert state["scene"] == "lights-up"
