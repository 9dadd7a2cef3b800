"""A headset's report that its screen shows nothing is no command: the flash rate still holds
on the screen whatever it reports (docs/safety.md#flash-rate).

The engine hands a headset's `{"status": "idle"}` on `vr/<id>/state` to
`RoomOutput.screen_ended`, which records the screen as gone dark in the gate's history. A
report that says so wrongly (a headset that glitches, or another client publishing on its
state topic) leaves the screen lit while the gate takes it as dark: a brightness fall to
dark is then judged a change to where the screen already is, and not counted. Driven on the
example room's output path with the times the test gives (`RoomParts`).
"""

from __future__ import annotations

import itertools
import json

import pytest

from controller.config import limits as hard
from controller.drivers.base import VrCommand
from tests.engine.room_parts import HEADSET, RoomParts
from tests.engine.test_flash_history_edges import most_in_a_second


def counting_transitions(levels: list[tuple[float, float]]) -> list[float]:
    """When a screen whose level changed at once to each of `levels` (time, level) made a
    transition the flash rule counts (of 10 % or more, the darker end below 80 %)."""
    return [
        t
        for (_, before), (t, after) in itertools.pairwise(levels)
        if abs(after - before) >= hard.FLASH_DELTA and min(before, after) < hard.FLASH_DARK_BELOW
    ]


def screen_levels(
    sent: list[tuple[float, str]], *, ended_at: float | None = None
) -> list[tuple[float, float]]:
    """What the headset's screen showed, from the messages it was sent (time, payload): lit at
    its brightness while content plays; dark from `ended_at` (its content ended by itself)
    until the next play."""
    levels: list[tuple[float, float]] = []
    brightness, playing = 1.0, False
    for at, payload in sent:
        if ended_at is not None and at >= ended_at and playing:
            playing = False
            levels.append((ended_at, 0.0))
        message = json.loads(payload)
        if message["action"] == "brightness":
            brightness = message["level"] / 100
        elif message["action"] == "play":
            playing = True
        elif message["action"] == "stop":
            playing = False
        levels.append((at, brightness if playing else 0.0))
    return levels


@pytest.mark.parametrize("reported_dark", [True, False], ids=["wrongly reported dark", "not"])
def test_a_screen_flashes_no_faster_than_the_limit_whatever_it_reports(reported_dark: bool) -> None:
    """Content plays at full brightness; two seconds later the headset reports `idle` though
    its content plays on (or reports nothing). The scene then changes the screen's brightness
    back and forth every 50 ms, and the emergency stops the screen. Counted on what the
    screen showed, no 1 s window may hold more than 2 × max_flashes_per_s transitions: with
    the wrong report the first fall to dark went uncounted, and the window held one more."""
    parts = RoomParts()
    output = parts.output
    limit = 2 * parts.room.settings.safety.max_flashes_per_s
    sent: list[tuple[float, str]] = []

    def send(at: float, command: VrCommand) -> None:
        output.vr("headset", command, at)
        sent.extend((at, payload) for topic, payload in parts.take() if topic == HEADSET)

    send(0.0, VrCommand("play", content="calm.mp4", volume=0.0))
    if reported_dark:
        output.screen_ended("headset", 2.0)  # what the engine does with {"status": "idle"}
    at, level = 4.0, 0.0
    for _ in range(12):
        send(at, VrCommand("brightness", level=level))
        at, level = round(at + 0.05, 2), 1.0 - level
    send(at, VrCommand("stop"))  # the emergency: never held back

    assert most_in_a_second(counting_transitions(screen_levels(sent))) <= limit
