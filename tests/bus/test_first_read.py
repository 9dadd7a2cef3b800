"""A message the broker sends in the same read as its CONNACK reaches the bus's handlers.

A broker may send messages right behind the CONNACK: a kept session's queued messages, or
amqtt's retained messages of other clients' filters. Nothing Mosquitto does with a clean
session sends one on demand, so a loopback relay in front of a real Mosquitto writes a PUBLISH
behind the broker's CONNACK in one write. The bus once took such a message into aiomqtt's own
queue (its direct delivery was installed only after the connection was up) and lost it.
"""

from __future__ import annotations

import asyncio

import pytest

from controller.bus import Bus, Message
from tests.bus.relay import BrokerRelay
from tests.bus.support import Recorder, eventually, fresh_prefix, settings_for
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

CONNACK = 0x20


def publish_packet(topic: str, payload: bytes) -> bytes:
    """An MQTT 3.1.1 PUBLISH at QoS 0 (shorter than 128 bytes: one length byte)."""
    encoded = topic.encode()
    body = len(encoded).to_bytes(2, "big") + encoded + payload
    assert len(body) < 128
    return bytes([0x30, len(body)]) + body


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
