"""Device drivers: pure translators between the engine's targets and each device's MQTT messages."""

from controller.drivers.base import (
    Availability,
    BlsCommand,
    BlsDriver,
    CommandDriver,
    Driver,
    LightCommand,
    LightDriver,
    Outgoing,
    Reception,
    VitalsDriver,
    VrCommand,
    VrDriver,
)
from controller.drivers.registry import make_driver

__all__ = [
    "Availability",
    "BlsCommand",
    "BlsDriver",
    "CommandDriver",
    "Driver",
    "LightCommand",
    "LightDriver",
    "Outgoing",
    "Reception",
    "VitalsDriver",
    "VrCommand",
    "VrDriver",
    "make_driver",
]
