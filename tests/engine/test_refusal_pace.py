"""docs/robustness.md#queueing, "A flood of commands goes at the broker's pace": so do the
refusals of messages that are no command, and the replies repeated to a command delivered
again. Whoever sends them on the command topic gets an answer to each; while the broker is
slow to acknowledge, those answers must wait for room in the engine's outgoing queue like any
command's reply, never push older messages (a device's target, another reply) out of it.
The broker's acknowledgements to the engine are held back by a relay, as in
`tests/engine/test_command_pace.py`, whose relay this reuses.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from controller.bus import Message
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.config.settings import HomeAssistantSettings
from controller.engine.service import RoomService
from tests.conftest import REPO
from tests.engine.test_command_pace import NOTES, HoldsAcknowledgements
from tests.engine.test_service import Wire, client_for, eventually
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto


def unknown_action(n: int) -> dict[str, object]:
    """A message that is no command: refused, each under its own id."""
    return {"id": f"bad{n}", "action": "dance"}


def the_same_note(n: int) -> dict[str, object]:
    """One note delivered again and again: carried out once, its reply repeated."""
    return {"id": "bad-note", "action": "note", "text": "breathing slowly"}


@pytest.mark.parametrize("message", [unknown_action, the_same_note])
async def test_a_flood_answered_without_a_command_carried_out_goes_at_the_broker_s_pace(
    private_mosquitto: Mosquitto, tmp_path: Path, message: Callable[[int], dict[str, object]]
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
                publisher.publish(f"{topic}/cmd", json.dumps(message(n)), qos=1)
            waiting: list[int] = []

            def waits_for_room() -> bool:
                """Refusals wait while the queue is over half full, none sent meanwhile."""
                waiting.append(bus.waiting)
                return len(waiting) > 10 and 0 < waiting[-1] == waiting[-10] < NOTES

            await eventually(
                lambda: bus.dropped > 0 or waits_for_room(),
                "refusals waiting for room in the queue, or messages dropped from it",
            )
            assert bus.dropped == 0, f"{bus.dropped} messages pushed out of the outgoing queue"
            relay.release()

            def replies() -> int:
                return sum(1 for t, _, _ in wire.messages if t.startswith(f"{topic}/reply/bad"))

            await eventually(
                lambda: bus.waiting == 0 and replies() > 0, "the flood answered", timeout=60
            )
            assert bus.dropped == 0 and bus.expired == 0
        finally:
            relay.release()
            publisher.loop_stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            wire.close()


@pytest.mark.xfail(
    strict=True,
    reason="each press on Home Assistant's button topic is a new emergency, answered "
    "and cleared at once, never at the broker's pace",
)
async def test_a_flood_of_presses_of_home_assistant_s_button_pushes_nothing_out_of_the_queue(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Home Assistant's button publishes `PRESS` on the room's `emergency` topic; each press
    is an emergency command of its own (a new id), answered, and cleared from the topic with
    an empty retained message. Pressed again and again while the broker is slow to
    acknowledge, those answers and clearings pushed older messages (the first press's
    lights-up among them) out of the outgoing queue."""
    broker = private_mosquitto
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
        room.settings = room.settings.model_copy(
            update={"home_assistant": HomeAssistantSettings(discovery=True)}
        )
        service = RoomService(room)
        task = asyncio.create_task(service.run())
        try:
            async with client_for(broker, room.room_id) as client:
                started = await client.command(
                    "start", timeout=5, plan="rehearsal", participant="P1"
                )
                assert started["ok"]
            bus = service.bus
            assert bus is not None
            button = f"sessionroom/{room.room_id}/emergency"
            presses: list[Message] = []
            unread: list[Message] = []  # dropped on arrival (the lane of urgent ones full)
            bus.on_dropped(lambda message, _: unread.append(message))
            # heard after the engine's own handler of the topic, once it has taken the press
            bus.subscribe(
                button, lambda message: presses.append(message) if message.payload else None
            )
            relay.holding = True
            publisher.connect(broker.host, broker.port)
            publisher.loop_start()
            for _ in range(NOTES):
                publisher.publish(button, b"PRESS", qos=1)
            await eventually(
                lambda: len(presses) + len(unread) == NOTES, "every press taken or dropped"
            )
            assert bus.dropped == 0, f"{bus.dropped} messages pushed out of the outgoing queue"
        finally:
            relay.release()
            publisher.loop_stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
