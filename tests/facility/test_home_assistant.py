"""Home Assistant MQTT discovery: the payload against the keys Home Assistant requires, its
templates rendered (with Jinja2, as Home Assistant does) on engine states, and a real engine
announcing, re-announcing and clearing it, and taking the button's press as an emergency."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jinja2
import pytest

from controller.api.homeassistant import HomeAssistant, discovery
from controller.bus import Message
from controller.bus.bus import Bus
from controller.config import Room
from controller.config.settings import BrokerSettings, HomeAssistantSettings
from controller.engine.service import RoomService
from tests.console.live_room import live_room_config
from tests.support.mosquitto import Mosquitto
from tests.support.room import Wire, until

ON = HomeAssistantSettings(discovery=True)
READ_ONLY = {"sensor", "binary_sensor"}


def payload(room: str = "room-a", settings: HomeAssistantSettings = ON) -> dict[str, Any]:
    return json.loads(discovery(room, "Room A", settings).payload)  # type: ignore[no-any-return]


def test_the_device_message_has_every_key_home_assistant_requires() -> None:
    message = payload()
    assert discovery("room-a", None, ON).topic == "homeassistant/device/sessionroom_room_a/config"
    assert message["device"]["identifiers"] == ["sessionroom_room_a"]
    assert message["origin"]["name"] == "Sessionroom"
    components = message["components"]
    unique_ids = [component["unique_id"] for component in components.values()]
    assert len(set(unique_ids)) == len(unique_ids) == 8
    for key, component in components.items():
        assert component["platform"] in READ_ONLY | {"button"}, key
        if component["platform"] in READ_ONLY:
            assert component["state_topic"] == "sessionroom/room-a/state", key
            assert component["value_template"], key
            assert "command_topic" not in component, key
    assert message["availability"] == [{"topic": "sessionroom/room-a/status",
        "payload_available": "online", "payload_not_available": "offline"}]  # fmt: skip


def test_the_only_control_is_the_emergency_button() -> None:
    controls = {k: c for k, c in payload()["components"].items() if "command_topic" in c}
    assert list(controls) == ["emergency"]
    assert controls["emergency"]["platform"] == "button"
    assert controls["emergency"]["command_topic"] == "sessionroom/room-a/emergency"


def test_turned_off_the_message_is_cleared() -> None:
    message = discovery("room-a", None, HomeAssistantSettings(discovery=False))
    assert (message.topic, message.payload) == (
        "homeassistant/device/sessionroom_room_a/config", "",
    )  # fmt: skip


def render(key: str, state: dict[str, Any]) -> str:
    template = payload()["components"][key]["value_template"]
    return jinja2.Environment().from_string(template).render(value_json=state)


IDLE = {"session": None, "phase": None, "vitals": {}, "emergency": {"active": False}}
IN_SESSION = {
    "session": {"id": "s"},
    "phase": {"name": "peak", "planned_s": 1200.0, "elapsed_s": 125.4},
    "vitals": {"bp-cuff": {"sys": 120}, "oximeter": {"hr": 71.0, "spo2": 97.0}},
    "emergency": {"active": True},
}


@pytest.mark.parametrize(
    ("key", "idle", "in_session"),
    [
        ("phase", "None", "peak"),
        ("elapsed", "None", "125.0"),
        ("remaining", "None", "1075.0"),
        ("session", "OFF", "ON"),
        ("emergency_active", "OFF", "ON"),
        ("heart_rate", "None", "71.0"),
        ("spo2", "None", "97.0"),
    ],
)
def test_each_sensor_reads_the_engines_state(key: str, idle: str, in_session: str) -> None:
    assert render(key, IDLE) == idle
    assert render(key, IN_SESSION) == in_session


def ha_room(broker: Mosquitto, data: Path, settings: HomeAssistantSettings) -> Room:
    room = live_room_config(broker, data)
    room.settings = room.settings.model_copy(update={"home_assistant": settings})
    return room


@asynccontextmanager
async def engine(room: Room) -> AsyncIterator[RoomService]:
    service = RoomService(room, local_outputs=False)
    task = asyncio.create_task(service.run())
    try:
        yield service
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def wire(private_mosquitto: Mosquitto) -> Iterator[Wire]:
    recorder = Wire(private_mosquitto)
    yield recorder
    recorder.close()


@pytest.mark.mosquitto
async def test_an_engine_announces_re_announces_and_takes_the_button_as_an_emergency(
    private_mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    settings = HomeAssistantSettings(discovery=True, prefix=f"ha{uuid.uuid4().hex[:6]}")
    room = ha_room(private_mosquitto, tmp_path, settings)
    topic = discovery(room.room_id, None, settings).topic
    async with engine(room) as service:
        await asyncio.to_thread(until, lambda: wire.on(topic), "discovery published")
        assert json.loads(wire.on(topic)[0].payload)["components"]["emergency"]
        wire.client.publish(f"{settings.prefix}/status", "online")
        await asyncio.to_thread(
            until, lambda: len(wire.on(topic)) >= 2, "published again for Home Assistant"
        )
        wire.client.publish(f"sessionroom/{room.room_id}/emergency", "PRESS")

        def emergency() -> bool:
            return service.engine is not None and service.engine.snapshot().emergency.active

        await asyncio.to_thread(until, emergency, "the press made an emergency")


@pytest.mark.mosquitto
async def test_a_press_left_retained_is_cleared_and_no_emergency(
    private_mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    """A retained press would make an emergency at every start of the engine (and, through
    a bridge, at every reconnect): it is cleared, and only a live press counts."""
    settings = HomeAssistantSettings(discovery=True, prefix=f"ha{uuid.uuid4().hex[:6]}")
    room = ha_room(private_mosquitto, tmp_path, settings)
    press = f"sessionroom/{room.room_id}/emergency"
    wire.client.publish(press, "PRESS", qos=1, retain=True).wait_for_publish()
    await asyncio.to_thread(until, lambda: wire.on(press), "the retained press")
    async with engine(room) as service:
        await asyncio.to_thread(until, lambda: wire.last(press) == "", "the press cleared")
        wire.client.publish(press, "PRESS")

        def emergency() -> bool:
            return service.engine is not None and service.engine.snapshot().emergency.active

        await asyncio.to_thread(until, emergency, "the live press made an emergency")
        # A second press within the fade would have made it immediate.
        assert service.engine is not None
        assert not service.engine.snapshot().emergency.immediate


@pytest.mark.mosquitto
async def test_an_engine_with_discovery_off_clears_an_old_announcement(
    private_mosquitto: Mosquitto, tmp_path: Path, wire: Wire
) -> None:
    settings = HomeAssistantSettings(discovery=False, prefix=f"ha{uuid.uuid4().hex[:6]}")
    room = ha_room(private_mosquitto, tmp_path, settings)
    topic = discovery(room.room_id, None, settings).topic
    wire.client.publish(topic, "{}", qos=1, retain=True).wait_for_publish()
    await asyncio.to_thread(until, lambda: wire.on(topic), "the old announcement")
    async with engine(room):
        await asyncio.to_thread(until, lambda: wire.last(topic) == "", "the announcement cleared")


@pytest.mark.mosquitto
async def test_a_flood_of_home_assistant_online_queues_one_announcement(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Anyone who may publish `homeassistant/status` can send `online` as fast as the broker
    takes it; each is answered with the whole discovery message. Queued while the broker is
    slow or away, those answers must not push the room's other messages (a state, a light's
    lights-up) out of the bounded outgoing queue: the newest announcement replaces a waiting
    one. The bus is not connected here, so its queue is seen as it fills (as it does while
    the broker is away); `bus.dropped` counts what the full queue lost."""
    room = ha_room(private_mosquitto, tmp_path, ON).settings
    settings = BrokerSettings(mode="external", host="127.0.0.1", port=private_mosquitto.port)
    bus = Bus(settings, client_id=f"sessionroom-test-{uuid.uuid4().hex[:8]}", max_queue=20)
    home_assistant = HomeAssistant(bus, room, lambda message: asyncio.sleep(0))
    await bus.publish(f"sessionroom/{room.room}/state", "{}", retain=True)
    for _ in range(100):
        await home_assistant.announce()
    assert bus.dropped == 0


@pytest.mark.mosquitto
async def test_a_flood_of_presses_queues_one_clearing_of_the_button(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Each press of Home Assistant's button is cleared from the broker with an empty
    retained message. Pressed as fast as the broker takes it while the broker is slow or
    away, those clearings must not push the room's other messages out of the bounded
    outgoing queue: the newest replaces a waiting one (1,200 presses on a broker slow to
    acknowledge pushed 2,604 messages out before). The bus is not connected here, as in the
    test above; the presses are handed to the button's handler as the bus would."""
    room = ha_room(private_mosquitto, tmp_path, ON).settings
    settings = BrokerSettings(mode="external", host="127.0.0.1", port=private_mosquitto.port)
    bus = Bus(settings, client_id=f"sessionroom-test-{uuid.uuid4().hex[:8]}", max_queue=20)
    pressed: list[Message] = []
    home_assistant = HomeAssistant(bus, room, pressed.append)
    await bus.publish(f"sessionroom/{room.room}/state", "{}", retain=True)
    button = f"sessionroom/{room.room}/emergency"
    for _ in range(100):
        await home_assistant._pressed(Message(button, b"PRESS", retain=False))
    assert len(pressed) == 100  # each press an emergency of its own
    assert bus.dropped == 0
