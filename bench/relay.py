"""The two-hop floor: a process that does nothing but republish, as thin as paho allows.

    python -m bench.relay HOST PORT

A command crosses the broker twice on its way to a device (console → engine → device), so
the honest floor under the engine's command-to-wire latency is a client → relay → client
trip on the same broker. The relay subscribes to RELAY_IN at QoS 1 and republishes every
payload unchanged on RELAY_OUT at QoS 1 from paho's network thread; it prints READY once
its subscription is acknowledged and runs until it is terminated.
"""

from __future__ import annotations

import signal
import sys
import threading
import uuid

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

RELAY_IN = "bench/relay/in"
RELAY_OUT = "bench/relay/out"
READY = "READY"
QOS = 1


def relay(host: str, port: int) -> None:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-relay-{uuid.uuid4().hex[:8]}"
    )

    def republish(_client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        client.publish(RELAY_OUT, message.payload, qos=QOS)

    def subscribe(*_args: object) -> None:
        client.subscribe(RELAY_IN, qos=QOS)

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


if __name__ == "__main__":
    relay(sys.argv[1], int(sys.argv[2]))
