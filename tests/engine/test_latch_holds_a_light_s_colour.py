"""While latched, a light that reports a colour that leaves it dark (something outside the
engine set it: a live replay stopping, another controller) gets its safe target again, as
one that reports a level below its safe one does (docs/emergency.md#nothing-darker-nothing-louder):
at its safe level in a near-black colour it gives no light."""

from __future__ import annotations

import json
from pathlib import Path

from tests.engine.test_emergency_latch import in_emergency
from tests.engine.test_engine import Room

STRIP = "wled/wled-strip/api"


def test_a_light_reporting_a_dark_colour_while_latched_gets_its_safe_target_again(
    tmp_path: Path,
) -> None:
    room = Room(tmp_path)
    in_emergency(room)
    room.device("wled/wled-strip/g", "153")  # at its safe 60 %
    assert room.run_for(2.0).get(STRIP) is None  # where it should be: nothing to say
    room.device("wled/wled-strip/c", "#010000")  # but near black: the room goes dark
    sent = room.run_for(2.0).get(STRIP, [])
    colours = [json.loads(payload)["seg"][0].get("col") for payload in sent]
    assert [[255, 255, 255]] in colours, f"the strip was left near black: {sent}"


def test_an_rgbw_strip_reporting_its_white_in_the_white_channel_is_not_dark(
    tmp_path: Path,
) -> None:
    """WLED's auto-white gives an RGBW strip told white its light in the white channel and
    reports `#FF000000`: lit, not near black, so it is not sent its target again and again."""
    room = Room(tmp_path)
    room.do("emergency")
    room.run_for(4.0)
    room.device("wled/wled-strip/g", "153")
    room.device("wled/wled-strip/c", "#FF000000")
    assert room.run_for(3.0).get(STRIP) is None
