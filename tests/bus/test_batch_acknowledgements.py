"""The bus's batches across a connection lost mid-batch, with a real Mosquitto behind a relay.

The relay (`AckRelay`, loopback TCP between the bus and the broker) is the only way to have
the broker acknowledge part of a batch and then lose the connection at a moment the test
chooses: it forwards everything, and on request lets a number of the broker's PUBACKs
through and holds back the rest until it cuts the connection. The broker and the subscriber
that watches what reached it are real.
"""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from controller.bus.bus import Bus
from tests.bus.relay import BrokerRelay
from tests.bus.support import FAST_RETRY, ConnectionLog, eventually, settings_for
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

PUBACK = 0x40


class AckRelay(BrokerRelay):
    """Loopback relay to a broker that can hold back its PUBACKs and cut the connection."""

    def __init__(self, broker: Mosquitto) -> None:
        super().__init__(broker)
        self._acks_let_through: int | None = None
        """None: every packet passes; a number: that many more PUBACKs, then nothing."""

    def hold_after(self, acks: int) -> None:
        """Let `acks` more PUBACKs reach the client, then hold everything back."""
        self._acks_let_through = acks

    def cut(self) -> None:
        """Close the connections (the client sees a lost broker); later ones pass freely."""
        self._acks_let_through = None
        super().cut()

    def forward(self, packet: bytes, client: asyncio.StreamWriter) -> bool:
        if self._acks_let_through is not None:
            if packet[0] & 0xF0 != PUBACK or self._acks_let_through == 0:
                return False  # held back: nothing more reaches the client
            self._acks_let_through -= 1
        client.write(packet)
        return True


async def watch(broker: Mosquitto, topic_filter: str, seen: list[str]) -> None:
    """Record every payload the broker delivers on `topic_filter` (QoS 1)."""
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic_filter, qos=1)
        seen.append("subscribed")
        async for message in client.messages:
            seen.append(f"{message.topic.value} {message.payload.decode()}")


Publication = tuple[str, str, str | None]
"""Topic, payload and key of a message the bus publishes."""


async def cut_mid_batch(
    broker: Mosquitto,
    acks: int,
    batch: list[Publication],
    meanwhile: list[Publication],
    *,
    send_now: bool = False,
) -> list[str]:
    """What reaches the broker when the bus sends `batch`, the broker's first `acks`
    acknowledgements reach the bus, `meanwhile` is published (with `send_now`: and handed to
    the socket at once, as the engine does a command's device messages, and awaited at the
    broker), and the connection is cut; after the reconnect an end marker is published and
    awaited (it comes last)."""
    seen: list[str] = []
    watcher = asyncio.create_task(watch(broker, "attack/#", seen))
    connections = ConnectionLog()
    try:
        await eventually(lambda: seen == ["subscribed"])
        async with AckRelay(broker) as relay:
            bus = Bus(settings_for("127.0.0.1", relay.port), client_id="attacked", **FAST_RETRY)
            bus.on_connection(connections)
            async with bus:
                assert await bus.wait_connected(timeout=5)
                relay.hold_after(acks)
                for topic, payload, key in batch:
                    await bus.publish(topic, payload, key=key)
                await eventually(lambda: len(seen) == 1 + len(batch))  # at the broker
                for topic, payload, key in meanwhile:
                    await bus.publish(topic, payload, key=key)
                if send_now:
                    bus.send_now()
                    await eventually(lambda: len(seen) == 1 + len(batch) + len(meanwhile), 2)
                relay.cut()
                await eventually(lambda: connections.states[-2:] == [False, True])
                await bus.publish("attack/end", "end")
                await eventually(lambda: seen[-1] == "attack/end end")
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    return seen[1:]


async def test_what_the_broker_acknowledged_is_not_sent_again_after_the_connection_is_lost(
    private_mosquitto: Mosquitto,
) -> None:
    """A batch in which the broker acknowledged the first message and not yet the second
    when the connection broke: the second goes again (at least once), the first does not.
    A BLS device taking its set's start twice starts the set again: it would tap past the
    length the gate judged, and past the end the engine counts."""
    batch = [("attack/tappers/set", "start", None), ("attack/headset/set", "play", None)]
    assert await cut_mid_batch(private_mosquitto, 1, batch, []) == [
        "attack/tappers/set start",
        "attack/headset/set play",
        "attack/headset/set play",
        "attack/end end",
    ]


async def test_a_later_off_is_never_overtaken_by_an_earlier_on_across_a_reconnect(
    private_mosquitto: Mosquitto,
) -> None:
    """The "on"s wait for their acknowledgements when the connection breaks, the "off"s were
    published meanwhile: after the reconnect each device's last word is its "off". A light's
    target has a key (its newer target replaces the older, unsent, one); a BLS command has
    none (each counts, in order), so its unacknowledged "on" goes again, before the "off"."""
    batch = [("attack/lamp/set", "on", "lamp"), ("attack/tappers/set", "on", None)]
    meanwhile = [("attack/lamp/set", "off", "lamp"), ("attack/tappers/set", "off", None)]
    assert await cut_mid_batch(private_mosquitto, 0, batch, meanwhile) == [
        "attack/lamp/set on",
        "attack/tappers/set on",
        "attack/tappers/set on",
        "attack/lamp/set off",
        "attack/tappers/set off",
        "attack/end end",
    ]


async def test_send_now_does_not_wait_for_the_batch_in_flight_and_the_unacknowledged_go_again(
    private_mosquitto: Mosquitto,
) -> None:
    """A command's device messages go out while an earlier batch (the state, a reply) still
    waits for its acknowledgements, not a broker's round trip after it. When the connection
    breaks before any acknowledgement, what is unacknowledged goes again in the order it was
    sent, less what a newer message of the same key replaced (the lamp's "on"): each
    device's last word is still its last message."""
    batch = [("attack/lamp/set", "on", "lamp"), ("attack/tappers/set", "on", None)]
    meanwhile = [("attack/lamp/set", "off", "lamp"), ("attack/tappers/set", "off", None)]
    assert await cut_mid_batch(private_mosquitto, 0, batch, meanwhile, send_now=True) == [
        "attack/lamp/set on",
        "attack/tappers/set on",
        "attack/lamp/set off",
        "attack/tappers/set off",
        "attack/tappers/set on",
        "attack/lamp/set off",
        "attack/tappers/set off",
        "attack/end end",
    ]
