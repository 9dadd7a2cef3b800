"""Where a command's time goes inside the engine: per-stage timestamps, and their summary.

    python -m bench.stages TRACE.jsonl      # summarise a trace the engine wrote

With `--stages TRACE.jsonl`, `bench.engine_host` calls `install` before the engine starts: it
wraps the functions a command passes through on its way to the wire and records, for each,
`time.perf_counter_ns()` when it was reached. The trace is kept in memory and written when
the process exits, so tracing costs a list append per stage (about a microsecond each).

The stages, in the order a command meets them:

    woke       the event loop's poll of its sockets returned, before the read below
    read       paho reads the packet from the socket (on the event loop, aiomqtt's reader)
    arrive     the bus has the message (`Bus._arrived`) and puts it in its inbox
    dispatch   the inbox's dispatcher hands it to the command handler (`RoomService._command`)
    parsed     the payload is parsed and validated (`parse_command`)
    commanded  the engine carried the command out (`Engine.command`)
    ticked     the engine's tick after it made the device messages (`Engine.tick`)
    gated      the first device message reaches the bus (`Bus.publish_gated`)
    sending    the bus takes its batch from the outgoing queue (`Bus._start_batch`)
    publish    paho is asked to publish the first device message
    wire       the first device message is written to the socket (`socket.send`)
    reply      the command's reply is queued; `state`: the retained state is queued
    journal    the first event of the command is appended to the journal's queue

Each command's stages are timed from `arrive`; the summary gives their median and 99th
percentile per kind of command (the `action` of the command, with `op` or `name`).
"""

from __future__ import annotations

import atexit
import functools
import json
import selectors
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.figures import percentile

STAGES = (
    "woke",
    "read",
    "arrive",
    "dispatch",
    "parsed",
    "commanded",
    "ticked",
    "gated",
    "sending",
    "publish",
    "wire",
    "reply",
    "state",
    "journal",
)
PUBLISH = 0x30
"""The MQTT PUBLISH packet type (high nibble of its first byte)."""

Trace = list[tuple[int, str, str]]
"""(perf_counter_ns, stage, detail)."""


def _stamp(trace: Trace, stage: str, detail: str = "") -> None:
    trace.append((time.perf_counter_ns(), stage, detail))


def _before(
    trace: Trace, stage: str, function: Callable[..., Any], detail: Callable[..., str] | None
) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _stamp(trace, stage, detail(*args, **kwargs) if detail else "")
        return function(*args, **kwargs)

    return wrapper


