"""make_driver(device): the MQTT driver for a configured device."""

from __future__ import annotations

from controller.config.models import Device
from controller.drivers.base import Driver
from controller.drivers.mqtt_bls import MqttBls
from controller.drivers.mqtt_vitals import MqttVitals
from controller.drivers.mqtt_vr import MqttVr
from controller.drivers.shelly import ShellyLight
from controller.drivers.tasmota import TasmotaLight
from controller.drivers.wled import WledLight
from controller.drivers.zigbee2mqtt import Zigbee2MqttLight

DRIVER_CLASSES: dict[str, type[Driver]] = {
    "zigbee2mqtt": Zigbee2MqttLight,
    "tasmota": TasmotaLight,
    "wled": WledLight,
    "shelly": ShellyLight,
    "mqtt-vr": MqttVr,
    "mqtt-bls": MqttBls,
    "mqtt-vitals": MqttVitals,
}


def make_driver(device: Device) -> Driver:
    """A fresh driver for `device`; ValueError for local renderers (vlc, tones)."""
    driver_class = DRIVER_CLASSES.get(device.driver)
    if driver_class is None:
        raise ValueError(
            f"device {device.id!r} is rendered on the room PC by {device.driver!r}, "
            "not reached through an MQTT driver"
        )
    return driver_class(device)
