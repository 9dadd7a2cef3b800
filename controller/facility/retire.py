"""Retiring a room from a shared broker: clearing the messages it left retained there.

A room's engine leaves its `status` and `state` retained under `sessionroom/<room>/`, a room
broker's bridge its `bridge`, and with Home Assistant discovery the engine leaves its
device's discovery message. They outlive the room: after `facility init --drop` the facility
overview would list the room as offline for good, and Home Assistant would keep its device.

`retire_room` clears them. It first reads the room's `status` with the console's login and
refuses while the engine is online (logging in as the engine would cut the running engine
off: on the facility broker its login is its client id). Then, as the engine, it reads every
message retained under the room's topics, publishes an empty retained message on each (how
MQTT deletes one) and on the discovery topic, and reads them again to see that none is left.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

from controller.api.homeassistant import discovery
from controller.api.topics import MAX_STATUS_BYTES, ONLINE, RoomTopics
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


async def retire_room(
    settings: RoomSettings,
    console: BrokerSettings,
    engine: BrokerSettings,
    *,
    root: Path,
    timeout_s: float,
) -> Retirement:
    """Clear what room `settings.room` left retained: `console` and `engine` are the two
    logins' broker settings (files named in them start at `root`)."""
    topics = RoomTopics(settings.room)
    status = await _retained_status(console, topics, root=root, timeout_s=timeout_s)
    if status == ONLINE:
        raise RoomOnlineError(
            f"the engine of room {settings.room} is online: stop it first "
            "(and the room's own broker, with --bridge), then retire the room"
        )
    found = await _retained_under(engine, topics, root=root, timeout_s=timeout_s)
    announced = discovery(settings.room, None, settings.home_assistant).topic
    await _clear(engine, [*found, announced], root=root, timeout_s=timeout_s)
    left = await _retained_under(engine, topics, root=root, timeout_s=timeout_s)
    return Retirement(found, left)


async def _retained_status(
    console: BrokerSettings, topics: RoomTopics, *, root: Path, timeout_s: float
) -> str | None:
    """The room's retained status (`online`, `offline`), or None when there is none."""
    arrived = asyncio.Event()
    status: list[str] = []

    def on_status(message: Message) -> None:
        status.append(message.payload[:MAX_STATUS_BYTES].decode("utf-8", "replace"))
        arrived.set()

    bus = _bus(console, "sessionroom-retire-check", root)
    bus.subscribe(topics.status, on_status)
    async with bus:
        await _connected(bus, timeout_s)
        try:
            await asyncio.wait_for(arrived.wait(), STATUS_WAIT_S)
        except TimeoutError:
            return None
    return status[-1]


async def _retained_under(
    engine: BrokerSettings, topics: RoomTopics, *, root: Path, timeout_s: float
) -> list[str]:
    """The topics under the room's base with a retained message, as the engine login reads
    them: every one has arrived once a message the login publishes after subscribing does."""
    marker = f"{topics.base}/retiring/{uuid.uuid4().hex}"
    found: dict[str, None] = {}
    marked = asyncio.Event()

    def on_message(message: Message) -> None:
        if message.topic == marker:
            marked.set()
        elif message.retain and message.payload:
            found[message.topic] = None

    bus = _bus(engine, "sessionroom-retire", root)
    bus.subscribe(f"{topics.base}/#", on_message)
    async with bus:
        await _connected(bus, timeout_s)
        await bus.publish(marker, b"", qos=1)
        try:
            await asyncio.wait_for(marked.wait(), timeout_s)
        except TimeoutError:
            raise BrokerUnreachableError(
                f"the broker did not pass on the engine login's own message within "
                f"{timeout_s:g} s (may the login read {topics.base}/#?)"
            ) from None
    return list(found)


async def _clear(
    engine: BrokerSettings, retained: list[str], *, root: Path, timeout_s: float
) -> None:
    bus = _bus(engine, "sessionroom-retire", root)
    async with bus:
        await _connected(bus, timeout_s)
        for topic in retained:
            await bus.publish(topic, b"", qos=1, retain=True)


def _bus(settings: BrokerSettings, name: str, root: Path) -> Bus:
    return Bus(settings, client_id=unique_client_id(name), root=root, retry_max_s=1.0)


async def _connected(bus: Bus, timeout_s: float) -> None:
    if not await bus.wait_connected(timeout_s):
        raise BrokerUnreachableError(f"cannot reach the MQTT broker within {timeout_s:g} s")
