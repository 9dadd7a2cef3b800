"""docs/safety.md#flash-rate: no light flashes more than `max_flashes_per_s` times in a
second. A colour light's output is its level times its colour (docs/emergency.md: "a colour
counts by its brightest channel"), so two scenes at the same level in a dark and a bright
colour, switched quickly, swing the light as much as a change of level would; and its
luminance is its level times its colour's relative luminance (WCAG 2.x), so two scenes at the
same level in a green and a blue swing its luminance ten to one.

The LED strip's messages (WLED JSON: `bri`, `col`, `tt`) as they would reach the broker are
rebuilt into its light output and judged by the checker of test_safety_properties, which
shares no code with the gate.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from controller.engine.phases import CommandRefused
from tests.engine.room_parts import STRIP
from tests.engine.test_engine import Room
from tests.engine.test_guarded_path_edges import SimulatedFloorLamp
from tests.engine.test_light_transition_as_the_device_times_it import room_with_scene_lines
from tests.engine.test_safety_properties import busiest_second, luminance_corners


def strip_output(payload: str, colour: list[int]) -> tuple[Fraction, list[int]]:
    """The strip's light output (0–1: bri × brightest channel) and the colour it then shows."""
    colour = strip_colour(payload, colour)
    message = json.loads(payload)
    if not message["on"]:
        return Fraction(0), colour
    return Fraction(message["bri"], 255) * Fraction(max(colour), 255), colour


def strip_colour(payload: str, colour: list[int]) -> list[int]:
    """The colour the strip shows after `payload` (WLED keeps its colour when none is sent)."""
    for segment in json.loads(payload).get("seg", []):
        if "col" in segment:
            colour = segment["col"][0]
    return list(colour)


def wcag_luminance(channels: list[float]) -> Fraction:
    """WCAG 2.x relative luminance of an sRGB colour in 0–255 channels: each channel
    linearised (c / 12.92 up to 0.03928, else ((c + 0.055) / 1.055) ** 2.4), then weighted
    0.2126, 0.7152, 0.0722."""
    linear = [
        c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        for c in (channel / 255 for channel in channels)
    ]
    red, green, blue = linear
    return Fraction(0.2126 * red + 0.7152 * green + 0.0722 * blue)


def operator_switching(room: Room, scenes: tuple[str, str], tick: Callable[[float], None]) -> None:
    """The operator choosing the two scenes in turn every 0.1 s for 3 s, then 2 s of quiet."""
    for n in range(30):
        with contextlib.suppress(CommandRefused):
            room.do("scene", name=scenes[n % 2])
        tick(0.0)
        tick(0.1)
    for _ in range(20):
        tick(0.1)


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


def test_a_tasmota_lamp_in_a_dark_colour_is_judged_at_its_dimmer_not_at_its_colour(
    tmp_path: Path,
) -> None:
    """Tasmota's `Color2` keeps the Dimmer: the floor lamp in `#0a0a0a` at Dimmer 100 shows
    that hue at full brightness, not at 4 %. Judged as 4 % of its light, two scenes turning
    it on in that colour and off at once, switched by the operator every 0.1 s, would be
    wiggles of 4 % to the gate and full swings at the lamp. Judged on the repository's
    simulated Tasmota lamp."""
    config = room_with_scene_lines(
        tmp_path,
        {
            "peak": [
                ("fade_s: 30", "fade_s: 0"),
                ("group:ambient:", 'floor-lamp: {level: 100, rgb: "#0a0a0a"}\n  strip:'),
            ],
            "return": [
                ("fade_s: 30", "fade_s: 0"),
                ("floor-lamp: {level: 25, kelvin: 2700}", "floor-lamp: {on: false}"),
            ],
        },
    )
    room = Room(tmp_path, config)
    lamp = SimulatedFloorLamp(room)
    room.do("start", plan="rehearsal", participant="P014")
    lamp.run_for(6.0)
    room.do("scene", name="peak")
    lamp.run_for(3.0)
    since = room.clock.now()
    for n in range(25):
        with contextlib.suppress(CommandRefused):
            room.do("scene", name="return" if n % 2 == 0 else "peak")
        lamp.run_for(0.1, step=0.05)
    lamp.run_for(2.0)

    def light(channels: tuple[float, ...]) -> Fraction:
        return Fraction(max(channels[:3]) + sum(channels[3:])) / 255

    corners = [(round(at * 1000), light(channels)) for at, channels in lamp.channel_corners(since)]
    assert len(corners) > 4, "the lamp took the scenes"
    allowed = 2 * room.engine.room.settings.safety.max_flashes_per_s
    busiest = busiest_second(corners)
    assert busiest <= allowed, f"{busiest} transitions in a second at the lamp"


