"""A headset's volume ramp as the headset receives it, when the broker is away for a while.

The volume ramp (docs/safety.md#volume-ramp) is judged where the gate lets each step out;
what reaches the headset is what the bus's queue lets through, later when the broker was
away. Here the example room's output path and VR control run tick by tick (`RoomParts`)
and their messages go through the bus's own queue (`Outbox`) as `Bus.publish_gated` puts
them and its sender takes them, the dropped ones told to the VR control as the engine's
service tells the engine; the broker is the test's: away for a stretch, then taking all
that waits at once. What counts is the ramp at the headset, by when each volume reaches it.
The bus and the engine against a silent Mosquitto: tests/engine/test_service.py.
"""

from __future__ import annotations

import json
import math

import pytest

from controller.bus.outbox import Outbox
from controller.drivers.base import VrCommand
from tests.engine.room_parts import HEADSET, RoomParts, queued_at, ticks

MEADOW = VrCommand("play", "breathing-meadow", 0.4)
SLACK_S = 0.5
"""The rule's half second (docs/safety.md#volume-ramp)."""
ROUNDING = 1
"""The VR driver writes whole percent, rounded down: a pair may show 1 % more than planned."""


def heard(
    parts: RoomParts, away: tuple[float, float], end: float, *, emergency_at: float = math.inf
) -> list[tuple[float, int]]:
    """Tick to `end` (session seconds, here real ones) with the broker away from `away[0]`
    until `away[1]`, and the emergency's latch and headset stop at `emergency_at`; each volume
    the headset hears and when (a play's too, and a stop's as 0)."""
    outbox = Outbox(1000)
    received: list[tuple[float, int]] = []
    for now in ticks(0.0, end):
        if now == emergency_at:
            parts.output.engage_latch({})
            parts.vr.stop("headset", now)
        for message in parts.tick_gated(now):
            outbox.put(queued_at(message, now), key=message.key)
        if away[0] <= now < away[1]:
            continue
        delivered = outbox.take(len(outbox), now)
        for chain in {m.chain for m in outbox.take_lost() if m.chain}:
            parts.vr.volume_lost(chain, now)
        said = [json.loads(m.payload) for _, m in delivered if m.topic == HEADSET]
        received += [(now, 0 if m["action"] == "stop" else m.get("volume")) for m in said]
    return [(now, volume) for now, volume in received if volume is not None]


def too_fast(received: list[tuple[float, int]], ramp_per_s: float) -> list[str]:
    """Each pair of volumes the headset heard that rose faster than the ramp allows."""
    return [
        f"{earlier} % at {t0:g} s, then {later} % at {t1:g} s"
        for i, (t0, earlier) in enumerate(received)
        for t1, later in received[i + 1 :]
        if later - earlier > ramp_per_s * (t1 - t0 + SLACK_S) + ROUNDING
    ]


@pytest.mark.parametrize("away", [(0.0, 5.0), (1.0, 3.0), (1.0, 30.0), (5.0, 8.0)])
def test_a_ramp_the_broker_missed_reaches_the_headset_no_faster_than_the_ramp(
    parts: RoomParts, away: tuple[float, float]
) -> None:
    """Away from the start (the play waits too), mid-ramp, for long, after the ramp ended."""
    parts.vr.send("headset", MEADOW, 0.0)
    received = heard(parts, away, end=away[1] + 8.0)
    ramp = parts.room.settings.safety.volume_ramp_per_s
    assert too_fast(received, ramp) == []
    assert received[-1][1] == 40  # and it does get there


def test_without_an_outage_the_ramp_goes_out_step_by_step_untouched(parts: RoomParts) -> None:
    parts.vr.send("headset", MEADOW, 0.0)
    received = heard(parts, (0.0, 0.0), end=5.0)
    assert [volume for _, volume in received] == [
        0, 2, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27, 30, 32, 35, 37, 40
    ]  # fmt: skip


def test_an_emergency_pressed_while_the_broker_is_away_leaves_the_headset_silent(
    parts: RoomParts,
) -> None:
    """Pressed mid-ramp during an outage: the stop goes out when the broker is back, and
    nothing louder follows it (the latch holds every rise)."""
    parts.vr.send("headset", MEADOW, 0.0)
    received = heard(parts, (1.0, 4.0), end=8.0, emergency_at=2.0)
    stopped = received.index((4.0, 0))
    assert all(volume == 0 for _, volume in received[stopped:]), received
    assert too_fast(received, parts.room.settings.safety.volume_ramp_per_s) == []
