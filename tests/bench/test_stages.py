"""The stage timer's reading of a trace: topics of a socket write, and commands' stages."""

from __future__ import annotations

from bench.stages import commands, published_topics


def publish_packet(topic: str, payload: bytes, *, mid: int = 1) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic.encode() + mid.to_bytes(2, "big") + payload
    return bytes([0x32, len(body)]) + body


def test_the_topics_of_every_publish_in_one_write_are_read() -> None:
    puback = bytes([0x40, 2, 0, 7])
    write = puback + publish_packet("zigbee2mqtt/ceiling/set", b"{}") + publish_packet("a/b", b"x")
    assert published_topics(write) == ["zigbee2mqtt/ceiling/set", "a/b"]
    assert published_topics(puback) == []


def test_each_command_is_timed_from_its_arrival_up_to_its_first_device_message() -> None:
    lines = """
        0 woke
        1 read
        2 arrive cmd lights
        3 dispatch
        4 queued sessionroom/room-a/events
        5 wire sessionroom/room-a/events
        6 wire zigbee2mqtt/ceiling/set
        7 wire zigbee2mqtt/floor/set
        8 woke
        9 queued sessionroom/room-a/reply/c1
        10 arrive zigbee2mqtt/ceiling
        11 woke
        12 read
        13 arrive cmd vr pause
        15 queued sessionroom/room-a/state
    """
    trace = []
    for line in lines.strip().splitlines():
        at, stage, *detail = line.split(maxsplit=2)
        trace.append((int(at) * 1_000_000, stage, " ".join(detail)))
    assert commands(trace) == [
        ("lights", {"woke": -2.0, "read": -1.0, "dispatch": 1.0, "wire": 4.0, "reply": 7.0}),
        ("vr pause", {"woke": -2.0, "read": -1.0, "state": 2.0}),
    ]
