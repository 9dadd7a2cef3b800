"""docs/robustness.md#queueing, "A flood of commands goes at the broker's pace": while the
engine's outgoing queue is more than half full, a command (not the emergency) waits before it
is carried out, and so does the answer to a message that is no command, or to one delivered
again, so the replies and events of a flood never push each other out of that bounded queue.
The broker's acknowledgements to the engine are held back by a relay (the broker itself runs
as usual), so what the engine publishes piles up in its queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from controller.bus.bus import Bus
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.config.settings import HomeAssistantSettings
from controller.engine import service as service_module
from controller.engine.service import RoomService
from tests.bus.relay import BrokerRelay
from tests.conftest import REPO
from tests.engine.test_service import Wire, client_for, eventually, hang_the_journals
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

NOTES = 1200
"""With every note's event and reply, more than the queue (1,000) and the messages in flight
(500) hold."""
PUBACK = 0x40


class HoldsAcknowledgements(BrokerRelay):
    """Passes the broker's packets on, except its PUBACKs while `holding`: those wait."""

    def __init__(self, broker: Mosquitto) -> None:
        super().__init__(broker)
        self.holding = False
        self._held: list[tuple[bytes, asyncio.StreamWriter]] = []

    def forward(self, packet: bytes, client: asyncio.StreamWriter) -> bool:
        if self.holding and packet[0] & 0xF0 == PUBACK:
            self._held.append((packet, client))
        else:
            client.write(packet)
        return True

    def release(self) -> None:
        self.holding = False
        for packet, client in self._held:
            client.write(packet)
        self._held.clear()


@dataclass
class HeldRoom:
    """A room's engine in a session behind `HoldsAcknowledgements`, and a client to flood it."""

    service: RoomService
    bus: Bus
    relay: HoldsAcknowledgements
    publisher: paho.Client
    topic: str
    """`sessionroom/<room>`."""


@contextlib.asynccontextmanager
async def held_room(
    broker: Mosquitto, tmp_path: Path, *, home_assistant: bool = False, session: bool = True
) -> AsyncIterator[HeldRoom]:
    """The example room's engine, its session started (unless not `session`), connected
    through a relay that holds the broker's acknowledgements when told; with
    `home_assistant`, discovery on."""
    publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
    async with HoldsAcknowledgements(broker) as relay:
        room = apply_overrides(
            load_room(REPO / "config.yaml"),
            Overrides(
                broker=f"mqtt://127.0.0.1:{relay.port}",
                room_id=f"r{uuid.uuid4().hex[:8]}",
                data_dir=tmp_path,
            ),
        )
        if home_assistant:
            room.settings = room.settings.model_copy(
                update={"home_assistant": HomeAssistantSettings(discovery=True)}
            )
        service = RoomService(room)
        task = asyncio.create_task(service.run())
        try:
            async with client_for(broker, room.room_id) as client:
                if session:
                    started = await client.command(
                        "start", timeout=5, plan="rehearsal", participant="P1"
                    )
                    assert started["ok"]
                else:
                    await client.wait_online(timeout=5)
            assert service.bus is not None
            publisher.connect(broker.host, broker.port)
            publisher.loop_start()
            yield HeldRoom(service, service.bus, relay, publisher, f"sessionroom/{room.room_id}")
        finally:
            relay.release()
            publisher.loop_stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def waits_for_room(bus: Bus, sent: int) -> Callable[[], bool]:
    """A check that what was sent waits while the queue is over half full, none of it taken
    meanwhile."""
    waiting: list[int] = []

    def check() -> bool:
        waiting.append(bus.waiting)
        return len(waiting) > 10 and 0 < waiting[-1] == waiting[-10] < sent

    return check


