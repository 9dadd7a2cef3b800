"""Simulated devices on a real Mosquitto, seen by an independent MQTT client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from functools import partial

import pytest

from controller.config.models import Device
from controller.sim import BrokerAddress, Fault, FaultKind, SimulatedRoom
from controller.sim.faults import GARBAGE_PAYLOAD
from controller.sim.model import Publication
from tests.sim.support import Recorder, eventually, make_device
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def token() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def devices(token: str) -> list[Device]:
    """One device per MQTT driver, on topics no other test uses, and one local device."""
    return [
        make_device("zigbee2mqtt", f"ceiling-{token}", id="ceiling", kelvin_range=(2000, 6500)),
        make_device("tasmota", f"lamp-{token}", id="lamp", rgb=True, kelvin_range=(2000, 6500)),
        make_device("wled", f"strip-{token}", id="strip", rgb=True),
        make_device("shelly", f"dimmer-{token}", id="dimmer"),
        make_device("mqtt-vr", f"headset-{token}", id="headset"),
        make_device("mqtt-bls", f"tappers-{token}", id="tappers", mode="tactile"),
        make_device("mqtt-vitals", f"oximeter-{token}", id="oximeter"),
        make_device("vlc", None, id="music"),
    ]


def address_of(broker: Mosquitto) -> BrokerAddress:
    return BrokerAddress(host=broker.host, port=broker.port)


@pytest.fixture
async def recorder(mosquitto: Mosquitto, token: str) -> AsyncIterator[Recorder]:
    """Subscribed to every topic of this test's devices before they connect."""
    topics = [
        f"zigbee2mqtt/ceiling-{token}/#",
        f"tele/lamp-{token}/#",
        f"stat/lamp-{token}/#",
        f"wled/strip-{token}/#",
        f"dimmer-{token}/#",
        f"vr/headset-{token}/#",
        f"bls/tappers-{token}/#",
        f"vitals/oximeter-{token}/#",
        f"console-{token}/rpc",
    ]
    async with Recorder(mosquitto.host, mosquitto.port, topics) as client:
        yield client


@pytest.fixture
async def simulated(
    mosquitto: Mosquitto, devices: list[Device], recorder: Recorder
) -> AsyncIterator[SimulatedRoom]:
    async with SimulatedRoom(devices, address_of(mosquitto), room_id="test") as room:
        assert await room.wait_online(timeout=5)
        yield room


def availability(room: SimulatedRoom, device_id: str) -> str:
    return room.devices[device_id].model.availability.topic


async def test_local_devices_are_not_simulated(simulated: SimulatedRoom) -> None:
    assert "music" not in simulated.devices
    assert [device.id for device in simulated.local_devices] == ["music"]


async def test_every_device_announces_itself_online_retained_and_publishes_its_state(
    simulated: SimulatedRoom, recorder: Recorder, mosquitto: Mosquitto
) -> None:
    for device in simulated.devices.values():
        model = device.model
        await recorder.wait_for(model.availability.topic, model.availability.online)
        await eventually(partial(recorder.latest, model.state_topic), what=model.state_topic)
    topics = [device.model.availability.topic for device in simulated.devices.values()]
    async with Recorder(mosquitto.host, mosquitto.port, topics) as late:
        for device in simulated.devices.values():
            topic = device.model.availability.topic
            await eventually(partial(late.latest, topic), what=f"retained {topic}")
            retained = next(m for m in late.messages if m.topic.matches(topic))
            assert retained.retain
            assert retained.payload == device.model.availability.online.encode()


async def test_zigbee2mqtt_set_changes_the_published_state(
    simulated: SimulatedRoom, recorder: Recorder, token: str
) -> None:
    await recorder.publish(f"zigbee2mqtt/ceiling-{token}/set", '{"state":"ON","brightness":100}')
    await eventually(
        lambda: (
            (recorder.latest_json(f"zigbee2mqtt/ceiling-{token}") or {}).get("brightness") == 100
        )
    )


async def test_tasmota_backlog_answers_on_result(
    simulated: SimulatedRoom, recorder: Recorder, token: str
) -> None:
    await recorder.publish(f"cmnd/lamp-{token}/Backlog", "Dimmer 40; CT 300")
    await eventually(
        lambda: (recorder.latest_json(f"stat/lamp-{token}/RESULT") or {}).get("CT") == 300
    )
    assert recorder.latest_json(f"stat/lamp-{token}/RESULT")["Dimmer"] == 40


