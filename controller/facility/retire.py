"""Retiring a room from a shared broker: clearing the messages it left retained there.

A room's engine leaves its `status` and `state` retained under `sessionroom/<room>/`, a room
broker's bridge its `bridge`, and with Home Assistant discovery the engine leaves its
device's discovery message; a replay of the room leaves its own `status` and `state` under
`sessionroom/<room>-replay/`. They outlive the room: after `facility init --drop` the
facility overview would list the room as offline for good, Home Assistant would keep its
device, and the replay's state (a session's phase and pseudonym) would stay on the broker.

`retire_room` clears them. It first reads the room's `status` with the console's login, and
the replay's with the replay login, and refuses while either is online (logging in as the
engine would cut the running engine off: on the facility broker its login is its client id).
Then, as the engine and as the replay, it reads every message retained under their topics,
publishes an empty retained message on each (how MQTT deletes one) and on the engine's
discovery topic, and reads them again to see that none is left.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

from controller.api.homeassistant import discovery
from controller.api.topics import MAX_STATUS_BYTES, ONLINE, REPLAY_SUFFIX, RoomTopics
from controller.bus import Bus, Message
from controller.bus.credentials import unique_client_id
from controller.config.settings import BrokerSettings, RoomSettings

STATUS_WAIT_S = 2.0
"""How long the room's retained status may take to arrive once subscribed (a broker sends it
with its answer to the subscription: milliseconds, on a LAN)."""


class RoomOnlineError(Exception):
    """The room cannot be retired now (its engine is online)."""


class BrokerUnreachableError(Exception):
    """The broker did not take the connection, or did not answer in time."""


@dataclass(frozen=True)
class Retirement:
    """What `retire_room` cleared, and what was still retained when it looked again."""

    cleared: list[str]
    left: list[str]


@dataclass(frozen=True)
class Logins:
    """The broker settings of the room's logins that retiring it uses."""

    console: BrokerSettings
    engine: BrokerSettings
    replay: BrokerSettings


async def retire_room(
    settings: RoomSettings, logins: Logins, *, root: Path, timeout_s: float
) -> Retirement:
    """Clear what room `settings.room` and its replays left retained (files named in the
    logins' settings start at `root`)."""
    room = RoomTopics(settings.room)
    replay = RoomTopics(settings.room + REPLAY_SUFFIX)
    if await _retained_status(logins.console, room, root=root, timeout_s=timeout_s) == ONLINE:
        raise RoomOnlineError(
            f"the engine of room {settings.room} is online: stop it first "
            "(and the room's own broker, with --bridge), then retire the room"
        )
    if await _retained_status(logins.replay, replay, root=root, timeout_s=timeout_s) == ONLINE:
        raise RoomOnlineError(
            f"a replay of room {settings.room} is running ({replay.room}): let it end first"
        )
    announced = discovery(settings.room, None, settings.home_assistant).topic
    cleared: list[str] = []
    left: list[str] = []
    for login, topics, also in ((logins.engine, room, [announced]), (logins.replay, replay, [])):
        found = await _retained_under(login, topics, root=root, timeout_s=timeout_s)
        await _clear(login, [*found, *also], root=root, timeout_s=timeout_s)
        cleared += found
        left += await _retained_under(login, topics, root=root, timeout_s=timeout_s)
    return Retirement(cleared, left)


async def _retained_status(
    login: BrokerSettings, topics: RoomTopics, *, root: Path, timeout_s: float
) -> str | None:
    """The retained status of `topics`' room (`online`, `offline`), or None when there is none."""
    arrived = asyncio.Event()
    status: list[str] = []

    def on_status(message: Message) -> None:
        status.append(message.payload[:MAX_STATUS_BYTES].decode("utf-8", "replace"))
        arrived.set()

    bus = _bus(login, "sessionroom-retire-check", root)
    bus.subscribe(topics.status, on_status)
    async with bus:
        await _connected(bus, timeout_s)
        try:
            await asyncio.wait_for(arrived.wait(), STATUS_WAIT_S)
        except TimeoutError:
            return None
    return status[-1]


async def _retained_under(
    login: BrokerSettings, topics: RoomTopics, *, root: Path, timeout_s: float
) -> list[str]:
    """The topics under the room's base with a retained message, as `login` (which may read
    and publish there) reads them: every one has arrived once a message the login publishes
    after subscribing does."""
    marker = f"{topics.base}/retiring/{uuid.uuid4().hex}"
    found: dict[str, None] = {}
    marked = asyncio.Event()

    def on_message(message: Message) -> None:
        if message.topic == marker:
            marked.set()
        elif message.retain and message.payload:
            found[message.topic] = None

    bus = _bus(login, "sessionroom-retire", root)
    bus.subscribe(f"{topics.base}/#", on_message)
    async with bus:
        await _connected(bus, timeout_s)
        await bus.publish(marker, b"", qos=1)
        try:
            await asyncio.wait_for(marked.wait(), timeout_s)
        except TimeoutError:
            raise BrokerUnreachableError(
                f"the broker did not pass on the login's own message within "
                f"{timeout_s:g} s (may the login read {topics.base}/#?)"
            ) from None
    return list(found)


async def _clear(
    login: BrokerSettings, retained: list[str], *, root: Path, timeout_s: float
) -> None:
    bus = _bus(login, "sessionroom-retire", root)
    async with bus:
        await _connected(bus, timeout_s)
        for topic in retained:
            await bus.room_to_publish()  # a full queue would drop the oldest clears
            await bus.publish(topic, b"", qos=1, retain=True)


def _bus(settings: BrokerSettings, name: str, root: Path) -> Bus:
    return Bus(settings, client_id=unique_client_id(name), root=root, retry_max_s=1.0)


async def _connected(bus: Bus, timeout_s: float) -> None:
    if not await bus.wait_connected(timeout_s):
        raise BrokerUnreachableError(f"cannot reach the MQTT broker within {timeout_s:g} s")