async def flood_waits_for_room(
    room: HeldRoom,
    message: Callable[[int], dict[str, object]],
    after_the_first: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """`NOTES` messages on the command topic while the broker's acknowledgements are held:
    they wait for room in the outgoing queue, none pushed out of it."""
    room.relay.holding = True
    for n in range(NOTES):
        room.publisher.publish(f"{room.topic}/cmd", json.dumps(message(n)), qos=1)
        if n == 0 and after_the_first is not None:
            await after_the_first()
    waiting = waits_for_room(room.bus, NOTES)
    await eventually(
        lambda: room.bus.dropped > 0 or waiting(),
        "the flood waiting for room in the queue, or messages dropped from it",
    )
    assert room.bus.dropped == 0, f"{room.bus.dropped} messages pushed out of the outgoing queue"


def replies_to_the_flood(wire: Wire, room: HeldRoom) -> int:
    prefix = f"{room.topic}/reply/flood"
    return sum(1 for topic, _, _ in wire.messages if topic.startswith(prefix))


def notes(n: int) -> dict[str, object]:
    """Notes, each under its own id: each carried out and answered."""
    return {"id": f"flood{n}", "action": "note", "text": "breathing slowly"}


def unknown_action(n: int) -> dict[str, object]:
    """Messages that are no command, each under its own id: each refused."""
    return {"id": f"flood{n}", "action": "dance"}


def the_same_note(n: int) -> dict[str, object]:
    """One note delivered again and again: carried out once, its reply repeated."""
    return {"id": "flood-note", "action": "note", "text": "breathing slowly"}


@pytest.mark.parametrize(
    ("message", "every_one_answered"),
    [(notes, True), (unknown_action, True), (the_same_note, False)],
    ids=["notes", "no command", "a command delivered again"],
)
async def test_a_flood_on_the_command_topic_waits_for_room_in_the_queue_and_nothing_is_dropped(
    private_mosquitto: Mosquitto,
    tmp_path: Path,
    message: Callable[[int], dict[str, object]],
    every_one_answered: bool,
) -> None:
    """Carried out or not, each message on the command topic is answered, and the answers
    wait for room in the queue as the commands do: refused at once, a flood of messages that
    are no command, or the replies repeated to one delivered again, pushed about 200 older
    messages out of the queue."""
    wire = Wire(private_mosquitto)
    try:
        async with held_room(private_mosquitto, tmp_path) as room:
            await flood_waits_for_room(room, message)
            room.relay.release()

            def answered() -> bool:
                replies = replies_to_the_flood(wire, room)
                return replies == NOTES if every_one_answered else room.bus.waiting == 0 < replies

            await eventually(answered, "the flood answered", timeout=60)
            assert room.bus.dropped == 0 and room.bus.expired == 0
    finally:
        wire.close()


async def test_starts_refused_while_a_start_is_under_way_wait_for_room_in_the_queue(
    private_mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start refused because another start's journal is still being opened (its data folder
    slow to answer) is answered at the broker's pace too: each refused at once, a flood of
    them pushed older messages out of the queue (265 in this test). The first start's
    journal is waited for longer than the test lasts: given up on, it would let the next
    start ask the disk in its turn."""
    monkeypatch.setattr(service_module, "JOURNAL_OPEN_WAIT_S", 60.0)
    asked, answers = hang_the_journals(monkeypatch)

    def starts(n: int) -> dict[str, object]:
        return {"id": f"flood{n}", "action": "start", "plan": "rehearsal", "participant": f"P{n}"}

    async def the_first_asks_the_disk() -> None:
        await eventually(asked.is_set, "the first start asking the disk for its journal")

    wire = Wire(private_mosquitto)
    try:
        async with held_room(private_mosquitto, tmp_path, session=False) as room:
            await flood_waits_for_room(room, starts, the_first_asks_the_disk)
            answers.set()
            room.relay.release()
            await eventually(
                lambda: replies_to_the_flood(wire, room) == NOTES, "every start answered", 60
            )
            assert room.bus.dropped == 0 and room.bus.expired == 0
    finally:
        answers.set()
        wire.close()
