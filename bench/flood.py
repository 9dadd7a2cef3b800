"""A flood of device messages, from processes of their own, for the emergency under load.

`flooding(room, broker, workdir, per_s)` runs `FLOODERS` child processes (`python -m
bench.flood`), each publishing its share of `per_s` messages a second with QoS 0 on the
room's device state topics, in turn: a valid vitals reading on each sensor's topic and
bytes no driver reads on every other state topic. Every device is far beyond the 50
messages a second the engine reads from it (docs/robustness.md#devices), so the engine
drops most of them unread, as it must. Each child writes how many messages it sent.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import click
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.processes import child
from controller.config import Room
from controller.drivers.registry import make_driver
from tests.support.mosquitto import Mosquitto

FLOODERS = 2
"""Publishing processes (one Python process tops out near the broker's per-client pace)."""
BATCH_S = 0.01
"""Each child publishes its messages in batches this often."""
READING = b'{"hr":72,"spo2":98}'
GARBAGE = b"\xff not a report"


def state_topics(room: Room) -> dict[str, bytes]:
    """Each MQTT device's state topics → what the flood sends there."""
    topics = {}
    for device in room.devices.values():
        if device.is_local:
            continue
        payload = READING if device.kind == "sensor" else GARBAGE
        for topic in make_driver(device).state_topics():
            topics[topic] = payload
    return topics


@contextlib.contextmanager
def flooding(room: Room, broker: Mosquitto, workdir: Path, per_s: float) -> Iterator[list[Path]]:
    """The flood runs inside the block; yields the files the children write their counts to."""
    topics = workdir / f"flood-{room.room_id}.json"
    topics.write_text(json.dumps({t: p.decode("latin-1") for t, p in state_topics(room).items()}))
    counts = [workdir / f"flood-{room.room_id}-{n}.count" for n in range(FLOODERS)]
    with contextlib.ExitStack() as stack:
        for number, count in enumerate(counts):
            arguments = [
                "bench.flood",
                broker.host,
                str(broker.port),
                str(topics),
                str(per_s / FLOODERS),
                str(count),
            ]
            log = workdir / f"flood-{room.room_id}-{number}.log"
            stack.enter_context(child(f"flooder {number}", arguments, log))
        yield counts


def sent_per_s(counts: list[Path]) -> float | None:
    """The flood's rate as its children measured it (after they stopped); None when one did
    not say (a child flooding at full rate may not stop in time, and is killed)."""
    total = 0.0
    for count in counts:
        if not count.exists():
            return None
        sent, seconds = json.loads(count.read_text())
        total += sent / seconds if seconds else 0.0
    return total


@click.command()
@click.argument("host")
@click.argument("port", type=int)
@click.argument("topics_file", type=click.Path(path_type=Path))
@click.argument("per_s", type=float)
@click.argument("count_file", type=click.Path(path_type=Path))
def main(host: str, port: int, topics_file: Path, per_s: float, count_file: Path) -> None:
    """Publish `per_s` messages a second on the topics in TOPICS_FILE until SIGTERM."""
    topics = [(t, p.encode("latin-1")) for t, p in json.loads(topics_file.read_text()).items()]
    client = paho.Client(CallbackAPIVersion.VERSION2)
    written = 0

    def on_publish(*_arguments: object) -> None:
        nonlocal written
        written += 1  # a QoS 0 message counts once it is on the socket

    client.on_publish = on_publish
    client.connect(host, port)
    client.loop_start()
    stopping = False

    def stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    per_batch = max(1, round(per_s * BATCH_S))
    sent = 0
    started = time.monotonic()
    next_batch = started
    while not stopping:
        for _ in range(per_batch):
            topic, payload = topics[sent % len(topics)]
            client.publish(topic, payload, qos=0)
            sent += 1
        next_batch += BATCH_S
        time.sleep(max(0.0, next_batch - time.monotonic()))
    seconds = time.monotonic() - started
    client.loop_stop()
    client.disconnect()
    count_file.write_text(json.dumps([written, seconds]))
    sys.exit(0)


if __name__ == "__main__":
    main()
