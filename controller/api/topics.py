"""Topic names of the controller's own MQTT API (docs/control-api.md)."""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "sessionroom"
"""The first level of every topic of the controller's own API."""
REPLAY_SUFFIX = "-replay"
"""A replay's room is the recorded room's id with this suffix (`room-a-replay`); no real room's
id ends with it on a facility broker, so the overview can tell a replay from a room."""


def is_replay(room: str) -> bool:
    """Whether `room` is a replay's room rather than a room with an engine."""
    return room.endswith(REPLAY_SUFFIX)


@dataclass(frozen=True)
class RoomTopics:
    """Topics under `sessionroom/<room>/`: status, state, cmd, reply/<id> and events."""

    room: str

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.room}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def cmd(self) -> str:
        return f"{self.base}/cmd"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def bridge(self) -> str:
        """`1` or `0` from a room broker's bridge (docs/facility.md), on both its brokers."""
        return f"{self.base}/bridge"

    @property
    def emergency(self) -> str:
        """Any message here is an emergency press (Home Assistant's button; docs/facility.md)."""
        return f"{self.base}/emergency"

    def reply(self, command_id: str) -> str:
        return f"{self.base}/reply/{command_id}"

    @property
    def replies(self) -> str:
        return f"{self.base}/reply/+"


ONLINE = "online"
OFFLINE = "offline"


MAX_STATE_BYTES = 1024 * 1024
"""A `state` snapshot larger than this is unreadable to consoles and tools (docs/robustness.md)."""
MAX_REPLY_BYTES = 64 * 1024
"""Likewise a `reply/<id>` or an `events` message."""
MAX_STATUS_BYTES = 64
"""Likewise a `status` (`online` or `offline`)."""
