"""The latch holds whatever part of the engine's tick fails (docs/emergency.md: a device that
comes back online gets the safe targets again; docs/safety.md#one-guarded-path: a fault of
ours is loud and the room goes on). A fault in one medium's part of the tick (here the
vitals checks, which tick before the lights) must not keep the lights' part from running:
the service ticks again after a fault, and again the same part fails first.

The stand-in fault: the vitals checks' tick raises (a bug of ours; nothing makes the real one
fail on demand).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.test_emergency_latch import in_emergency
from tests.engine.test_engine import Room

FLOOR_LAMP = "cmnd/floorlamp/Backlog"


def tick_as_the_service_does(room: Room, seconds: float, step: float = 0.25) -> list[str]:
    """Tick for `seconds` as the engine's service does (a fault of ours in the tick is told
    to the engine and the next tick tries again); what went to the floor lamp."""
    sent: list[str] = []
    for _ in range(round(seconds / step)):
        room.clock.advance(step)
        try:
            room.engine.tick()
        except Exception as error:
            room.engine.fault("the tick", error)
        sent += [m.payload for m in room.engine.take_outgoing() if m.topic == FLOOR_LAMP]
    return sent


def test_a_lamp_back_online_during_the_latch_gets_its_safe_target_though_a_part_of_the_tick_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = Room(tmp_path)
    in_emergency(room)

    def checks_that_fail(t: float) -> None:
        raise RuntimeError("the vitals checks went wrong")

    monkeypatch.setattr(room.engine.checks, "tick", checks_that_fail)
    room.device("tele/floorlamp/LWT", "Offline")
    tick_as_the_service_does(room, 1.0)
    room.device("tele/floorlamp/LWT", "Online")  # it rebooted: dark
    sent = tick_as_the_service_does(room, 2.0)
    assert any("Dimmer 80" in payload for payload in sent), (
        f"the lamp back online got no safe target: {sent}"
    )
    assert room.engine.board.alerts["engine"].level == "critical"
