"""Playlists: M3U (with `#EXTINF` titles) or YAML (with per-track gain)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from controller.config.issues import ConfigIssue
from controller.config.models import PlaylistFile
from controller.config.settings import MAX_LABEL_CHARS
from controller.config.yamlsource import (
    NOT_REGULAR,
    NotRegularFileError,
    RoomFileTooLargeError,
    YamlDocument,
    read_room_file,
)

MAX_PLAYLIST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Track:
    path: Path
    title: str
    gain_db: float = 0.0
    duration_s: float | None = None


@dataclass(frozen=True)
class Playlist:
    name: str
    source: Path
    title: str
    tracks: tuple[Track, ...]

    @property
    def duration_s(self) -> float | None:
        durations = [track.duration_s for track in self.tracks]
        if any(duration is None for duration in durations):
            return None
        return sum(d for d in durations if d is not None)


def _track_file(folder: Path, name: str) -> Path | str:
    """The track file `name` names, relative to `folder`; or why it cannot be played."""
    if "\0" in name:
        return "a file name cannot hold a NUL character"
    try:
        path = (folder / name).resolve()
        if not path.is_file():
            return "not found"
    except RuntimeError:  # pathlib's word for a link that leads back to itself
        return "a loop of symbolic links"
    except OSError as error:  # a name too long for the file system, a folder it may not read
        return f"cannot be looked up ({error.strerror or error})"
    if not os.access(path, os.R_OK):
        return "not readable"
    return path


def read_m3u(path: Path, display: str) -> tuple[Playlist | None, list[ConfigIssue]]:
    """Read an M3U playlist; every missing or unreadable track is an issue on its line."""
    try:
        text = read_room_file(path, MAX_PLAYLIST_BYTES).decode("utf-8-sig")  # a BOM is fine
    except UnicodeDecodeError:
        return None, [ConfigIssue(display, None, "not UTF-8 text; save the playlist as UTF-8")]
    except NotRegularFileError:
        return None, [ConfigIssue(display, None, NOT_REGULAR)]
    except RoomFileTooLargeError:
        return None, [ConfigIssue(display, None, "playlist file is larger than 1 MiB")]
    except OSError as error:
        return None, [ConfigIssue(display, None, f"cannot read the file: {error.strerror}")]
    tracks: list[Track] = []
    issues: list[ConfigIssue] = []
    pending_title: str | None = None
    pending_duration: float | None = None
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if line.startswith("#EXTINF:"):
            info, _, title = line.removeprefix("#EXTINF:").partition(",")
            pending_title = title.strip() or None
            if pending_title is not None and len(pending_title) > MAX_LABEL_CHARS:
                issues.append(
                    ConfigIssue(
                        display,
                        number,
                        f"a title of {len(pending_title)} characters is longer than "
                        f"{MAX_LABEL_CHARS}",
                    )
                )
            try:
                seconds = float(info.split()[0]) if info.strip() else -1.0
            except ValueError:
                seconds = -1.0
            pending_duration = seconds if 0 <= seconds < math.inf else None
            continue
        if not line or line.startswith("#"):
            continue
        track_path = _track_file(path.parent, line)
        if isinstance(track_path, str):
            issues.append(ConfigIssue(display, number, f"track {line!r}: {track_path}"))
        else:
            title = pending_title or track_path.stem
            tracks.append(Track(track_path, title, 0.0, pending_duration))
        pending_title, pending_duration = None, None
    if not tracks and not issues:
        issues.append(ConfigIssue(display, None, "the playlist names no tracks"))
    if issues:
        return None, issues
    return Playlist(path.stem, path, path.stem, tuple(tracks)), []


def resolve_playlist_file(
    name: str, playlist: PlaylistFile, document: YamlDocument
) -> tuple[Playlist | None, list[ConfigIssue]]:
    """Resolve a YAML playlist's track files relative to the playlist file."""
    tracks: list[Track] = []
    issues: list[ConfigIssue] = []
    for index, entry in enumerate(playlist.tracks):
        track_path = _track_file(document.path.parent, entry.file)
        if isinstance(track_path, str):
            issues.append(
                document.issue(("tracks", index, "file"), f"track {entry.file!r}: {track_path}")
            )
            continue
        tracks.append(Track(track_path, entry.title or track_path.stem, entry.gain_db))
    if issues:
        return None, issues
    return Playlist(name, document.path, playlist.title or name, tuple(tracks)), []
