"""A headset's brightness falls, kept however late, queued through an outage.

A fall darkens a lit screen and is sent however late (`GatedMessage.keep`); the rises between
the falls light it and are dropped when late. Queued through an outage, the falls alone are
no longer falls at the headset: 1.0 → 0.2, (1.0 dropped) → 0.6, (1.0 dropped) → 0.2 … reach
it as 0.2, 0.6, 0.2, 0.6 within milliseconds, each a brightness change of 10 % or more the
gate judged seconds apart (docs/safety.md#flash-rate, docs/robustness.md#queueing).
"""

from __future__ import annotations

import json
from pathlib import Path

from controller.drivers.base import VrCommand
from tests.engine.room_parts import HEADSET
from tests.engine.test_engine import Room
from tests.engine.test_flash_history_edges import most_in_a_second, through_an_outage


def screen_levels(took: list[tuple[float, str, str]], level: float) -> list[tuple[float, float]]:
    """When the headset's screen (lit at `level`, 0-1) changed by 10 % or more, and to what: a
    stop darkens it, a play lights it at its brightness, a brightness changes a lit one."""
    lit, changes = True, []
    for at, topic, payload in took:
        if topic != HEADSET:
            continue
        message = json.loads(payload)
        before = level if lit else 0.0
        if message["action"] == "stop":
            lit = False
        elif message["action"] == "play":
            lit = True
        elif message["action"] == "brightness":
            level = message["level"] / 100
        else:
            continue
        after = level if lit else 0.0
        if abs(after - before) >= 0.1:
            changes.append((at, after))
    return changes


def test_a_headset_s_brightness_falls_queued_through_an_outage_do_not_reach_it_together(
    tmp_path: Path,
) -> None:
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(10.0)  # the scene's content is on the headset, its screen lit at full

    def brightness(level: float) -> None:
        room.engine.vr.send("headset", VrCommand("brightness", level=level), room.engine.now())

    levels = [0.2, 1.0, 0.6, 1.0] * 4  # a scene's brightness, changed every second
    do = {1.0 + n: (lambda level=level: brightness(level)) for n, level in enumerate(levels)}

    took = through_an_outage(room, (0.5, 30.0), 31.0, do)

    changes = screen_levels(took, 1.0)
    limit = 2 * room.engine.room.settings.safety.max_flashes_per_s
    assert most_in_a_second([at for at, _ in changes]) <= limit, changes


def test_a_headset_s_screen_ends_at_the_brightness_the_engine_judged_after_an_outage(
    tmp_path: Path,
) -> None:
    """A fall that waited goes, the rise after it is dropped: the headset is at 0.3 where the
    engine judged 0.9, and a scene's 0.85 later would change it by 55 % unseen by the gate.
    Stopped again, it is told the brightness the engine judged, so the next play lights it
    there (docs/safety.md#flash-rate)."""
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(10.0)

    def brightness(level: float) -> None:
        room.engine.vr.send("headset", VrCommand("brightness", level=level), room.engine.now())

    do = {1.0: lambda: brightness(0.3), 2.0: lambda: brightness(0.9)}

    took = through_an_outage(room, (0.5, 30.0), 31.0, do)

    said = [json.loads(payload) for _, topic, payload in took if topic == HEADSET]
    [*_, last] = [message["level"] for message in said if message["action"] == "brightness"]
    assert last == 90, said


def test_the_emergency_s_stop_behind_a_fall_that_waited_still_stops_the_headset(
    tmp_path: Path,
) -> None:
    """The emergency's stop, queued behind a brightness fall that waited through the outage,
    goes as the broker is back, the fall before it dropped (only the last of the darkenings
    that waited goes) and told: the engine stops the headset again, and plays nothing on it
    while latched."""
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(10.0)
    fall = {
        1.0: lambda: room.engine.vr.send(
            "headset", VrCommand("brightness", level=0.3), room.engine.now()
        ),
        5.0: lambda: room.do("emergency"),
    }

    took = through_an_outage(room, (0.5, 30.0), 40.0, fall)

    said = [(at, json.loads(p)["action"]) for at, topic, p in took if topic == HEADSET]
    assert said[0] == (30.0, "stop")
    assert "play" not in [action for _, action in said]
    assert said[-1][1] in ("stop", "brightness")
