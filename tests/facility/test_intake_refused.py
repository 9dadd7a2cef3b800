"""A room PC whose intake login the facility broker refuses still hears its devices.

The engine reads its devices' reports on a connection of its own, logged in as
`intake.<room>` (docs/robustness.md#a-flood-of-device-reports). Given a wrong intake password
(a room folder brought along with an old password file), its own login reads them in its
place: the devices come online and the console shows a warning, not a room without vitals.
Real processes (`sessionroom run`, `sim`, `ctl`) on the facility broker `facility init` set up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.facility.support import Facility
from tests.support.room import running, sessionroom, until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

TOLD_AFTER_S = 5.0
"""`controller.bus.bus.INTAKE_TOLD_AFTER_S`: how long the intake is down before it counts."""


def config(facility: Facility) -> str:
    return str(facility.rooms["room-b"] / "config.yaml")


def state(facility: Facility) -> dict[str, Any] | None:
    result = sessionroom("ctl", "--config", config(facility), "--timeout", "2", "state")
    return json.loads(result.stdout) if result.returncode == 0 else None


@pytest.fixture
def room_b_with_an_old_intake_password(facility: Facility) -> Iterator[None]:
    (facility.rooms["room-b"] / "facility" / "intake.password").write_text("an old one\n")
    with running(
        ("sim", "--config", config(facility)),
        ("run", "--config", config(facility), "--time-scale", "1"),
    ):
        yield


def devices_heard(facility: Facility) -> dict[str, Any] | None:
    current = state(facility)
    if current is None or not all(
        device["available"] == "online" for device in current["devices"].values()
    ):
        return None
    return current


@pytest.mark.usefixtures("room_b_with_an_old_intake_password")
def test_an_engine_whose_intake_login_is_refused_hears_its_devices_and_warns(
    facility: Facility,
) -> None:
    current = until(lambda: devices_heard(facility), "room B's devices online", TOLD_AFTER_S + 15)

    alerts = {alert["key"]: alert for alert in current["alerts"]}
    assert alerts["intake"]["level"] == "warning"
    assert alerts["intake"]["message"].startswith(
        "device reports (vitals, device states) come in on the engine's own connection"
    )