async def test_wled_brightness_is_published_on_g(
    simulated: SimulatedRoom, recorder: Recorder, token: str
) -> None:
    await recorder.publish(f"wled/strip-{token}/api", '{"on":true,"bri":200,"tt":0}')
    await recorder.wait_for(f"wled/strip-{token}/g", "200")


async def test_shelly_answers_rpc_on_the_callers_topic(
    simulated: SimulatedRoom, recorder: Recorder, token: str
) -> None:
    request = {
        "id": 3,
        "src": f"console-{token}",
        "method": "Light.Set",
        "params": {"id": 0, "on": True, "brightness": 70},
    }
    await recorder.publish(f"dimmer-{token}/rpc", json.dumps(request))
    reply = await eventually(lambda: recorder.latest_json(f"console-{token}/rpc"))
    assert (reply["id"], reply["result"]) == (3, None)
    await eventually(
        lambda: (
            recorder.latest_json(f"dimmer-{token}/status/light:0")
            == {"id": 0, "source": "MQTT", "output": True, "brightness": 70}
        )
    )


async def test_vr_plays_and_bls_runs_its_set_to_the_end(
    simulated: SimulatedRoom, recorder: Recorder, token: str
) -> None:
    await recorder.publish(f"vr/headset-{token}/set", '{"action":"play","content":"forest"}')
    await recorder.publish(f"bls/tappers-{token}/set", '{"running":true,"speed_hz":2,"passes":2}')
    await eventually(
        lambda: (
            (recorder.latest_json(f"vr/headset-{token}/state") or {}).get("position_s", 0) >= 1.0
        )
    )
    await eventually(
        lambda: (
            recorder.latest_json(f"bls/tappers-{token}/state")
            == {"running": False, "pass": 2, "speed_hz": 2.0}
        )
    )


async def test_commands_sent_with_mosquitto_pub_as_a_user_would(
    simulated: SimulatedRoom, mosquitto: Mosquitto, token: str
) -> None:
    port = str(mosquitto.port)
    listener = await asyncio.create_subprocess_exec(
        "mosquitto_sub",
        "-p",
        port,
        "-t",
        f"stat/lamp-{token}/RESULT",
        "-C",
        "1",
        "-W",
        "5",
        stdout=asyncio.subprocess.PIPE,
    )
    # mosquitto_sub does not say when it has subscribed: the command goes out again (it sets
    # the same colour) until the answer is heard
    for _ in range(10):
        sender = await asyncio.create_subprocess_exec(
            "mosquitto_pub", "-p", port, "-t", f"cmnd/lamp-{token}/HsbColor", "-m", "120,100,50"
        )
        assert await sender.wait() == 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listener.wait(), 0.5)
            break
    output, _ = await listener.communicate()
    answer = json.loads(output)
    assert (answer["HSBColor"], answer["Color"]) == ("120,100,50", "0080000000")


async def test_offline_fault_makes_the_broker_publish_the_will_then_it_comes_back(
    simulated: SimulatedRoom, recorder: Recorder
) -> None:
    strip = simulated.devices["strip"]
    topic = availability(simulated, "strip")
    strip.go_offline()
    await recorder.wait_for(topic, "offline")
    assert not strip.online
    strip.come_online()
    await recorder.wait_for(topic, "online")
    assert await strip.wait_online(timeout=1)


async def test_dropped_commands_are_lost(
    simulated: SimulatedRoom, recorder: Recorder, token: str
) -> None:
    lamp = simulated.devices["lamp"]
    lamp.drop_commands(True)
    await recorder.publish(f"cmnd/lamp-{token}/Dimmer", "40")
    await recorder.publish(f"cmnd/lamp-{token}/Dimmer", "")  # dropped too: no answer
    await eventually(lambda: lamp.gate.dropped == 2)
    lamp.drop_commands(False)
    await recorder.publish(f"cmnd/lamp-{token}/Power", "")
    await eventually(lambda: recorder.latest_json(f"stat/lamp-{token}/RESULT"))
    assert recorder.payloads(f"stat/lamp-{token}/RESULT") == [b'{"POWER":"OFF"}']


async def test_delayed_commands_apply_late(
    simulated: SimulatedRoom, recorder: Recorder, token: str
) -> None:
    simulated.devices["lamp"].delay_commands(1.0)
    sent = time.monotonic()
    await recorder.publish(f"cmnd/lamp-{token}/Dimmer", "40")
    await eventually(lambda: recorder.latest_json(f"stat/lamp-{token}/RESULT"), timeout=3)
    assert time.monotonic() - sent >= 0.9


