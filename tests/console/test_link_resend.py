"""A command whose connection is lost before its reply: the emergency is sent again, once.

The console talks to the real engine on a real Mosquitto through a loopback relay that
holds back everything the broker sends the console (the broker's acknowledgement, the
engine's reply) and then cuts the connection: the console cannot know whether its
command arrived. It did: the engine carried it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from controller.api.topics import ONLINE, RoomTopics
from controller.console import link as link_module
from controller.console.commands import emergency_command, new_command
from controller.console.link import (
    CONNECTION_LOST,
    KEPT,
    BrokerConnection,
    Endpoint,
    LinkUpdate,
    Outcome,
    RoomLink,
)
from controller.engine.service import RoomService
from controller.journal import list_sessions, read_events
from tests.bus.relay import BrokerRelay
from tests.engine.test_service import Wire, eventually, room_on
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto


class SilentBroker(BrokerRelay):
    """While `silent`, the broker's packets are held back from the client; a connection
    `muted` gets none of them ever again (half-open: the client's packets still pass); one
    `deafened` passes none of the client's packets to the broker (the broker's still pass)."""

    silent = False

    def __init__(self, broker: Mosquitto) -> None:
        super().__init__(broker)
        self._muted: set[asyncio.StreamWriter] = set()
        self._deaf: set[asyncio.StreamWriter] = set()

    def mute(self) -> None:
        """The connections open now hear nothing more; later ones are not muted."""
        self._muted.update(self._writers)

    def deafen(self) -> None:
        """The broker hears nothing more from the connections open now; not from later ones."""
        self._deaf.update(self._writers)

    def passes_up(self, client: asyncio.StreamWriter) -> bool:
        return client not in self._deaf

    def forward(self, packet: bytes, client: asyncio.StreamWriter) -> bool:
        if self.silent:
            return False
        if client in self._muted:
            return True  # dropped
        return super().forward(packet, client)


@contextlib.asynccontextmanager
async def room_through_relay(
    mosquitto: Mosquitto, tmp_path: Path
) -> AsyncIterator[tuple[RoomService, SilentBroker, RoomLink, Wire]]:
    """The engine on `mosquitto`, in a session; the console's link to it through a relay."""
    service = RoomService(room_on(mosquitto, tmp_path, time_scale=10.0))
    engine = asyncio.create_task(service.run())
    wire = Wire(mosquitto)
    heard: list[LinkUpdate] = []
    try:
        async with SilentBroker(mosquitto) as relay:
            link = RoomLink(Endpoint("127.0.0.1", relay.port), service.room.room_id, heard.append)
            linked = asyncio.create_task(link.run())
            try:
                await eventually(lambda: link.connected, "the console connects")
                start = new_command("start", plan="rehearsal", participant="P7")
                await eventually(  # settled: the session's scene passes the gate at once
                    lambda: (
                        service.engine is not None
                        and service.bus is not None
                        and service.engine.scene is not None
                    ),
                    "the engine settled",
                )
                assert await link.request(start, timeout=10) == Outcome("done")
                yield service, relay, link, wire
            finally:
                linked.cancel()
                await asyncio.gather(linked, return_exceptions=True)
    finally:
        wire.close()
        engine.cancel()
        await asyncio.gather(engine, return_exceptions=True)


def commands_seen(wire: Wire, room: str, command_id: str) -> list[str]:
    return [
        payload
        for payload in wire.payloads(f"sessionroom/{room}/cmd")
        if json.loads(payload).get("id") == command_id
    ]


