"""The room's name travels in the retained state (and Home Assistant's discovery) as labels and
titles do, and is held to their length: a name of a megabyte made a state no console reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller.api.topics import MAX_STATE_BYTES
from controller.config import RoomConfigError, load_room
from controller.config.settings import MAX_LABEL_CHARS
from controller.config.settings_file import load_settings_file
from controller.config.yamlsource import MAX_FILE_BYTES
from controller.engine.clock import ManualClock
from controller.engine.engine import Engine
from tests.conftest import REPO


def config_with_name(tmp_path: Path, name: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(f"room: room-a\nname: {name}\n")
    return config


def test_a_room_name_as_long_as_a_label_is_taken(tmp_path: Path) -> None:
    name = "n" * MAX_LABEL_CHARS
    assert load_settings_file(config_with_name(tmp_path, name)).settings.name == name


@pytest.mark.parametrize("length", [MAX_LABEL_CHARS + 1, 1_040_000])
def test_a_room_name_longer_than_a_label_is_refused_on_its_line(
    tmp_path: Path, length: int
) -> None:
    with pytest.raises(RoomConfigError) as caught:
        load_settings_file(config_with_name(tmp_path, "n" * length))
    assert [(issue.file, issue.line) for issue in caught.value.issues] == [("config.yaml", 2)]
    assert caught.value.issues[0].message.endswith(f"is longer than {MAX_LABEL_CHARS}")


def test_no_room_name_a_config_yaml_can_hold_makes_a_state_larger_than_a_console_reads(
    tmp_path: Path,
) -> None:
    """The longest name config.yaml can hold, in the example room: the room is refused, or its
    retained state stays within what a console, `ctl` and a display read."""
    for part in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / part, tmp_path / part, ignore=shutil.ignore_patterns("*.py"))
    config = (REPO / "config.yaml").read_text()
    room_name = "name: Session room A (demo)"
    assert room_name in config
    length = MAX_FILE_BYTES - len(config.encode()) - 16
    (tmp_path / "config.yaml").write_text(config.replace(room_name, f"name: {'n' * length}"))
    try:
        room = load_room(tmp_path / "config.yaml")
    except RoomConfigError:
        return
    state = Engine(room, clock=ManualClock()).snapshot().model_dump_json().encode()
    assert len(state) <= MAX_STATE_BYTES
