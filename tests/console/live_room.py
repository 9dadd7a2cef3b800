"""The real engine (`RoomService`) and the simulated room on a Mosquitto, for console tests.

The shipped room runs at time scale 10 under a room id of the test's own, with VLC music
and tones on headless outputs (`adummy`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from controller.cli.common import Overrides, apply_overrides
from controller.config import Room, load_room
from controller.engine.service import RoomService
from controller.sim import SimulatedRoom
from controller.sim.device import BrokerAddress
from tests.conftest import REPO
from tests.support.mosquitto import Mosquitto

ENGINE_ONLINE_S = 10.0
"""How long the engine may take to come online before the devices connect."""


def live_room_config(broker: Mosquitto, data_dir: Path, time_scale: float = 10.0) -> Room:
    room = apply_overrides(
        load_room(REPO / "config.yaml"),
        Overrides(broker=broker.url, room_id=f"c{uuid.uuid4().hex[:8]}", data_dir=data_dir),
    )
    room.settings = room.settings.model_copy(update={"time_scale": time_scale})
    for device_id in ("music", "tones"):
        room.devices[device_id] = room.devices[device_id].model_copy(update={"aout": "adummy"})
    return room


@asynccontextmanager
async def live_engine(
    broker: Mosquitto, data_dir: Path, time_scale: float = 10.0
) -> AsyncIterator[RoomService]:
    """The engine of a room of its own, with every MQTT device simulated (a cuff measuring at
    the room's time scale), until the block ends.

    The devices connect once the engine is on the broker: a cuff that measures on demand
    reports once as it connects (its readings are not retained), and the setup screen shows
    that reading only if the engine was there to hear it."""
    room = live_room_config(broker, data_dir, time_scale)
    service = RoomService(room)
    engine_task = asyncio.create_task(service.run())
    address = BrokerAddress(host=broker.host, port=broker.port)
    try:
        deadline = asyncio.get_running_loop().time() + ENGINE_ONLINE_S
        while service.bus is None or not service.bus.connected:
            assert not engine_task.done(), "the engine stopped before it was online"
            assert asyncio.get_running_loop().time() < deadline, "the engine never came online"
            await asyncio.sleep(0.01)
        async with SimulatedRoom(
            list(room.devices.values()), address, room_id=room.room_id, time_scale=time_scale
        ):
            yield service
    finally:
        engine_task.cancel()
        await asyncio.gather(engine_task, return_exceptions=True)
