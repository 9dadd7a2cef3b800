"""A message the broker sends in the same read as its CONNACK reaches the bus's handlers.

A broker may send messages right behind the CONNACK: a kept session's queued messages, or
amqtt's retained messages of other clients' filters. Nothing Mosquitto does with a clean
session sends one on demand, so a loopback relay in front of a real Mosquitto writes a PUBLISH
behind the broker's CONNACK in one write. The bus once took such a message into aiomqtt's own
queue (its direct delivery was installed only after the connection was up) and lost it.
"""

from __future__ import annotations

import asyncio
import selectors
import socket

import aiomqtt
import pytest

from controller.bus import Message
from controller.bus.bus import Bus
from controller.bus.sender import Sender
from tests.bus.relay import BrokerRelay
from tests.bus.support import Recorder, eventually, fresh_prefix, settings_for
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

CONNACK = 0x20


def publish_packet(topic: str, payload: bytes, *, packet_id: int | None = None) -> bytes:
    """An MQTT 3.1.1 PUBLISH at QoS 0, or QoS 1 with a `packet_id` (shorter than 128 bytes:
    one length byte)."""
    encoded = topic.encode()
    qos_1 = packet_id is not None
    body = len(encoded).to_bytes(2, "big") + encoded
    body += packet_id.to_bytes(2, "big") if qos_1 else b""
    body += payload
    assert len(body) < 128
    return bytes([0x32 if qos_1 else 0x30, len(body)]) + body


class EarlyPublishRelay(BrokerRelay):
    """Loopback relay to a broker that writes `early` in the same write as the CONNACK."""

    def __init__(self, broker: Mosquitto, early: bytes) -> None:
        super().__init__(broker)
        self._early = early

    def forward(self, packet: bytes, client: asyncio.StreamWriter) -> bool:
        client.write(packet + self._early if packet[0] & 0xF0 == CONNACK else packet)
        return True


async def test_a_message_read_with_the_connack_reaches_its_handler(mosquitto: Mosquitto) -> None:
    topic = f"{fresh_prefix()}/early"
    received = Recorder()
    async with EarlyPublishRelay(mosquitto, publish_packet(topic, b"first")) as relay:
        bus = Bus(settings_for("127.0.0.1", relay.port), client_id="early-reader")
        bus.subscribe(topic, received)
        async with bus:
            await eventually(lambda: received.messages != [])
    assert received.messages == [Message(topic, b"first", retain=False)]


async def test_the_write_watch_ends_after_acknowledging_a_message_read_with_the_connack(
    mosquitto: Mosquitto,
) -> None:
    """A QoS 1 message behind the CONNACK is acknowledged before the bus's own sender takes
    over the socket (aiomqtt watches it for that write); once the bus has written, the watch
    is gone: one left on a writable socket runs the event loop flat out."""
    topic = f"{fresh_prefix()}/early"
    received = Recorder()
    early = publish_packet(topic, b"first", packet_id=7)
    async with EarlyPublishRelay(mosquitto, early) as relay:
        bus = Bus(settings_for("127.0.0.1", relay.port), client_id="early-acknowledger")
        bus.subscribe(topic, received)
        async with bus:
            await eventually(lambda: received.messages != [] and bus._sender is not None)
            await bus.publish(f"{topic}/after", "written by the bus")
            bus.send_now()
            await eventually(lambda: bus._in_flight is None and not bus._outbox)  # acknowledged
            assert bus._sender is not None
            assert not watched_for_writing(bus._sender._paho.socket())


async def test_a_watch_added_after_its_write_went_out_ends_as_the_sender_takes_over(
    mosquitto: Mosquitto,
) -> None:
    """aiomqtt adds its write watch a turn after paho asks: an acknowledgement read in the
    turn the bus takes over is written at once, before the watch is there to be removed. A
    bus with no subscription and no birth writes nothing more to end it; the sender does."""
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        paho = client._client
        paho.publish(f"{fresh_prefix()}/written", b"at once")  # aiomqtt is asked to watch
        paho.loop_write()  # and the packet is written first
        Sender(client)
        for _ in range(3):  # the turns that add aiomqtt's watch and settle the sender's
            await asyncio.sleep(0)
        assert not watched_for_writing(paho.socket())


def watched_for_writing(sock: object) -> bool:
    """Whether the running event loop watches `sock` for writing."""
    assert isinstance(sock, socket.socket)
    selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
    return bool(selector.get_key(sock.fileno()).events & selectors.EVENT_WRITE)


async def test_a_write_watch_asked_for_as_the_connection_closes_is_not_added(
    mosquitto: Mosquitto,
) -> None:
    """paho asks for the write watch from the event loop's thread and the sender adds it a
    turn later; the connection may close in between (an engine stopping while a command's
    messages go out): the closed socket is not watched, and nothing fails in the loop."""
    failures: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda _loop, context: failures.append(context)
    )
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        paho = client._client
        Sender(client)
        await asyncio.sleep(0)  # the sender settles
        paho.publish(f"{fresh_prefix()}/queued", b"not written yet")  # the watch is asked for
        paho._sock_close()  # type: ignore[attr-defined]
        for _ in range(3):
            await asyncio.sleep(0)
    assert failures == []