def _after(trace: Trace, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        _stamp(trace, stage)
        return result

    return wrapper


def published_topics(data: bytes) -> list[str]:
    """The topics of the PUBLISH packets that start in `data` (one socket write)."""
    topics = []
    position = 0
    while position + 2 <= len(data):
        kind = data[position] & 0xF0
        length = 0
        shift = 0
        position += 1
        while position < len(data):
            byte = data[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if kind == PUBLISH and position + 2 <= len(data):
            size = int.from_bytes(data[position : position + 2], "big")
            topics.append(data[position + 2 : position + 2 + size].decode("utf-8", "replace"))
        position += length
    return topics


def _command_detail(_self: object, message: Any, **_where: object) -> str:
    """The kind of a command arriving (its action and op or name), else its topic."""
    if not message.topic.endswith("/cmd"):
        return str(message.topic)
    try:
        data = json.loads(message.payload)
    except ValueError:
        return "cmd ?"
    words = [str(data[key]) for key in ("action", "op", "name") if key in data]
    return "cmd " + " ".join(words)


def install(out: Path) -> None:
    """Wrap the stages' functions; write the trace to `out` (JSON lines) when the process exits."""
    import paho.mqtt.client as paho

    from controller.bus.bus import Bus
    from controller.engine import service
    from controller.engine.engine import Engine
    from controller.journal import Journal

    trace: Trace = []
    selectors.EpollSelector.select = _after(trace, "woke", selectors.EpollSelector.select)  # type: ignore[method-assign]
    paho.Client.loop_read = _before(trace, "read", paho.Client.loop_read, None)  # type: ignore[method-assign]
    Bus._arrived = _before(trace, "arrive", Bus._arrived, _command_detail)  # type: ignore[method-assign]
    service.RoomService._command = _before(  # type: ignore[method-assign]
        trace, "dispatch", service.RoomService._command, None
    )
    service.parse_command = _after(trace, "parsed", service.parse_command)  # type: ignore[attr-defined]
    Engine.command = _after(trace, "commanded", Engine.command)  # type: ignore[method-assign]
    Engine.tick = _after(trace, "ticked", Engine.tick)  # type: ignore[method-assign]
    Bus.publish_gated = _before(  # type: ignore[method-assign]
        trace, "gated", Bus.publish_gated, lambda _bus, message: message.topic
    )
    Bus._start_batch = _before(trace, "sending", Bus._start_batch, None)  # type: ignore[method-assign]
    paho.Client.publish = _before(  # type: ignore[method-assign]
        trace, "publish", paho.Client.publish, lambda _client, topic, *_a, **_k: topic
    )
    Bus._queue = _before(  # type: ignore[method-assign]
        trace, "queued", Bus._queue, lambda _bus, topic, *_a, **_k: topic
    )
    Journal.append = _before(trace, "journal", Journal.append, None)  # type: ignore[method-assign]
    send = paho.Client._sock_send

    def sock_send(client: paho.Client, buffer: bytes | bytearray) -> int:
        _stamp(trace, "wire", " ".join(published_topics(bytes(buffer))))
        return send(client, buffer)

    paho.Client._sock_send = sock_send  # type: ignore[method-assign,assignment]

    def dump() -> None:
        with out.open("w") as file:
            for at, stage, detail in trace:
                file.write(json.dumps([at, stage, detail]) + "\n")

    atexit.register(dump)


def _is_device_topic(topic: str) -> bool:
    return not topic.startswith(("sessionroom/", "homeassistant/"))


def commands(trace: Trace) -> list[tuple[str, dict[str, float]]]:
    """Each command in the trace: its kind and its stages' first times (ms after `arrive`)."""
    found: list[tuple[str, dict[str, float]]] = []
    current: dict[str, float] | None = None
    arrived = 0
    last_woke: int | None = None
    woke: int | None = None
    read = 0
    for at, stage, detail in trace:
        if stage == "woke":
            last_woke = at
            continue
        if stage == "read":
            woke, read = last_woke, at
            continue
        if stage == "arrive":
            if not detail.startswith("cmd "):
                continue
            arrived = at
            current = {"read": (read - at) / 1e6}
            if woke is not None:  # a trace written before the poll was stamped has none
                current["woke"] = (woke - at) / 1e6
            found.append((detail.removeprefix("cmd "), current))
            continue
        if current is None:
            continue
        if stage == "queued":
            stage = "reply" if "/reply/" in detail else "state" if detail.endswith("/state") else ""
        elif stage in ("gated", "publish") and not _is_device_topic(detail):
            stage = ""
        elif stage == "wire":
            stage = "wire" if any(_is_device_topic(t) for t in detail.split()) else ""
        if stage and stage not in current:
            current[stage] = (at - arrived) / 1e6
    return found


def summary(trace: Trace) -> str:
    """Median and p99 of every stage, per kind of command."""
    by_kind: dict[str, list[dict[str, float]]] = defaultdict(list)
    for kind, stages in commands(trace):
        by_kind[kind].append(stages)
    lines = []
    for kind, samples in sorted(by_kind.items()):
        lines.append(f"{kind} (n={len(samples)}), ms after arrive: stage p50 p99 [n]")
        for stage in STAGES:
            values = [sample[stage] for sample in samples if stage in sample]
            if values:
                lines.append(
                    f"  {stage:<10} {percentile(values, 0.5):7.3f} "
                    f"{percentile(values, 0.99):7.3f} [{len(values)}]"
                )
    return "\n".join(lines)


def read_trace(path: Path) -> Trace:
    trace: Trace = []
    for line in path.read_text().splitlines():
        at, stage, detail = json.loads(line)
        trace.append((at, stage, detail))
    return trace


if __name__ == "__main__":
    print(summary(read_trace(Path(sys.argv[1]))))
