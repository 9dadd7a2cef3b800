"""A room's retained state whose session or emergency has no shape the engine writes (an
id alone, a flag, a list) was written over by someone else and may hide a session or an
emergency: the room gets no live replay (docs/safety.md#replay-into-a-live-room)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.config.settings import BrokerSettings
from controller.research.room_targets import UNREADABLE_STATE, engine_activity
from tests.conftest import REPO
from tests.support.mosquitto import Mosquitto


@pytest.mark.parametrize(
    "retained",
    [
        '{"session": "s-now"}',
        '{"session": ["s-now"]}',
        '{"session": true}',
        '{"emergency": true}',
        '{"emergency": "active"}',
    ],
)
async def test_a_state_whose_session_or_emergency_has_no_known_shape_is_unreadable(
    mosquitto: Mosquitto, tmp_path: Path, retained: str
) -> None:
    room = apply_overrides(
        load_room(REPO / "config.yaml"),
        Overrides(broker=mosquitto.url, room_id=f"r{uuid.uuid4().hex[:8]}", data_dir=tmp_path),
    )
    await asyncio.to_thread(
        publish.single, f"sessionroom/{room.room_id}/state", retained, qos=1, retain=True,
        hostname=mosquitto.host, port=mosquitto.port,
    )  # fmt: skip
    settings = BrokerSettings(mode="external", host=mosquitto.host, port=mosquitto.port)
    assert (await engine_activity(settings, room)).busy == UNREADABLE_STATE
