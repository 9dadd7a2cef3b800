"""Content ids a display plays: breathing guides and files of the room's content folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from controller.config.content import (
    Breathing,
    ContentError,
    MediaFile,
    content_file,
    parse_content,
)
from controller.config.models import Device


def test_a_breathing_guide_names_its_rate_and_optionally_its_ratio() -> None:
    six = parse_content("breathing:6")
    assert six == Breathing(6.0, 4.0, 6.0)
    assert isinstance(six, Breathing)
    assert (six.period_s, six.inhale_s) == (10.0, 4.0)
    slow = parse_content("breathing:5.5:1:2")
    assert isinstance(slow, Breathing)
    assert slow.inhale_s == pytest.approx(60 / 5.5 / 3)


@pytest.mark.parametrize(
    ("content_id", "reason"),
    [
        ("breathing", "breathing:<per-minute>"),
        ("breathing:6:1", "breathing:<per-minute>"),
        ("breathing:0.5", "breaths per minute 0.5 is not from 1 to 30"),
        ("breathing:nan", "is not from 1 to 30"),
        ("breathing:six", "'six' is not a number"),
        ("breathing:6:0:1", "the inhale part 0 is not from 0.1 to 10"),
        ("breathing:6:1:inf", "the exhale part inf is not from 0.1 to 10"),
        ("breathing:30:1:2", "30 breaths a minute, 1:2 makes an inhale or exhale shorter than 1 s"),
        ("breathing:12:0.1:10", "makes an inhale or exhale shorter than 1 s"),
        ("", "1 to 300 characters"),
        ("x" * 301 + ".webm", "1 to 300 characters"),
        ("../secret.webm", "is not a file name inside the content folder"),
        ("/etc/passwd.webm", "is not a file name inside the content folder"),
        ("a//b.webm", "is not a file name inside the content folder"),
        (".hidden.webm", "is not a file name inside the content folder"),
        ("\ud800.webm", "is not a file name inside the content folder"),  # a lone surrogate
        ("walks/\x1b[2J.webm", "is not a file name inside the content folder"),
        ("config.yaml", "is not a video or audio file"),
        ("clip.webm:twice", "unknown content option 'twice'"),
        ("clip.webm:once:loop", "once or looped, not both"),
        ("song.mp3:360", "only a video can be 360°"),
    ],
)
def test_a_content_id_a_display_cannot_play_says_why(content_id: str, reason: str) -> None:
    with pytest.raises(ContentError, match=reason.replace("(", r"\(").replace("[", r"\[")):
        parse_content(content_id)


def test_files_loop_unless_played_once_and_may_be_360() -> None:
    assert parse_content("walks/forest.webm") == MediaFile("walks/forest.webm", True, False)
    assert parse_content("forest.mp4:once:360") == MediaFile("forest.mp4", False, True)
    assert not MediaFile("rain.ogg", True, False).is_video


def test_a_file_is_found_inside_the_content_folder_only(tmp_path: Path) -> None:
    folder = tmp_path / "content"
    folder.mkdir()
    (folder / "clip.webm").write_bytes(b"webm")
    (tmp_path / "outside.webm").write_bytes(b"webm")
    (folder / "link.webm").symlink_to(tmp_path / "outside.webm")
    assert content_file(folder, MediaFile("clip.webm", True, False)) == folder / "clip.webm"
    with pytest.raises(ContentError, match=r"no file 'gone\.webm' in the content folder"):
        content_file(folder, MediaFile("gone.webm", True, False))
    with pytest.raises(ContentError, match="leads outside the content folder"):
        content_file(folder, MediaFile("link.webm", True, False))


DISPLAY = {"port": 9}


def test_only_a_headset_or_a_visual_light_bar_can_be_a_display() -> None:
    Device(id="b", kind="bls", driver="mqtt-bls", topic="b", mode="visual", display=DISPLAY)
    with pytest.raises(ValidationError, match="display applies to an mqtt-vr device"):
        Device(id="t", kind="bls", driver="mqtt-bls", topic="t", mode="tactile", display=DISPLAY)
    with pytest.raises(ValidationError, match="is not a host name or address"):
        Device(id="h", kind="vr", driver="mqtt-vr", topic="h", display={"port": 9, "host": "a b"})
