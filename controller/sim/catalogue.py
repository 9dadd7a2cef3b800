"""Which driver each simulated device model speaks, and building one for a device of the room."""

from __future__ import annotations

import random

from controller.config.models import Device
from controller.sim.bls import BlsDevice
from controller.sim.model import DeviceModel
from controller.sim.shelly import ShellyLight
from controller.sim.tasmota import TasmotaLight
from controller.sim.vitals import VitalsSensor
from controller.sim.vr import VrHeadset
from controller.sim.wled import WledLight
from controller.sim.zigbee2mqtt import Zigbee2MqttLight

SIMULATED_MODELS: dict[str, type[DeviceModel]] = {
    "zigbee2mqtt": Zigbee2MqttLight,
    "tasmota": TasmotaLight,
    "wled": WledLight,
    "shelly": ShellyLight,
    "mqtt-vr": VrHeadset,
    "mqtt-bls": BlsDevice,
    "mqtt-vitals": VitalsSensor,
}
"""Every MQTT driver; local `vlc` and `tones` devices play on the room PC, not simulated."""


def is_simulated(device: Device) -> bool:
    return device.driver in SIMULATED_MODELS


def make_model(
    device: Device,
    *,
    unix_offset: float = 0.0,
    rng: random.Random | None = None,
    time_scale: float = 1.0,
) -> DeviceModel:
    """The simulated firmware for `device`; ValueError for a device not reached over MQTT.

    `time_scale` (a rehearsal's speed) shortens a cuff's measuring time.
    """
    if device.driver == "mqtt-vitals":
        return VitalsSensor(device, unix_offset=unix_offset, rng=rng, time_scale=time_scale)
    model = SIMULATED_MODELS.get(device.driver)
    if model is None:
        raise ValueError(f"{device.id} ({device.driver}) is local to the room PC, not simulated")
    return model(device, unix_offset=unix_offset)
