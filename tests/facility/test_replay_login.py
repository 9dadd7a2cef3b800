"""A replay on the facility broker, logged in as the room's replay login: no other client can
cut it off by taking its client id (its will would then say the replay room went offline)."""

from __future__ import annotations

import asyncio

from controller.config import load_room
from controller.journal.store import SessionMeta
from controller.research.room_targets import SimTarget
from tests.facility.conftest import LoginFactory
from tests.facility.support import QUIET_S, Facility, eventually_received

REPLAY_ROOM = "room-a-replay"
STATUS = f"sessionroom/{REPLAY_ROOM}/status"
TAKEN_IDS = (
    f"sessionroom-replay-{REPLAY_ROOM}",
    f"sessionroom-replay-{REPLAY_ROOM}-devices",
    "sessionroom-replay-check-room-a",
    "sessionroom-demo",
)
"""The client ids a replay (and the demo) used to connect with, the same in every process."""


async def test_a_second_client_cannot_cut_a_running_replay_off(
    facility: Facility, login: LoginFactory
) -> None:
    room = load_room(facility.rooms["room-a"] / "config.yaml")
    settings = room.settings.broker.for_role("replay")
    target = SimTarget(room, settings, replay_room=REPLAY_ROOM)
    target.devices = {}  # the replay's connections are under test, not its simulated devices
    watcher = login("room-a", "replay")
    watcher.subscribe(STATUS)
    meta = SessionMeta("s-1", "room-a", "plan", "P01", 1.0, 0, None, True)
    await target.open(meta)
    try:
        assert await asyncio.to_thread(eventually_received, watcher, STATUS) == ["online"]
        for client_id in TAKEN_IDS:
            assert login("room-a", "replay", client_id=client_id).accepted
        await asyncio.sleep(QUIET_S)
        assert watcher.received(STATUS) == ["online"]
    finally:
        await target.close()