async def test_an_emergency_whose_connection_was_lost_is_sent_again_and_carried_out_once(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with room_through_relay(mosquitto, tmp_path) as (service, relay, link, wire):
        room = service.room.room_id
        press = emergency_command()
        relay.silent = True
        waits: list[str] = []
        pressed = asyncio.create_task(
            link.request(
                press, until_connected=True, timeout=10, waiting=lambda: waits.append("waits")
            )
        )
        await eventually(
            lambda: wire.payloads(f"sessionroom/{room}/reply/{press['id']}"), "the engine acts"
        )
        relay.silent = False
        relay.cut()  # the console never got the broker's acknowledgement nor the reply
        outcome = await asyncio.wait_for(pressed, 20)
        assert outcome == Outcome("done")
        assert waits == ["waits"]  # the console said it waits for the broker
        # sent again, same id (the wire, another client, may hear it after the console's reply)
        await eventually(lambda: len(commands_seen(wire, room, press["id"])) == 2, "sent again")
        assert service.engine is not None
        emergency = service.engine.snapshot().emergency
        assert emergency.active and not emergency.immediate  # not taken as a second press
        journal = list_sessions(service.room.data_dir)[0].path

        def emergency_marks() -> list[object]:
            events = read_events(journal, kinds=["safety"])
            return [e.payload.get("emergency") for e in events if isinstance(e.payload, dict)]

        await eventually(emergency_marks, "the emergency is journaled")
        assert emergency_marks() == ["start"]


async def test_an_emergency_unanswered_on_a_half_open_connection_goes_again_on_a_fresh_one(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The connection still takes the console's packets but brings back nothing (a tablet's
    Wi-Fi gone one way): the press reaches the engine, its reply never comes back. The link
    connects afresh at once (not when the keepalive gives up, 45 s later) and sends the
    press again; the engine carries it out once."""
    async with room_through_relay(mosquitto, tmp_path) as (service, relay, link, wire):
        room = service.room.room_id
        press = emergency_command()
        relay.mute()
        outcome = await link.request(press, until_connected=True, timeout=1)
        assert outcome.kind == "no_reply" and outcome.reason is not None
        assert outcome.reason.endswith(KEPT)
        await eventually(lambda: len(commands_seen(wire, room, press["id"])) == 2, "sent again")
        replies = f"sessionroom/{room}/reply/{press['id']}"
        await eventually(lambda: len(wire.payloads(replies)) == 2, "answered again")
        assert service.engine is not None
        emergency = service.engine.snapshot().emergency
        assert emergency.active and not emergency.immediate


async def test_another_command_whose_connection_was_lost_says_so_at_once(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Not sent again (it may have been carried out): the console says its fate is
    unknown as soon as the connection is lost, not after the reply's timeout."""
    async with room_through_relay(mosquitto, tmp_path) as (service, relay, link, wire):
        room = service.room.room_id
        hold = new_command("hold")
        relay.silent = True
        asked = asyncio.create_task(link.request(hold, timeout=60))
        await eventually(lambda: commands_seen(wire, room, hold["id"]), "the command is sent")
        relay.cut()
        outcome = await asyncio.wait_for(asked, 20)
        assert outcome == Outcome("no_reply", CONNECTION_LOST)
        assert len(commands_seen(wire, room, hold["id"])) == 1


class EngineAway:
    """A console's link to a room whose engine does not run until `start_engine`."""

    def __init__(self, mosquitto: Mosquitto, tmp_path: Path) -> None:
        self.service = RoomService(room_on(mosquitto, tmp_path, time_scale=10.0))
        endpoint = Endpoint(mosquitto.host, mosquitto.port)
        self.link = RoomLink(endpoint, self.service.room.room_id, lambda update: None)
        self._tasks: list[asyncio.Task[None]] = []

    def start_engine(self) -> None:
        self._tasks.append(asyncio.create_task(self.service.run()))

    def latched(self) -> bool:
        return self.service.engine is not None and self.service.engine.emergency is not None

    async def __aenter__(self) -> EngineAway:
        self._tasks.append(asyncio.create_task(self.link.run()))
        await eventually(lambda: self.link.connected, "the console connects")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def test_an_emergency_pressed_while_the_engine_is_away_is_carried_out_when_it_is_back(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """docs/emergency.md#offline-devices-and-console: the broker takes the press, but no
    engine listens (it is restarting after a crash): the console says "no reply" after its
    usual wait and keeps the press. When the engine is back online it gets the press, under
    the same id, and the room is latched."""
    async with EngineAway(mosquitto, tmp_path) as room:
        outcome = await room.link.request(emergency_command(), until_connected=True)
        assert outcome.kind == "no_reply"
        room.start_engine()
        await eventually(room.latched, "the press reaches the engine once it is back")


async def test_an_emergency_pressed_as_the_engine_comes_back_reaches_it(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The engine's `online` may come while the press still waits for its reply (the press
    reached the broker before the engine listened): the press goes again at that `online`,
    not only at the next one."""
    async with EngineAway(mosquitto, tmp_path) as room:
        press = emergency_command()
        pressed = asyncio.create_task(room.link.request(press, until_connected=True))
        await asyncio.sleep(0.2)  # published: no engine listens yet
        room.start_engine()
        assert await asyncio.wait_for(pressed, 20) == Outcome("done")
        assert room.latched()


async def test_a_kept_emergency_resent_on_a_connection_that_cannot_send_goes_on_a_fresh_one(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The press is kept (no engine listened); when the engine comes back, its `online`
    reaches the console, but nothing the console sends reaches the broker any more (a
    half-open connection the other way). The link still reads (it does not wait for the
    broker's acknowledgement before reading on), and without a reply within its usual wait
    it connects afresh, where the press goes again: the room is latched within seconds,
    not when the keepalive gives up (30–45 s)."""
    service = RoomService(room_on(mosquitto, tmp_path, time_scale=10.0))
    heard: list[LinkUpdate] = []
    async with SilentBroker(mosquitto) as relay:
        link = RoomLink(Endpoint("127.0.0.1", relay.port), service.room.room_id, heard.append)
        tasks = [asyncio.create_task(link.run())]
        try:
            await eventually(lambda: link.connected, "the console connects")
            outcome = await link.request(emergency_command(), until_connected=True, timeout=0.5)
            assert outcome.kind == "no_reply"  # kept; the link connects afresh

            def connections() -> int:
                return sum(isinstance(u, BrokerConnection) and u.connected for u in heard)

            await eventually(lambda: connections() == 2 and link.connected, "a fresh connection")
            relay.deafen()
            tasks.append(asyncio.create_task(service.run()))
            await eventually(
                lambda: service.engine is not None and service.engine.emergency is not None,
                "the kept press reaches the engine over a fresh connection",
                timeout=15,
            )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_kept_emergency_an_online_engine_never_answers_does_not_reconnect_in_a_loop(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine says `online` but answers nothing (hung). The broker acknowledges each
    press sent again, so the connection is sound: the link stays connected and sends the
    press again at the engine's next `online`, instead of connecting afresh every reply
    timeout, where the retained `online` sends it again, without end."""
    monkeypatch.setattr(link_module, "REPLY_TIMEOUT_S", 0.1)
    topics = RoomTopics(f"r{uuid.uuid4().hex[:8]}")
    heard: list[LinkUpdate] = []
    link = RoomLink(Endpoint(mosquitto.host, mosquitto.port), topics.room, heard.append)
    wire = Wire(mosquitto)
    press = emergency_command()

    def connections() -> int:
        return sum(isinstance(u, BrokerConnection) and u.connected for u in heard)

    linked = asyncio.create_task(link.run())
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as engine:
            await engine.publish(topics.status, ONLINE, qos=1, retain=True)
            await eventually(lambda: link.connected, "the console connects")
            outcome = await link.request(press, until_connected=True, timeout=0.1)
            assert outcome.kind == "no_reply"  # kept; the link connects afresh once
            await eventually(
                lambda: len(commands_seen(wire, topics.room, press["id"])) == 2, "again"
            )
            # Nothing is to happen now: ten reply timeouts without a fresh connection.
            await asyncio.sleep(1.0)
            assert connections() == 2 and link.connected
            await engine.publish(topics.status, ONLINE, qos=1)
            await eventually(lambda: len(commands_seen(wire, topics.room, press["id"])) == 3, "")
            await engine.publish(topics.status, b"", qos=1, retain=True)
    finally:
        wire.close()
        linked.cancel()
        await asyncio.gather(linked, return_exceptions=True)


async def test_a_console_quit_while_a_kept_emergency_is_sent_again_leaves_nothing_running(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link is closed (the console quits) while it sends the kept press again and waits
    for the broker's acknowledgement, which never comes: the sending ends with the link."""
    monkeypatch.setattr(link_module, "REPLY_TIMEOUT_S", 30.0)
    topics = RoomTopics(f"r{uuid.uuid4().hex[:8]}")
    async with SilentBroker(mosquitto) as relay:
        link = RoomLink(Endpoint("127.0.0.1", relay.port), topics.room, lambda _: None)
        linked = asyncio.create_task(link.run())
        await eventually(lambda: link.connected, "the console connects")
        outcome = await link.request(emergency_command(), until_connected=True, timeout=0.1)
        assert outcome.kind == "no_reply"
        await eventually(lambda: link.connected, "a fresh connection")
        relay.deafen()
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as engine:
            await engine.publish(topics.status, ONLINE, qos=1, retain=True)
            await eventually(lambda: link._resending is not None, "sent again")
            resending = link._resending
            assert resending is not None and not resending.done()
            linked.cancel()
            await asyncio.gather(linked, return_exceptions=True)
            assert resending.cancelled()
            await engine.publish(topics.status, b"", qos=1, retain=True)