async def test_garbage_fault_writes_junk_on_the_state_topic(
    simulated: SimulatedRoom, recorder: Recorder, token: str
) -> None:
    simulated.devices["headset"].send_garbage()
    await recorder.wait_for(f"vr/headset-{token}/state", GARBAGE_PAYLOAD)


async def test_scheduled_faults_run_on_the_rooms_clock(
    mosquitto: Mosquitto, devices: list[Device], recorder: Recorder
) -> None:
    faults = [
        Fault("strip", FaultKind.OFFLINE, at_s=0.3),
        Fault("strip", FaultKind.ONLINE, at_s=0.8),
    ]
    now = [0.0]  # the room's clock, moved on once the devices are online (however long it took)
    address = address_of(mosquitto)
    async with SimulatedRoom(
        devices, address, room_id="t", faults=faults, clock=lambda: now[0]
    ) as room:
        topic = availability(room, "strip")
        await recorder.wait_for(topic, "online")
        now[0] = 0.29
        await asyncio.sleep(0.3)
        assert recorder.payloads(topic) == [b"online"]  # not before its time
        now[0] = 0.3
        await recorder.wait_for(topic, "offline")
        now[0] = 0.8
        await recorder.wait_for(topic, "online")
        assert recorder.payloads(topic) == [b"online", b"offline", b"online"]


async def test_a_firmware_failure_is_logged_and_the_device_carries_on(
    simulated: SimulatedRoom,
    recorder: Recorder,
    token: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A model bug is forced by patching `handle`, since no real payload makes one fail."""
    model = simulated.devices["lamp"].model
    real_handle = model.handle

    def failing_once(topic: str, payload: bytes, now: float) -> list[Publication]:
        monkeypatch.setattr(model, "handle", real_handle)
        raise RuntimeError("simulated firmware bug")

    monkeypatch.setattr(model, "handle", failing_once)
    await recorder.publish(f"cmnd/lamp-{token}/Dimmer", "40")
    await recorder.publish(f"cmnd/lamp-{token}/Dimmer", "30")
    await eventually(lambda: recorder.latest_json(f"stat/lamp-{token}/RESULT"))
    assert recorder.latest_json(f"stat/lamp-{token}/RESULT")["Dimmer"] == 30
    assert "simulated firmware bug" in caplog.text


async def test_a_clean_stop_switches_every_device_off(
    simulated: SimulatedRoom, recorder: Recorder
) -> None:
    await simulated.stop()
    for device in simulated.devices.values():
        await recorder.wait_for(device.model.availability.topic, device.model.availability.offline)


async def test_devices_reconnect_when_the_broker_comes_back(
    private_mosquitto: Mosquitto, token: str
) -> None:
    device = make_device("wled", f"strip-{token}", id="strip")
    async with SimulatedRoom([device], address_of(private_mosquitto), room_id="t") as room:
        assert await room.wait_online(timeout=5)
        private_mosquitto.restart()
        topic = f"wled/strip-{token}/status"
        async with Recorder(private_mosquitto.host, private_mosquitto.port, [topic]) as watcher:
            await watcher.wait_for(topic, "online", timeout=5)


async def test_a_device_taken_offline_while_it_connects_stays_offline_until_the_fault_ends(
    mosquitto: Mosquitto, recorder: Recorder, token: str
) -> None:
    """A fault due at once reaches the device while its first connection is under way (on a
    loaded machine, any early fault can): it must not come online until the fault ends. It
    came online anyway and stayed online through the fault."""
    strip = make_device("wled", f"strip-{token}", id="strip", rgb=True)
    faults = [Fault("strip", FaultKind.OFFLINE, at_s=0.0, for_s=1.0)]
    now = [0.0]
    address = address_of(mosquitto)
    async with SimulatedRoom(
        [strip], address, room_id="t", faults=faults, clock=lambda: now[0]
    ) as room:
        device, topic = room.devices["strip"], availability(room, "strip")
        assert not await device.wait_online(timeout=1.0)
        await recorder.wait_for(topic, "offline")  # its will: the broker had seen it connect
        assert b"online" not in recorder.payloads(topic)
        now[0] = 1.0  # the fault ends
        assert await device.wait_online(timeout=5)
        await recorder.wait_for(topic, "online")
