"""A flood on Home Assistant's own status topic never delays a command: `sessionroom run` with
MQTT discovery on, on a real Mosquitto.

With `home_assistant: {discovery: true}` the engine listens on `<prefix>/status` (Home
Assistant's birth message, `online`, makes it announce the room again). That topic is Home
Assistant's, shared by every room and every integration of the facility, not the room's
consoles': whoever floods it (a misbehaving integration, a login taken over) must not hold
up an emergency on the room's `cmd`, as a device flooding its reports does not
(`tests/engine/test_report_flood.py`, whose flooders and timing this reuses).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from controller.config.settings import HomeAssistantSettings
from controller.engine.service import RoomService
from tests.engine.test_report_flood import LIGHTS_UP_WITHIN_S, Lights, flooding
from tests.engine.test_service import client_for, eventually, room_on
from tests.support.mosquitto import Mosquitto

BACKLOG_S = 3.0
"""How long the flood runs before the emergency is pressed."""


async def test_an_emergency_is_carried_out_at_once_while_home_assistant_s_status_floods(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    broker = private_mosquitto
    room = room_on(broker, tmp_path)
    room.settings = room.settings.model_copy(
        update={"home_assistant": HomeAssistantSettings(discovery=True)}
    )
    lights = Lights(broker)
    service = RoomService(room)
    task = asyncio.create_task(service.run())
    try:
        async with client_for(broker, room.room_id) as client:
            start = await client.command("start", timeout=5, plan="rehearsal", participant="P1")
            assert start["ok"]
        with flooding(broker, "homeassistant/status"):
            await asyncio.sleep(BACKLOG_S)  # the flood builds its backlog meanwhile
            async with client_for(broker, room.room_id) as client:
                heard = len(lights.heard)
                pressed = time.monotonic()
                reply = asyncio.create_task(client.command("emergency", timeout=30))
                await eventually(lambda: len(lights.heard) > heard, "the lights-up", timeout=30)
                took_s = lights.heard[heard] - pressed
                assert (await reply)["ok"]
        assert took_s < LIGHTS_UP_WITHIN_S, f"the lights-up came {took_s:.2f} s after the press"
    finally:
        lights.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
