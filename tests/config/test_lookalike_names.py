"""A name that does not resolve and holds a character beyond ASCII (a Cyrillic `а` typed for
a Latin `a`, pasted from a document) looks in the message like the name that exists:
`no scene named 'peаk'` beside a scene `peak`. The message names the character."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller.config import RoomConfigError, load_room
from tests.conftest import REPO

CYRILLIC_A = "\u0430"


def room_with(into: Path, file: str, old: str, new: str) -> Path:
    for part in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / part, into / part, ignore=shutil.ignore_patterns("*.py"))
    shutil.copy(REPO / "config.yaml", into / "config.yaml")
    path = into / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return into / "config.yaml"


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("scenes/plans/rehearsal.yaml", "scene: peak", f"scene: pe{CYRILLIC_A}k"),
        ("scenes/peak.yaml", "  ceiling:", f"  ceiling-{CYRILLIC_A}:"),
        ("scenes/peak.yaml", "playlist: peak", f"playlist: pe{CYRILLIC_A}k"),
        ("config.yaml", "idle_scene: idle", f"idle_scene: idle-{CYRILLIC_A}"),
    ],
    ids=["scene", "device", "playlist", "idle scene"],
)
def test_a_name_with_a_lookalike_letter_is_told_apart(
    tmp_path: Path, file: str, old: str, new: str
) -> None:
    config = room_with(tmp_path, file, old, new)
    with pytest.raises(RoomConfigError) as caught:
        load_room(config)
    [issue] = caught.value.issues
    assert "U+0430 CYRILLIC SMALL LETTER A" in issue.message
