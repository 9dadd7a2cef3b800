"""The two-hop floors: a process that does nothing but republish, as thin as its library allows.

    python -m bench.relay HOST PORT paho|aiomqtt

A command crosses the broker twice on its way to a device (console → engine → device), so
the honest floor under the engine's command-to-wire latency is a client → relay → client
trip on the same broker. Two relays stand for the two ways to write an MQTT client in
Python: `paho` republishes from paho's network thread (its own `select` loop, the callback
writing straight back), `aiomqtt` is an asyncio program on aiomqtt's public API (`async for`
over the messages, `await publish`), the library and event loop the engine is built on.
Each subscribes to its `topics(kind)[0]` at QoS 1 and republishes every payload unchanged
on `topics(kind)[1]` at QoS 1, with Nagle's algorithm off (as the engine's bus has it); it
prints READY once its subscription is acknowledged and runs until it is terminated
(SIGTERM).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import threading
import uuid

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

KINDS = ("paho", "aiomqtt")
READY = "READY"
QOS = 1


def topics(kind: str) -> tuple[str, str]:
    """The topic the relay of `kind` listens on, and the one it republishes on."""
    return f"bench/relay/{kind}/in", f"bench/relay/{kind}/out"


def _without_delay(sock: object) -> None:
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def paho_relay(host: str, port: int) -> None:
    inbound, outbound = topics("paho")
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-relay-{uuid.uuid4().hex[:8]}"
    )

    def republish(_client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        client.publish(outbound, message.payload, qos=QOS)

    def subscribe(*_args: object) -> None:
        _without_delay(client.socket())
        client.subscribe(inbound, qos=QOS)

    client.on_message = republish
    client.on_connect = subscribe
    client.on_subscribe = lambda *_args: print(READY, flush=True)
    client.connect(host, port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stopped.set())
    client.loop_start()
    try:
        stopped.wait()
    finally:
        client.loop_stop()
        client.disconnect()


async def aiomqtt_relay(host: str, port: int) -> None:
    inbound, outbound = topics("aiomqtt")
    identifier = f"bench-relay-{uuid.uuid4().hex[:8]}"
    async with aiomqtt.Client(host, port, identifier=identifier) as client:
        _without_delay(client._client.socket())
        await client.subscribe(inbound, qos=QOS)
        print(READY, flush=True)
        async for message in client.messages:
            await client.publish(outbound, message.payload, qos=QOS)


def main(host: str, port: int, kind: str) -> None:
    if kind == "paho":
        paho_relay(host, port)
        return
    asyncio.run(aiomqtt_relay(host, port))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in KINDS:
        sys.exit(f"usage: python -m bench.relay HOST PORT {'|'.join(KINDS)}")
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
