"""The simulated Zigbee2MQTT: the Zigbee lights of one base topic on one connection, as the
real process has them; its own faults, and each light's, on a real Mosquitto."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from controller.config.models import Device
from controller.sim import BrokerAddress, Fault, FaultKind, SimulatedRoom
from controller.sim.zigbee2mqtt_bridge import BridgedLight
from tests.sim.support import Recorder, eventually, make_device
from tests.support.mosquitto import Mosquitto

ONLINE, OFFLINE = '{"state":"online"}', '{"state":"offline"}'


@pytest.fixture
def base() -> str:
    """A base topic no other test uses on the shared broker."""
    return f"z2m-{uuid.uuid4().hex[:8]}"


def lights(base: str) -> list[Device]:
    return [
        make_device("zigbee2mqtt", "ceiling_light", id="ceiling", base_topic=base),
        make_device("zigbee2mqtt", "desk_lamp", id="desk", base_topic=base),
        make_device("zigbee2mqtt", "lamp", id="other", base_topic=f"{base}-other"),
        make_device("wled", f"{base}-strip", id="strip"),
    ]


def test_the_lights_of_one_base_share_one_connection_named_after_its_bridge() -> None:
    room = SimulatedRoom(lights("b"), BrokerAddress("127.0.0.1", 1), room_id="t")
    assert sorted(room.connections) == ["b-other/bridge", "b/bridge", "strip"]
    assert sorted(room.devices) == ["ceiling", "desk", "other", "strip"]
    ceiling, desk = room.devices["ceiling"], room.devices["desk"]
    assert isinstance(ceiling, BridgedLight) and isinstance(desk, BridgedLight)
    assert ceiling.process is desk.process is room.connections["b/bridge"]
    assert ceiling.client_id == "sessionroom-sim-t-b-bridge"
    assert room.connections["b/bridge"].model.subscriptions() == [
        "b/ceiling_light/set", "b/ceiling_light/set/+", "b/ceiling_light/get",
        "b/ceiling_light/get/+", "b/desk_lamp/set", "b/desk_lamp/set/+", "b/desk_lamp/get",
        "b/desk_lamp/get/+",
    ]  # fmt: skip


def test_faults_name_a_light_or_its_zigbee2mqtt() -> None:
    faults = [Fault("b/bridge", FaultKind.DROP), Fault("desk", FaultKind.DELAY, delay_s=1.0)]
    room = SimulatedRoom(
        lights("b"), BrokerAddress("127.0.0.1", 1), room_id="t", faults=faults, clock=lambda: 0.0
    )
    room.tick(0.0)
    process = room.connections["b/bridge"]
    assert process.gate.dropping
    assert (room.devices["desk"].gate.delay_s, room.devices["ceiling"].gate.delay_s) == (1.0, 0.0)
    with pytest.raises(ValueError, match="'zigbee2mqtt/bridge': no such simulated device"):
        SimulatedRoom(
            lights("b"), BrokerAddress("127.0.0.1", 1), room_id="t",
            faults=[Fault("zigbee2mqtt/bridge", FaultKind.OFFLINE)],
        )  # fmt: skip


@pytest.fixture
async def recorder(mosquitto: Mosquitto, base: str) -> AsyncIterator[Recorder]:
    async with Recorder(mosquitto.host, mosquitto.port, [f"{base}/#"]) as client:
        yield client


@pytest.fixture
async def simulated(
    mosquitto: Mosquitto, base: str, recorder: Recorder
) -> AsyncIterator[SimulatedRoom]:
    address = BrokerAddress(mosquitto.host, mosquitto.port)
    async with SimulatedRoom(lights(base)[:2], address, room_id="t") as room:
        assert await room.wait_online(timeout=5)
        yield room


@pytest.mark.mosquitto
async def test_it_says_the_bridge_and_each_light_is_online_retained_and_their_state(
    simulated: SimulatedRoom, recorder: Recorder, mosquitto: Mosquitto, base: str
) -> None:
    availability = [f"{base}/{name}/availability" for name in ("ceiling_light", "desk_lamp")]
    for topic in (f"{base}/bridge/state", *availability):
        await recorder.wait_for(topic, ONLINE)
    for name in ("ceiling_light", "desk_lamp"):
        await eventually(lambda name=name: recorder.latest_json(f"{base}/{name}"))
    async with Recorder(mosquitto.host, mosquitto.port, [f"{base}/bridge/state"]) as late:
        await late.wait_for(f"{base}/bridge/state", ONLINE)
        assert [m.retain for m in late.messages] == [True]


@pytest.mark.mosquitto
async def test_one_connection_takes_each_lights_commands(
    simulated: SimulatedRoom, recorder: Recorder, base: str
) -> None:
    await recorder.publish(f"{base}/desk_lamp/set", '{"state":"ON","brightness":100}')
    await eventually(
        lambda: (recorder.latest_json(f"{base}/desk_lamp") or {}).get("brightness") == 100
    )
    assert (recorder.latest_json(f"{base}/ceiling_light") or {}).get("state") == "OFF"


@pytest.mark.mosquitto
async def test_zigbee2mqtt_gone_abruptly_leaves_its_will_on_the_bridge_state(
    simulated: SimulatedRoom, recorder: Recorder, base: str
) -> None:
    """A crash: the broker publishes the will; the lights' own availability stays as it was
    (which is why the engine gates every light on the bridge state)."""
    await recorder.wait_for(f"{base}/ceiling_light/availability", ONLINE)
    simulated.connections[f"{base}/bridge"].go_offline()
    await recorder.wait_for(f"{base}/bridge/state", OFFLINE)
    assert not simulated.devices["ceiling"].online
    assert recorder.latest(f"{base}/ceiling_light/availability") == ONLINE.encode()
    simulated.connections[f"{base}/bridge"].come_online()
    await recorder.wait_for(f"{base}/bridge/state", ONLINE)


@pytest.mark.mosquitto
async def test_a_light_gone_unreachable_is_offline_alone_and_answers_nothing(
    simulated: SimulatedRoom, recorder: Recorder, base: str
) -> None:
    await recorder.wait_for(f"{base}/ceiling_light/availability", ONLINE)
    desk = simulated.devices["desk"]
    desk.go_offline()
    await recorder.wait_for(f"{base}/desk_lamp/availability", OFFLINE)
    assert recorder.latest(f"{base}/bridge/state") == ONLINE.encode()
    assert recorder.latest(f"{base}/ceiling_light/availability") == ONLINE.encode()
    await recorder.publish(f"{base}/desk_lamp/set", '{"state":"ON"}')
    await recorder.publish(f"{base}/ceiling_light/set", '{"state":"ON"}')
    await eventually(
        lambda: (recorder.latest_json(f"{base}/ceiling_light") or {}).get("state") == "ON"
    )
    assert (recorder.latest_json(f"{base}/desk_lamp") or {})["state"] == "OFF"
    desk.come_online()
    await recorder.wait_for(f"{base}/desk_lamp/availability", ONLINE)


@pytest.mark.mosquitto
async def test_a_clean_stop_switches_the_lights_and_the_bridge_off(
    simulated: SimulatedRoom, recorder: Recorder, base: str
) -> None:
    await simulated.stop()
    for topic in (f"{base}/bridge/state", f"{base}/ceiling_light/availability"):
        await recorder.wait_for(topic, OFFLINE)


@pytest.mark.mosquitto
async def test_each_zigbee2mqtt_says_so_again_when_the_broker_comes_back(
    private_mosquitto: Mosquitto, base: str
) -> None:
    """A broker restarted without its retained messages: each base's bridge state is online
    again, each light's availability as it was (an unreachable light offline), from two
    Zigbee2MQTT of one room."""
    address = BrokerAddress(private_mosquitto.host, private_mosquitto.port)
    async with SimulatedRoom(lights(base)[:3], address, room_id="t") as room:
        assert await room.wait_online(timeout=5)
        room.devices["desk"].go_offline()
        private_mosquitto.restart()
        topics = [f"{base}/#", f"{base}-other/#"]
        async with Recorder(private_mosquitto.host, private_mosquitto.port, topics) as watcher:
            for topic, payload in (
                (f"{base}/bridge/state", ONLINE),
                (f"{base}-other/bridge/state", ONLINE),
                (f"{base}/ceiling_light/availability", ONLINE),
                (f"{base}-other/lamp/availability", ONLINE),
                (f"{base}/desk_lamp/availability", OFFLINE),
            ):
                await watcher.wait_for(topic, payload, timeout=5)


@pytest.mark.mosquitto
async def test_a_stop_right_after_coming_online_leaves_every_light_offline(
    mosquitto: Mosquitto, base: str
) -> None:
    """What the connection had yet to send when it came online (each light online, its
    state) went out after the stop's offline: a light stopped at once stayed online."""
    address = BrokerAddress(mosquitto.host, mosquitto.port)
    many = [
        make_device("zigbee2mqtt", f"lamp_{n}", id=f"lamp-{n}", base_topic=base) for n in range(8)
    ]
    async with SimulatedRoom(many, address, room_id="t") as room:
        assert await room.wait_online(timeout=5)
        await room.stop()
    async with Recorder(mosquitto.host, mosquitto.port, [f"{base}/+/availability"]) as late:
        for n in range(8):
            await late.wait_for(f"{base}/lamp_{n}/availability", OFFLINE)
