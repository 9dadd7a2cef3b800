"""Any sequence of commands in the engine's first second leaves the room in the scene last
asked for (docs/safety.md, "What one gate sees"), latched start or not.

Scenes asked for before the engine has settled are owed and go out once it has; the
emergency cancels one still owed. Seen to fail before the owed scene gave way to one applied
later (the idle scene sent over a scene asked for after the first second, before the tick).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.api.commands import parse_command
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.engine.clock import ManualClock
from controller.engine.engine import Engine
from controller.engine.phases import CommandRefused
from tests.conftest import REPO

ROOM = load_room(REPO / "config.yaml")
COMMANDS: list[tuple[str, dict[str, Any]]] = [
    ("emergency", {}),
    ("clear_emergency", {}),
    ("scene", {"name": "centering"}),
    ("scene", {"name": "peak"}),
    ("scene", {"name": "idle"}),
    ("start", {"plan": "rehearsal", "participant": "P1"}),
    ("end", {}),
    ("next", {}),
    ("goto", {"phase": "return"}),
    ("vr", {"op": "stop"}),
    ("bls", {"op": "stop"}),
    ("music", {"op": "pause"}),
    ("lights", {"level": 0.5}),
]
Step = tuple[float, bool, int]
"""Seconds to wait, whether to tick then, the command (an index into COMMANDS)."""


def expected_scene(engine: Engine, action: str, fields: dict[str, Any], before: str) -> str:
    """The scene the room should end up in after `action` was accepted."""
    session = engine.session
    if action in ("emergency", "end") and engine.emergency is not None:
        return ROOM.settings.safe_scene
    if action == "scene":
        return str(fields["name"])
    if action in ("clear_emergency", "start", "next", "goto", "end"):
        return session.run.phase.scene if session is not None else ROOM.settings.idle_scene
    return before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    latched=st.booleans(),
    steps=st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.5]),
            st.booleans(),
            st.integers(0, len(COMMANDS) - 1),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_the_room_ends_in_the_scene_last_asked_for(latched: bool, steps: list[Step]) -> None:
    data_dir = Path(tempfile.mkdtemp())
    room = apply_overrides(ROOM, Overrides(data_dir=data_dir))
    if latched:  # the marker the engine before left
        (data_dir / f"{room.room_id}.emergency").write_text("2026-12-06T10:00:00Z")
    clock = ManualClock()
    engine = Engine(room, clock=clock)
    engine.tick()
    expected = room.settings.safe_scene if latched else room.settings.idle_scene
    for wait_s, tick, index in steps:
        clock.advance(wait_s)
        if tick:
            engine.tick()
        action, fields = COMMANDS[index]
        try:
            engine.command(
                parse_command(json.dumps({"id": "x", "action": action, **fields}).encode())
            )
        except CommandRefused:
            continue
        expected = expected_scene(engine, action, fields, expected)
    for _ in range(30):
        clock.advance(0.1)
        engine.tick()
    assert engine.snapshot().scene == expected
