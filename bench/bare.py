"""The start-up baselines: the least a process can do to be online, or to show a line.

    python -m bench.bare online HOST PORT TOPIC   # a paho client publishes retained `online`
    python -m bench.bare textual TEXT             # a bare Textual app showing one line

Each is what its product counterpart (`sessionroom run` going online, `sessionroom console`
showing the room's phase) cannot do faster than, on the same interpreter and machine.
"""

from __future__ import annotations

import sys
import uuid

from controller.api.topics import ONLINE

QOS = 1


def online(host: str, port: int, topic: str) -> None:
    """Connect, publish `online` retained at QoS 1, wait for the broker's acknowledgement."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{uuid.uuid4().hex}")
    client.connect(host, port)
    client.loop_start()
    client.publish(topic, ONLINE, qos=QOS, retain=True).wait_for_publish()
    client.loop_stop()
    client.disconnect()


def textual(text: str) -> None:
    """A Textual app with one line of text, until it is killed."""
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Static(text)

    Bare().run()


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["online", host, port, topic]:
            online(host, int(port), topic)
        case ["textual", text]:
            textual(text)
        case _:
            raise SystemExit(__doc__)
