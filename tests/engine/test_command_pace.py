"""docs/robustness.md#queueing, "A flood of commands goes at the broker's pace": while the
engine's outgoing queue is more than half full, a command (not the emergency) waits before it
is carried out, so the replies and events of a flood never push each other out of that
bounded queue. The broker's acknowledgements to the engine are held back by a relay (the
broker itself runs as usual), so what the engine publishes piles up in its queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.engine.service import RoomService
from tests.bus.relay import BrokerRelay
from tests.conftest import REPO
from tests.engine.test_service import Wire, client_for, eventually
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


async def test_a_flood_of_notes_waits_for_room_in_the_queue_and_no_reply_is_dropped(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    broker = private_mosquitto
    wire = Wire(broker)
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
        service = RoomService(room)
        task = asyncio.create_task(service.run())
        topic = f"sessionroom/{room.room_id}"
        try:
            async with client_for(broker, room.room_id) as client:
                started = await client.command(
                    "start", timeout=5, plan="rehearsal", participant="P1"
                )
                assert started["ok"]
            bus = service.bus
            assert bus is not None
            relay.holding = True
            publisher.connect(broker.host, broker.port)
            publisher.loop_start()
            for n in range(NOTES):
                note = {"id": f"note{n}", "action": "note", "text": "breathing slowly"}
                publisher.publish(f"{topic}/cmd", json.dumps(note), qos=1)
            waiting: list[int] = []

            def waits_for_room() -> bool:
                """Commands wait while the queue is over half full, none carried out."""
                waiting.append(bus.waiting)
                return len(waiting) > 10 and 0 < waiting[-1] == waiting[-10] < NOTES

            await eventually(waits_for_room, "commands waiting for room in the queue")
            assert bus.dropped == 0
            relay.release()

            def replies() -> int:
                return sum(1 for t, _, _ in wire.messages if t.startswith(f"{topic}/reply/note"))

            await eventually(lambda: replies() == NOTES, "every note answered", timeout=60)
            assert bus.dropped == 0 and bus.expired == 0
        finally:
            relay.release()
            publisher.loop_stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            wire.close()
