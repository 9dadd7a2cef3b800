"""A room file is found whatever the case of its `.yaml`/`.yml` (as a playlist's `.M3U` always
was): a sensor's file saved as `vitals.YAML` was left out without a word, and a room with no
oximeter (no SpO2 alert) passed the check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller.config import RoomConfigError, load_room
from tests.conftest import REPO


def example_room(into: Path) -> Path:
    for part in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / part, into / part, ignore=shutil.ignore_patterns("*.py"))
    shutil.copy(REPO / "config.yaml", into / "config.yaml")
    return into / "config.yaml"


@pytest.mark.parametrize("suffix", [".YAML", ".Yml"])
def test_a_device_file_with_an_upper_case_suffix_is_part_of_the_room(
    tmp_path: Path, suffix: str
) -> None:
    config = example_room(tmp_path)
    vitals = tmp_path / "devices" / "vitals.yaml"
    vitals.rename(vitals.with_suffix(suffix))
    for plan in (tmp_path / "scenes" / "plans").iterdir():  # no plan names the sensors
        plan.write_text(plan.read_text().replace("measure_every: {bp-cuff: 15m}", ""))
    room = load_room(config)
    assert {"oximeter", "bp-cuff"} <= set(room.devices)


def test_a_scene_file_with_an_upper_case_suffix_is_part_of_the_room(tmp_path: Path) -> None:
    config = example_room(tmp_path)
    peak = tmp_path / "scenes" / "peak.yaml"
    peak.rename(peak.with_suffix(".YAML"))
    assert "peak" in load_room(config).scenes


def test_one_scene_in_two_files_differing_in_case_is_defined_twice(tmp_path: Path) -> None:
    config = example_room(tmp_path)
    peak = tmp_path / "scenes" / "peak.yaml"
    shutil.copy(peak, peak.with_suffix(".YAML"))
    with pytest.raises(RoomConfigError) as caught:
        load_room(config)
    assert "scenes/peak.yaml: 'peak' is defined twice (also in scenes/peak.YAML)" in [
        str(issue) for issue in caught.value.issues
    ]
