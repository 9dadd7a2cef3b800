"""A room's Zigbee lights in a facility, end to end: the engine (`sessionroom run`, a process)
logs in as the room's engine, the simulated Zigbee2MQTT as the room's Zigbee2MQTT login (the
settings `facility init --update-configs` wrote into config.yaml); when that connection dies
without a word, its will goes through the broker's ACL and the engine shows every Zigbee
light of it offline, so an emergency's lights-up to them would raise an alert."""

from __future__ import annotations

import asyncio
import json

import pytest

from controller.cli.common import device_broker_address
from controller.config import load_room
from controller.sim import SimulatedRoom, connection_name, is_simulated
from tests.facility.support import Facility
from tests.support.room import DEADLINE_S, sessionroom, spawn, until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


def availability(config: str) -> dict[str, str] | None:
    """Each device's availability as the engine's state says, or None before it says."""
    result = sessionroom("ctl", "--config", config, "--timeout", "2", "state")
    if result.returncode != 0:
        return None
    devices = json.loads(result.stdout)["devices"]
    return {key: device["available"] for key, device in devices.items()}


async def test_a_crashed_zigbee2mqtt_takes_the_rooms_zigbee_lights_offline(
    facility: Facility,
) -> None:
    config = str(facility.rooms["room-a"] / "config.yaml")
    room = load_room(facility.rooms["room-a"] / "config.yaml")
    logins = {
        connection_name(device): device_broker_address(room, device)
        for device in room.devices.values()
        if is_simulated(device)
    }
    assert logins["zigbee2mqtt/bridge"].username == "zigbee2mqtt.room-a.zigbee2mqtt"
    engine = spawn("run", "--config", config, "--time-scale", "1")
    try:
        async with SimulatedRoom(room.devices.values(), logins, room_id=room.room_id) as sim:
            assert await sim.wait_online(timeout=DEADLINE_S)

            def ceiling_is(state: str) -> dict[str, str] | None:
                seen = availability(config)
                return seen if seen is not None and seen["ceiling"] == state else None

            await asyncio.to_thread(until, lambda: ceiling_is("online"), "the ceiling online")
            sim.connections["zigbee2mqtt/bridge"].go_offline()
            seen = await asyncio.to_thread(until, lambda: ceiling_is("offline"), "it offline")
            assert seen["strip"] == "online"  # a device of its own connection: untouched
    finally:
        engine.terminate()
        engine.wait(timeout=30)
