"""Fixtures: one facility (two rooms) on a Mosquitto started with the generated files."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.facility.support import Facility, Login, make_facility


@pytest.fixture(scope="module")
def facility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Facility]:
    made = make_facility(tmp_path_factory.mktemp("facility"))
    made.broker.start()
    yield made
    made.broker.stop()


LoginFactory = Callable[..., Login]


@pytest.fixture
def login(facility: Facility) -> Iterator[LoginFactory]:
    """`login(room, role)` opens that role's login (room None: front desk or overview); a
    device's role is `device/<id>`, a Zigbee2MQTT's `zigbee2mqtt/<base>`."""
    opened: list[Login] = []

    def open_login(
        room: str | None,
        role: str,
        *,
        password: str | None = None,
        client_id: str | None = None,
        bound: bool | None = None,
    ) -> Login:
        kind, name = role.split("/")[0], role.split("/")[-1]
        file = f"{name}.password"
        username = name if room is None else f"{kind}.{room}"
        if kind == "device":
            file, username = f"devices/{name}.password", f"device.{room}.{name}"
        if kind == "zigbee2mqtt":  # zigbee2mqtt/<base>
            file, username = f"zigbee2mqtt/{name}.password", f"zigbee2mqtt.{room}.{name}"
        on_own_id = role in ("engine", "intake", "homeassistant") or kind in (
            "device",
            "zigbee2mqtt",
        )
        on_room_port = on_own_id if bound is None else bound
        extra = {} if client_id is None else {"client_id": client_id}
        made = Login(
            facility,
            username,
            password if password is not None else facility.password(room, file),
            facility.room_port if on_room_port else facility.port,
            **extra,
        )
        made.open()
        opened.append(made)
        return made

    yield open_login
    for made in opened:
        made.close()
