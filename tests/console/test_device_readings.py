"""What a device cell says the device last reported (docs/robustness.md: a console draws any
state it reads, and draws no number that was not one): a level or volume of `true` or
`false`, which Python would count as 1 and 0, reads as no level at all."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api.state import DeviceInfo
from controller.console.widgets.devices_panel import device_reading


def reported(state: dict[str, Any]) -> DeviceInfo:
    return DeviceInfo(kind="light", driver="wled", label="Strip", available="online", state=state)


@pytest.mark.parametrize(
    ("state", "reading"),
    [
        ({"on": True, "level": 0.35}, "35%"),
        ({"on": True, "level": 1}, "100%"),
        ({"on": False, "level": 0.35}, "off"),
        ({"on": True, "level": True}, ""),
        ({"on": True, "level": False}, ""),
        ({"volume": True}, ""),
        ({"volume": 0.5}, "vol 50%"),
    ],
)
def test_a_device_reads_its_level_only_from_a_number(state: dict[str, Any], reading: str) -> None:
    assert device_reading(reported(state)) == reading
