"""A playlist's track that cannot be looked up (a loop of symbolic links, a name too long for
the file system) is a problem on its line, not a traceback of `check` and `run`; and an M3U
saved with a byte-order mark (as Windows tools write `.m3u8`) reads as the same playlist."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller.config import RoomConfigError, load_room
from tests.conftest import REPO

RETURN = (REPO / "playlists" / "return.m3u").read_text()


def example_room(into: Path) -> Path:
    for part in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / part, into / part, ignore=shutil.ignore_patterns("*.py"))
    shutil.copy(REPO / "config.yaml", into / "config.yaml")
    return into / "config.yaml"


def problems(config: Path) -> list[str]:
    with pytest.raises(RoomConfigError) as caught:
        load_room(config)
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize("playlist", ["return.m3u", "peak.yaml"])
def test_a_track_that_is_a_loop_of_links_is_a_problem_on_its_line(
    tmp_path: Path, playlist: str
) -> None:
    config = example_room(tmp_path)
    (tmp_path / "playlists" / "loop.wav").symlink_to("loop.wav")
    path = tmp_path / "playlists" / playlist
    if playlist.endswith(".m3u"):
        path.write_text("#EXTM3U\nloop.wav\n")
        line = 2
    else:
        text = path.read_text()
        first = next(n for n, row in enumerate(text.splitlines(), 1) if "file:" in row)
        lines = text.splitlines()
        lines[first - 1] = lines[first - 1].split("file:")[0] + "file: loop.wav"
        path.write_text("\n".join(lines) + "\n")
        line = first
    found = problems(config)
    assert [problem for problem in found if problem.startswith(f"playlists/{playlist}:")] == [
        f"playlists/{playlist}:{line}: track 'loop.wav': a loop of symbolic links"
    ]


def test_a_track_name_too_long_for_the_file_system_is_a_problem_on_its_line(
    tmp_path: Path,
) -> None:
    config = example_room(tmp_path)
    name = "a" * 5000 + ".wav"
    (tmp_path / "playlists" / "return.m3u").write_text(f"#EXTM3U\n{name}\n")
    [problem] = [p for p in problems(config) if p.startswith("playlists/return.m3u:")]
    assert problem.startswith("playlists/return.m3u:2: track 'aaaa")
    assert problem.endswith("cannot be looked up (File name too long)")


def test_an_m3u_with_a_byte_order_mark_is_the_same_playlist(tmp_path: Path) -> None:
    config = example_room(tmp_path)
    (tmp_path / "playlists" / "return.m3u").write_bytes(b"\xef\xbb\xbf" + RETURN.encode())
    tracks = load_room(config).playlists["return"].tracks
    assert [(track.path.name, track.title, track.duration_s) for track in tracks] == [
        ("return-1-first-light.wav", "First Light", 15.0),
        ("return-2-shoreline.wav", "Shoreline", 15.0),
    ]
