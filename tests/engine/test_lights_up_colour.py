"""The emergency's lights-up gives light, whatever colour a light was left in
(docs/emergency.md): a safe scene that names a colour light by its level alone (`all`, as
for a light added later) must not leave it at that level in the dark colour of the scene
before it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import REPO
from tests.engine.test_engine import Room

STRIP = "wled/wled-strip/api"


def room_with(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """A copy of the shipped room with one line of each named scene changed."""
    copy = tmp_path / "room"
    copy.mkdir()
    shutil.copy(REPO / "config.yaml", copy / "config.yaml")
    for folder in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / folder, copy / folder)
    for scene, (old, new) in edits.items():
        path = copy / "scenes" / f"{scene}.yaml"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
    return copy / "config.yaml"


def test_a_colour_light_named_by_level_alone_is_lit_white_by_the_emergency(
    tmp_path: Path,
) -> None:
    config = room_with(
        tmp_path,
        {
            "lights-up": ('  strip: {level: 60, rgb: "#ffffff"}\n', ""),  # `all: {level: 80}`
            "centering": ('"#ff9a3c"', '"#100000"'),  # a very dark red
        },
    )
    room = Room(tmp_path / "data", config)
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(30.0)
    room.do("emergency")
    sent = room.run_for(4.0).get(STRIP, [])
    assert sent, "the lights-up sent the strip nothing"
    colours = [json.loads(p)["seg"][0].get("col") for p in sent]
    assert all(colour is not None for colour in colours), (
        f"the lights-up left the strip in its dark red: {sent}"
    )
    assert all(max(colour[0]) == 255 for colour in colours)
    share = room.engine.output._colours["strip"].output
    assert share == 1.0, f"the strip gives {share * 80:.0f} % of its light in the safe scene"
