"""Devices for the driver tests, each with its own topic so tests sharing a broker never meet."""

from __future__ import annotations

import uuid
from typing import Any

from controller.config.models import Device

KIND_OF_DRIVER = {
    "zigbee2mqtt": "light",
    "tasmota": "light",
    "wled": "light",
    "shelly": "light",
    "mqtt-vr": "vr",
    "mqtt-bls": "bls",
    "mqtt-vitals": "sensor",
}


def unique_topic(stem: str = "dev") -> str:
    return f"{stem}-{uuid.uuid4().hex[:10]}"


def device(driver: str, topic: str | None = None, **fields: Any) -> Device:
    """A valid device of that driver; BLS devices default to tactile."""
    if driver == "mqtt-bls":
        fields.setdefault("mode", "tactile")
    return Device(
        id="dev",
        kind=KIND_OF_DRIVER[driver],
        driver=driver,
        topic=topic or unique_topic(driver.replace("mqtt-", "")),
        **fields,
    )