def test_scenes_at_one_level_in_a_green_and_a_blue_do_not_flash_the_strip(
    tmp_path: Path,
) -> None:
    """The strip at 60 % in green (#00ff00) in the peak scene and in blue (#0000ff) in the
    return scene, both at once (fade 0), switched by the operator every 0.1 s. Both colours
    are the strip's full output (their brightest channel is 255), so the gate saw no change
    at all and let every switch through: the strip's luminance went from 43 % to 4 % of its
    white and back ten times a second."""
    config = room_with_scene_lines(
        tmp_path,
        {
            "peak": [
                ("fade_s: 30", "fade_s: 0"),
                ('group:ambient: {level: 8, rgb: "#3a1c5c"}', 'strip: {level: 60, rgb: "#00ff00"}'),
            ],
            "return": [
                ("fade_s: 30", "fade_s: 0"),
                ('strip: {level: 15, rgb: "#ffb870"}', 'strip: {level: 60, rgb: "#0000ff"}'),
            ],
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
            colour = strip_colour(payload, colour)
            message = json.loads(payload)
            luminance = Fraction(message["bri"], 255) * wcag_luminance(colour)
            at_ms = round(room.clock.now() * 1000)
            wire.append((at_ms, luminance if message["on"] else Fraction(0), message["tt"] * 100))

    operator_switching(room, ("peak", "return"), tick)

    assert len({level for _, level, _ in wire}) == 2, f"the strip took both colours: {wire[:6]}"
    allowed = 2 * room.engine.room.settings.safety.max_flashes_per_s
    busiest = busiest_second(luminance_corners(wire))
    assert busiest <= allowed, f"{busiest} luminance transitions in a second: {wire[:12]}"


def test_a_tasmota_lamp_switched_between_a_green_and_a_blue_does_not_flash(
    tmp_path: Path,
) -> None:
    """Tasmota's `Color2` keeps the Dimmer: the floor lamp at Dimmer 100 in green and in blue
    gives the same output to a gate that judges its brightest channel, and a luminance ten
    times apart. Two scenes switching it, at once, every 0.1 s swung the lamp's luminance
    ten times a second. Judged on the repository's simulated Tasmota lamp."""
    config = room_with_scene_lines(
        tmp_path,
        {
            "peak": [
                ("fade_s: 30", "fade_s: 0"),
                ("group:ambient:", 'floor-lamp: {level: 100, rgb: "#00ff00"}\n  strip:'),
            ],
            "return": [
                ("fade_s: 30", "fade_s: 0"),
                (
                    "floor-lamp: {level: 25, kelvin: 2700}",
                    'floor-lamp: {level: 100, rgb: "#0000ff"}',
                ),
            ],
        },
    )
    room = Room(tmp_path, config)
    lamp = SimulatedFloorLamp(room)
    room.do("start", plan="rehearsal", participant="P014")
    lamp.run_for(6.0)
    room.do("scene", name="peak")
    lamp.run_for(3.0)
    since = room.clock.now()
    operator_switching(room, ("return", "peak"), lambda seconds: lamp.run_for(seconds, step=0.05))

    def luminance(channels: tuple[float, ...]) -> Fraction:
        return wcag_luminance(list(channels[:3])) + Fraction(sum(channels[3:])) / 255

    corners = [
        (round(at * 1000), luminance(channels)) for at, channels in lamp.channel_corners(since)
    ]
    assert len({level for _, level in corners}) > 1, "the lamp took both colours"
    allowed = 2 * room.engine.room.settings.safety.max_flashes_per_s
    busiest = busiest_second(corners)
    assert busiest <= allowed, f"{busiest} luminance transitions in a second at the lamp"
