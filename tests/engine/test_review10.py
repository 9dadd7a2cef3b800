"""Review 10's findings: paths to a device that the safety gate did not judge."""

from __future__ import annotations

import json
from pathlib import Path

from controller.engine.phases import CommandRefused
from tests.engine.test_engine import Room

HEADSET = "vr/headset/set"
IDLE = json.dumps({"status": "idle", "content": None, "position_s": 0})


def test_content_that_ended_by_itself_darkened_its_screen_and_a_play_again_counts(
    tmp_path: Path,
) -> None:
    """A file played once (`:once`) ends by itself: the headset reports `idle`, its screen
    dark. Played again, the screen lights again: each play is a flash's rise, judged by the
    flash rate as after a stop (docs/safety.md#flash-rate). A short clip played again every
    0.1 s, each time reported ended, lit the screen 6 times in 0.6 s, every play passed as
    a change to where the screen already was."""
    room = Room(tmp_path)
    plays = 0
    refused = []
    for _ in range(6):
        try:
            room.do("vr", op="play", content="flash.webm:once", volume=0.0)
            plays += 1
        except CommandRefused as refusal:
            refused.append(str(refusal))
        room.tick(0.05)
        room.device("vr/headset/state", IDLE)  # the clip ended: the screen went dark
        room.tick(0.05)
    assert refused, f"{plays} plays of a clip that ended by itself within 0.6 s all lit the screen"
    assert plays <= 3
