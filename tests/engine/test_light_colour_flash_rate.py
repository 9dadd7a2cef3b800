"""docs/safety.md#flash-rate: no light flashes more than `max_flashes_per_s` times in a
second. A colour light's output is its level times its colour (docs/emergency.md: "a colour
counts by its brightest channel"), so two scenes at the same level in a dark and a bright
colour, switched quickly, swing the light as much as a change of level would.

The LED strip's messages (WLED JSON: `bri`, `col`, `tt`) as they would reach the broker are
rebuilt into its light output and judged by the checker of test_safety_properties, which
shares no code with the gate.
"""

from __future__ import annotations

import contextlib
import json
from fractions import Fraction
from pathlib import Path

from controller.engine.phases import CommandRefused
from tests.engine.room_parts import STRIP
from tests.engine.test_engine import Room
from tests.engine.test_light_transition_as_the_device_times_it import room_with_scene_lines
from tests.engine.test_safety_properties import busiest_second, luminance_corners


def strip_output(payload: str, colour: list[int]) -> tuple[Fraction, list[int]]:
    """The strip's light output (0–1: bri × brightest channel) and the colour it then shows."""
    message = json.loads(payload)
    for segment in message.get("seg", []):
        if "col" in segment:
            colour = segment["col"][0]
    if not message["on"]:
        return Fraction(0), colour
    return Fraction(message["bri"], 255) * Fraction(max(colour), 255), colour


def test_scenes_at_one_level_in_a_dark_and_a_bright_colour_do_not_flash_the_strip(
    tmp_path: Path,
) -> None:
    """The peak scene's strip in its violet (#3a1c5c, 36 % of the strip's light) and the
    lights-up scene's white, both at 60 %, both at once (fade 0), switched by the operator
    every 0.1 s: the gate saw the same level each time and let every change through, ten
    swings of 38 % of full light a second."""
    config = room_with_scene_lines(
        tmp_path,
        {
            "peak": [
                ("fade_s: 30", "fade_s: 0"),
                ('group:ambient: {level: 8, rgb: "#3a1c5c"}', 'strip: {level: 60, rgb: "#3a1c5c"}'),
            ],
            "lights-up": [("fade_s: 1", "fade_s: 0")],
        },
    )
    room = Room(tmp_path, config)
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    wire: list[tuple[int, Fraction, int]] = []
    colour = [255, 255, 255]

    def tick(seconds: float) -> None:
        nonlocal colour
        for payload in room.tick(seconds).get(STRIP, []):
            output, colour = strip_output(payload, colour)
            at_ms = round(room.clock.now() * 1000)
            wire.append((at_ms, output, json.loads(payload)["tt"] * 100))

    for n in range(30):
        with contextlib.suppress(CommandRefused):
            room.do("scene", name="peak" if n % 2 == 0 else "lights-up")
        tick(0.0)
        tick(0.1)
    for _ in range(20):
        tick(0.1)

    assert len(wire) > 3, "the strip took the scenes"
    allowed = 2 * room.engine.room.settings.safety.max_flashes_per_s
    busiest = busiest_second(luminance_corners(wire))
    assert busiest <= allowed, f"{busiest} transitions in a second at the strip: {wire[:12]}"
