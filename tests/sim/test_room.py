"""The simulated room without a broker: which devices it simulates, and faults on its clock."""

from __future__ import annotations

import pytest

from controller.sim import BrokerAddress, Fault, FaultKind, SimulatedRoom, make_model
from controller.sim.tasmota import TasmotaLight
from tests.sim.support import make_device

NOWHERE = BrokerAddress("127.0.0.1", 1)


def room_with(*faults: Fault) -> SimulatedRoom:
    devices = [
        make_device("tasmota", "lamp"),
        make_device("wled", "strip"),
        make_device("vlc", None, id="music"),
    ]
    return SimulatedRoom(devices, NOWHERE, room_id="t", faults=faults, clock=lambda: 0.0)


def test_every_mqtt_driver_has_a_model_and_local_ones_do_not() -> None:
    assert isinstance(make_model(make_device("tasmota", "lamp")), TasmotaLight)
    for local in ("vlc", "tones"):
        with pytest.raises(ValueError, match="not simulated"):
            make_model(make_device(local, None, id="local"))


def test_the_room_simulates_its_mqtt_devices_only() -> None:
    room = room_with()
    assert sorted(room.devices) == ["lamp", "strip"]
    assert [device.id for device in room.local_devices] == ["music"]
    assert room.devices["lamp"].client_id == "sessionroom-sim-t-lamp"


def test_a_fault_for_a_device_that_is_not_simulated_is_refused() -> None:
    with pytest.raises(ValueError, match="'music': no such simulated device"):
        room_with(Fault("music", FaultKind.DROP))


def test_faults_start_and_end_on_the_rooms_clock() -> None:
    room = room_with(
        Fault("*", FaultKind.DROP, at_s=1.0, for_s=2.0),
        Fault("lamp", FaultKind.DELAY, at_s=0.0, delay_s=0.5),
    )
    lamp, strip = room.devices["lamp"].gate, room.devices["strip"].gate
    room.tick(0.0)
    assert (lamp.delay_s, lamp.dropping, strip.dropping) == (0.5, False, False)
    room.tick(1.0)
    assert (lamp.dropping, strip.dropping) == (True, True)
    room.tick(2.9)
    assert strip.dropping
    room.tick(3.0)
    assert (lamp.dropping, strip.dropping, lamp.delay_s) == (False, False, 0.5)
