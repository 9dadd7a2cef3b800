"""The engine's parts on the example room (`room_parts.RoomParts`), fresh for each test."""

from __future__ import annotations

import pytest

from tests.engine.room_parts import RoomParts


@pytest.fixture
def parts() -> RoomParts:
    return RoomParts()
