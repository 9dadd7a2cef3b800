"""docs/safety.md#flash-rate: the gate judges a light's change "over the change's transition
time". A driver that can only send its own steps of time (Tasmota's `Speed2` counts half
seconds, Zigbee2MQTT's `transition` and WLED's `tt` tenths) must not send a shorter
transition than the one the gate judged: the light then moves faster than the gate's model,
and swings it saw as small wiggles reach the room as flashes.

Judged on the repository's simulated Tasmota lamp (controller.sim.tasmota) by the checker of
test_safety_properties, which shares no code with the gate.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from controller.engine.phases import CommandRefused
from tests.conftest import REPO
from tests.engine.test_engine import Room
from tests.engine.test_guarded_path_edges import SimulatedFloorLamp
from tests.engine.test_safety_properties import busiest_second


def room_with_scene_lines(tmp_path: Path, lines: dict[str, list[tuple[str, str]]]) -> Path:
    """A copy of the shipped room whose scenes named in `lines` have those lines replaced."""
    copy = tmp_path / "room"
    copy.mkdir()
    shutil.copy(REPO / "config.yaml", copy / "config.yaml")
    for folder in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / folder, copy / folder)
    for scene, changes in lines.items():
        path = copy / "scenes" / f"{scene}.yaml"
        text = path.read_text()
        for old, new in changes:
            assert old in text
            text = text.replace(old, new)
        path.write_text(text)
    return copy / "config.yaml"


def test_a_tasmota_light_is_never_told_a_shorter_fade_than_the_gate_judged(
    tmp_path: Path,
) -> None:
    """Two scenes fading the floor lamp between 8 % and 80 % in 0.74 s, switched by the
    operator every 0.13 s. The gate, judging 0.74 s fades interrupted after 0.13 s, sees the
    lamp wiggle by under 10 % around the middle (no counting transition). `Speed2` rounded to
    the nearest half second told the lamp 0.5 s: it swung by over 10 % each time, seven
    counting transitions a second at the lamp."""
    config = room_with_scene_lines(
        tmp_path,
        {
            "peak": [
                ("fade_s: 30", "fade_s: 0.74"),
                ("group:ambient:", "floor-lamp: {level: 8, kelvin: 4000}\n  strip:"),
            ],
            "lights-up": [("fade_s: 1", "fade_s: 0.74")],
        },
    )
    room = Room(tmp_path, config)
    lamp = SimulatedFloorLamp(room)
    room.do("start", plan="rehearsal", participant="P014")
    lamp.run_for(6.0)
    room.do("scene", name="peak")
    lamp.run_for(2.0)
    since = room.clock.now()
    for n in range(30):
        with contextlib.suppress(CommandRefused):
            room.do("scene", name="lights-up" if n % 2 == 0 else "peak")
        lamp.run_for(0.13, step=0.01)
    lamp.run_for(2.0)

    corners = lamp.brightness_corners(since)
    assert len(corners) > 20, "the lamp took the scenes"
    allowed = 2 * room.engine.room.settings.safety.max_flashes_per_s
    busiest = busiest_second(corners)
    assert busiest <= allowed, f"{busiest} transitions in a second at the lamp"
