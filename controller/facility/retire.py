"""Retiring a room from a shared broker: clearing the messages it left retained there.

A room's engine leaves its `status` and `state` retained under `sessionroom/<room>/`, a room
broker's bridge its `bridge`, and with Home Assistant discovery the engine leaves its
device's discovery message; a replay of the room leaves its own `status` and `state` under
`sessionroom/<room>-replay/`. They outlive the room: after `facility init --drop` the
facility overview would list the room as offline for good, Home Assistant would keep its
device, and the replay's state (a session's phase and pseudonym) would stay on the broker.

`retire_room` clears them. It first reads the room's `status` and the replay's with the replay
login, and refuses while either is online (logging in as the engine would cut the running
engine off: on the facility broker its login is its client id). It knows both have arrived
once a message the login publishes under the replay's topics after subscribing does: a
status that did not arrive is then none, not one the login may not read (another room's
logins, in a room folder copied before it had its own) or one a slow broker sent late.
Then, as the engine and as the replay, it reads every message retained under their topics,
publishes an empty retained message on each (how MQTT deletes one) and on the engine's
discovery topic, and reads them again to see that none is left.

A room with a broker of its own (`facility init --bridge`) has two: the room's, which its
config.yaml names, and the facility broker, where its bridge leaves copies of the room's
`sessionroom/<room>/#` and its own `bridge` state (`0`, its will, once it is cut off). There
`retire_room` reads and clears them with the room's engine login (used by nobody on the
facility broker while the engine runs on the room's), and refuses while the room's `status`
there is online: the last the facility broker heard of the engine. The room's broker may be
gone with the room PC: the facility broker's copies are cleared all the same, and the
retirement says the room's broker was not reached. While its bridge is up, what is cleared on
the facility broker does not stay cleared: the bridge leaves `0` there when it stops.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

from controller.api.homeassistant import discovery
from controller.api.topics import MAX_STATUS_BYTES, ONLINE, REPLAY_SUFFIX, RoomTopics
from controller.bus import Message
from controller.bus.bus import Bus
from controller.bus.credentials import unique_client_id
from controller.config.settings import BrokerSettings, RoomSettings


class RoomOnlineError(Exception):
    """The room cannot be retired now (its engine is online)."""


class BrokerUnreachableError(Exception):
    """The broker did not take the connection, or did not answer in time."""


@dataclass(frozen=True)
class Cleared:
    """What `retire_room` cleared on one broker, and what was still retained when it looked
    again."""

    cleared: list[str]
    left: list[str]


@dataclass(frozen=True)
class Retirement:
    """What `retire_room` did on the room's broker and, for a room with a broker of its own,
    on the facility broker."""

    room: Cleared | None
    """None: the room's own broker was not reached (a room with a broker of its own only)."""
    facility: Cleared | None = None
    """None: the room has no broker of its own (its broker is the facility broker)."""
    still_bridged: bool = False
    """The room's broker was bridged to the facility broker: its bridge leaves `0` there when
    it stops."""


@dataclass(frozen=True)
class Logins:
    """The broker settings of the room's logins that retiring it uses."""

    engine: BrokerSettings
    replay: BrokerSettings
    facility: BrokerSettings | None = None
    """For a room with a broker of its own: the engine's login on the facility broker."""


