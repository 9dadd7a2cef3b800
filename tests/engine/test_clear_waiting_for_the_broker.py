"""A `clear_emergency` waiting for room on a slow broker is still overtaken by a press that
came after it (docs/emergency.md#clear-emergency): an emergency goes ahead of every command
queued before it, and one pressed after the clear was sent and carried out before it stands.

A clear sent behind a start whose journal is being opened waits in line
(docs/robustness.md#queueing); its turn come, a broker whose outgoing queue is more than half
full makes it wait for room (a flood goes at the broker's pace). The press meanwhile is
carried out at once, as ever. Carried out after it, the clear must be refused as overtaken.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from controller.api.client import RoomClient
from controller.engine import service as service_module
from controller.engine.service import RoomService
from tests.engine.test_service import (
    DEADLINE_S,
    Wire,
    client_for,
    eventually,
    hang_the_journals,
    press_and_see_the_lights_up,
    service,  # noqa: F401 (a fixture)
    start_asking_the_disk,
    wire,  # noqa: F401 (a fixture)
)
from tests.support.mosquitto import Mosquitto


def a_slow_broker_from_the_second_wait(
    engine_service: RoomService, monkeypatch: pytest.MonkeyPatch
) -> tuple[asyncio.Event, asyncio.Event]:
    """A stand-in for a broker slow to take the engine's messages (its outgoing queue more
    than half full): a real one that is connected yet takes nothing would take no press
    either. The first wait for room (the start's, once its journal is open) passes; from the
    second on, commands wait until the first event returned is set. The second is set once a
    command waits."""
    bus = engine_service.bus
    assert bus is not None
    room, waiting = asyncio.Event(), asyncio.Event()
    waits = 0

    async def room_to_publish() -> None:
        nonlocal waits
        waits += 1
        if waits > 1:
            waiting.set()
            await room.wait()

    monkeypatch.setattr(bus, "has_room_to_publish", room.is_set)
    monkeypatch.setattr(bus, "room_to_publish", room_to_publish)
    return room, waiting


async def test_a_clear_waiting_for_the_broker_is_overtaken_by_a_press_meanwhile(
    mosquitto: Mosquitto,
    service: RoomService,  # noqa: F811 (the fixture)
    wire: Wire,  # noqa: F811 (the fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service_module, "JOURNAL_OPEN_WAIT_S", 10.0)  # slow, not silent
    asked, answers = hang_the_journals(monkeypatch)
    client: RoomClient
    async with client_for(mosquitto, service.room.room_id) as client:
        try:
            starting = await start_asking_the_disk(client, asked)
            await press_and_see_the_lights_up(client, wire)
            clearing = asyncio.create_task(client.command("clear_emergency", timeout=20))
            await eventually(lambda: len(service._line) >= 2, "the clear in line behind the start")
            room, waiting = a_slow_broker_from_the_second_wait(service, monkeypatch)
        finally:
            answers.set()  # the journal opens; the start is refused, latched
        start: dict[str, Any] = await starting
        assert start["ok"] is False
        await asyncio.wait_for(waiting.wait(), DEADLINE_S)  # the clear waits for the broker
        assert not clearing.done()
        pressed = await client.command("emergency", timeout=5)  # pressed after the clear
        assert pressed["ok"] is True
        room.set()
        cleared = await clearing
        state = await client.state(timeout=5)
    assert state["emergency"]["active"] is True, "the clear sent before the press undid it"
    assert cleared["ok"] is False
    assert "pressed after" in cleared["error"]
