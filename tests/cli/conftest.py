"""The room of the end-to-end tests: simulated devices on a Mosquitto of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.room import Operator, room_on


@pytest.fixture
def operator(private_mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Operator]:
    with room_on(private_mosquitto, tmp_path) as room:
        yield room