async def retire_room(
    settings: RoomSettings, logins: Logins, *, root: Path, timeout_s: float
) -> Retirement:
    """Clear what room `settings.room` and its replays left retained (files named in the
    logins' settings start at `root`)."""
    room = RoomTopics(settings.room)
    replay = RoomTopics(settings.room + REPLAY_SUFFIX)
    try:
        statuses: dict[str, str] | None = await _retained_under(
            logins.replay, replay, (room.status,), root=root, timeout_s=timeout_s
        )
    except BrokerUnreachableError:
        if logins.facility is None:
            raise
        statuses = None  # the room's own broker, gone with the room PC
    # Refused before the engine's login is used on the facility broker: an engine online
    # there (a room set up again without a broker of its own) would be cut off by it.
    if (statuses or {}).get(room.status) == ONLINE:
        raise RoomOnlineError(
            f"the engine of room {settings.room} is online: stop it first, then retire the room"
        )
    if (statuses or {}).get(replay.status) == ONLINE:
        raise RoomOnlineError(
            f"a replay of room {settings.room} is running ({replay.room}): let it end first"
        )
    copies: dict[str, str] = {}
    if logins.facility is not None:
        copies = await _retained_under(logins.facility, room, root=root, timeout_s=timeout_s)
    if copies.get(room.status) == ONLINE:
        raise RoomOnlineError(
            f"the engine of room {settings.room} is online as the facility broker last heard "
            "from the room's broker: stop it first, then retire the room"
        )
    announced = [discovery(settings.room, None, settings.home_assistant).topic]
    on_room = None
    if statuses is not None:
        cleared = [
            await _clear_under(login, topics, also, root=root, timeout_s=timeout_s)
            for login, topics, also in (
                (logins.engine, room, announced),
                (logins.replay, replay, []),
            )
        ]
        on_room = Cleared(
            [t for c in cleared for t in c.cleared], [t for c in cleared for t in c.left]
        )
    on_facility = None
    if logins.facility is not None:
        on_facility = await _clear_under(
            logins.facility, room, announced, root=root, timeout_s=timeout_s
        )
    return Retirement(on_room, on_facility, still_bridged=copies.get(room.bridge) == "1")


async def _clear_under(
    login: BrokerSettings, topics: RoomTopics, also: list[str], *, root: Path, timeout_s: float
) -> Cleared:
    """Clear every message retained under the room's base (and the topics `also`), as
    `login` reads them, and look again."""
    found = list(await _retained_under(login, topics, root=root, timeout_s=timeout_s))
    await _clear(login, [*found, *also], root=root, timeout_s=timeout_s)
    return Cleared(
        found, list(await _retained_under(login, topics, root=root, timeout_s=timeout_s))
    )


async def _retained_under(
    login: BrokerSettings,
    topics: RoomTopics,
    also: tuple[str, ...] = (),
    *,
    root: Path,
    timeout_s: float,
) -> dict[str, str]:
    """The topics under the room's base (and the topics `also`) with a retained message, and
    the start of each message (a status's length), as `login` (which may read and publish
    under the base) reads them: every one has arrived once a message the login publishes
    after subscribing does."""
    marker = f"{topics.base}/retiring/{uuid.uuid4().hex}"
    found: dict[str, str] = {}
    marked = asyncio.Event()

    def on_message(message: Message) -> None:
        if message.topic == marker:
            marked.set()
        elif message.retain and message.payload:
            found[message.topic] = message.payload[:MAX_STATUS_BYTES].decode("utf-8", "replace")

    bus = _bus(login, "sessionroom-retire", root)
    for topic_filter in (f"{topics.base}/#", *also):
        bus.subscribe(topic_filter, on_message)
    async with bus:
        await _connected(bus, login, timeout_s)
        await bus.publish(marker, b"", qos=1)
        try:
            await asyncio.wait_for(marked.wait(), timeout_s)
        except TimeoutError:
            raise BrokerUnreachableError(
                f"the broker did not pass on the login's own message within "
                f"{timeout_s:g} s (may the login read {topics.base}/#?)"
            ) from None
    return found


async def _clear(
    login: BrokerSettings, retained: list[str], *, root: Path, timeout_s: float
) -> None:
    bus = _bus(login, "sessionroom-retire", root)
    async with bus:
        await _connected(bus, login, timeout_s)
        for topic in retained:
            await bus.room_to_publish()  # a full queue would drop the oldest clears
            await bus.publish(topic, b"", qos=1, retain=True)


def _bus(settings: BrokerSettings, name: str, root: Path) -> Bus:
    return Bus(settings, client_id=unique_client_id(name), root=root, retry_max_s=1.0)


async def _connected(bus: Bus, login: BrokerSettings, timeout_s: float) -> None:
    if not await bus.wait_connected(timeout_s):
        raise BrokerUnreachableError(
            f"cannot reach the MQTT broker within {timeout_s:g} s ({login.host}:{login.port})"
        )
