"""A message the broker sends in the same read as its CONNACK reaches the bus's handlers.

A broker may send messages right behind the CONNACK: a kept session's queued messages, or
amqtt's retained messages of other clients' filters. Nothing Mosquitto does with a clean
session sends one on demand, so a loopback relay in front of a real Mosquitto writes a PUBLISH
behind the broker's CONNACK in one write. The bus once took such a message into aiomqtt's own
queue (its direct delivery was installed only after the connection was up) and lost it.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from controller.bus import Bus, Message
from tests.bus.support import Recorder, eventually, fresh_prefix, settings_for
from tests.bus.test_batch_acknowledgements import packet_length
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

CONNACK = 0x20


def publish_packet(topic: str, payload: bytes) -> bytes:
    """An MQTT 3.1.1 PUBLISH at QoS 0 (shorter than 128 bytes: one length byte)."""
    encoded = topic.encode()
    body = len(encoded).to_bytes(2, "big") + encoded + payload
    assert len(body) < 128
    return bytes([0x30, len(body)]) + body


class EarlyPublishRelay:
    """Loopback relay to a broker that writes `early` in the same write as the CONNACK."""

    def __init__(self, broker: Mosquitto, early: bytes) -> None:
        self._broker = broker
        self._early = early
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> EarlyPublishRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await self._server.wait_closed()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(self._broker.host, self._broker.port)
        upstream = asyncio.create_task(self._pipe(client_r, broker_w))
        self._tasks.add(upstream)
        try:
            await self._downstream(broker_r, client_w)
        finally:
            upstream.cancel()
            for writer in (client_w, broker_w):
                writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)

    async def _downstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                buffer += data
                while (length := packet_length(buffer)) is not None:
                    packet = bytes(buffer[:length])
                    del buffer[:length]
                    if packet[0] & 0xF0 == CONNACK:
                        packet += self._early
                    writer.write(packet)


async def test_a_message_read_with_the_connack_reaches_its_handler(mosquitto: Mosquitto) -> None:
    topic = f"{fresh_prefix()}/early"
    received = Recorder()
    async with EarlyPublishRelay(mosquitto, publish_packet(topic, b"first")) as relay:
        bus = Bus(settings_for("127.0.0.1", relay.port), client_id="early-reader")
        bus.subscribe(topic, received)
        async with bus:
            await eventually(lambda: received.messages != [])
    assert received.messages == [Message(topic, b"first", retain=False)]
