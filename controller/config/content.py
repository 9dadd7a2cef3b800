"""What a display plays for a VR content id: a paced-breathing guide or a file of the room.

Content ids (the `content` of a `vr` play):

* `breathing:<per-minute>[:<inhale>:<exhale>]`: a synthesised paced-breathing guide,
  e.g. `breathing:6` (6 breaths a minute, inhale:exhale 4:6) or `breathing:5.5:1:2`.
* `<file>[:once][:360]`: a video or audio file in the room's content folder, looped unless
  `:once`; `:360` marks an equirectangular 360° video (shown in WebXR where the browser
  offers it, flat elsewhere).

`parse_content` never touches the disk; `content_file` finds the file inside the folder
and never outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

BREATHING_PREFIX = "breathing"
BREATHS_PER_MIN_RANGE = (1.0, 30.0)
RATIO_PART_RANGE = (0.1, 10.0)
MIN_BREATH_PART_S = 1.0
"""The inhale and the exhale each last at least this long: the guide never jumps (safety.md)."""
DEFAULT_RATIO = (4.0, 6.0)
"""Inhale:exhale when a breathing id names none: a longer out-breath, as paced breathing has."""

VIDEO_SUFFIXES = frozenset({".webm", ".mp4", ".m4v", ".ogv", ".mov"})
AUDIO_SUFFIXES = frozenset({".mp3", ".ogg", ".oga", ".opus", ".wav", ".flac", ".m4a", ".aac"})
FILE_OPTIONS = frozenset({"once", "loop", "360"})
MAX_CONTENT_ID = 300


class ContentError(ValueError):
    """A content id a display cannot play, with the reason in plain words."""


@dataclass(frozen=True)
class Breathing:
    """A paced-breathing guide: `per_minute` breaths, each inhale then exhale in this ratio."""

    per_minute: float
    inhale: float
    exhale: float

    @property
    def period_s(self) -> float:
        return 60.0 / self.per_minute

    @property
    def inhale_s(self) -> float:
        return self.period_s * self.inhale / (self.inhale + self.exhale)


@dataclass(frozen=True)
class MediaFile:
    """A file of the content folder (a path inside it, with `/` separators)."""

    path: str
    loop: bool
    spherical: bool

    @property
    def is_video(self) -> bool:
        return PurePosixPath(self.path).suffix.lower() in VIDEO_SUFFIXES


Content = Breathing | MediaFile


def parse_content(content_id: str) -> Content:
    """The content a display plays for `content_id`; ContentError when it cannot be played."""
    if not content_id or len(content_id) > MAX_CONTENT_ID:
        raise ContentError(f"a content id has 1 to {MAX_CONTENT_ID} characters")
    head, *options = content_id.split(":")
    if head == BREATHING_PREFIX:
        return _breathing(options)
    return _media(head, options)


def _breathing(options: list[str]) -> Breathing:
    if len(options) not in (1, 3):
        raise ContentError("a breathing guide is breathing:<per-minute>[:<inhale>:<exhale>]")
    rate = _number(options[0], "breaths per minute", BREATHS_PER_MIN_RANGE)
    if len(options) == 1:
        return Breathing(rate, *DEFAULT_RATIO)
    inhale = _number(options[1], "the inhale part", RATIO_PART_RANGE)
    exhale = _number(options[2], "the exhale part", RATIO_PART_RANGE)
    guide = Breathing(rate, inhale, exhale)
    if min(guide.inhale_s, guide.period_s - guide.inhale_s) < MIN_BREATH_PART_S:
        raise ContentError(
            f"at {rate:g} breaths a minute, {inhale:g}:{exhale:g} makes an inhale or exhale "
            f"shorter than {MIN_BREATH_PART_S:g} s"
        )
    return guide


def _number(text: str, what: str, bounds: tuple[float, float]) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ContentError(f"{what} {text!r} is not a number") from None
    low, high = bounds
    if not math.isfinite(value) or not low <= value <= high:
        raise ContentError(f"{what} {text} is not from {low:g} to {high:g}")
    return value


def _media(path: str, options: list[str]) -> MediaFile:
    unknown = [option for option in options if option not in FILE_OPTIONS]
    if unknown:
        raise ContentError(f"unknown content option {unknown[0]!r} (options: once, loop, 360)")
    if "once" in options and "loop" in options:
        raise ContentError("a content is played once or looped, not both")
    if not all(_plain_name(part) for part in path.split("/")):
        raise ContentError(f"{path!r} is not a file name inside the content folder")
    suffix = PurePosixPath(path).suffix.lower()
    if suffix not in VIDEO_SUFFIXES | AUDIO_SUFFIXES:
        known = ", ".join(sorted(VIDEO_SUFFIXES | AUDIO_SUFFIXES))
        raise ContentError(f"{path!r} is not a video or audio file ({known})")
    media = MediaFile(path, loop="once" not in options, spherical="360" in options)
    if media.spherical and not media.is_video:
        raise ContentError(f"{path!r}: only a video can be 360°")
    return media


def _plain_name(part: str) -> bool:
    """A folder or file name as written: not empty or hidden, no backslash, and printable
    (no control character, no lone surrogate, which no file system name can hold)."""
    return bool(part) and not part.startswith(".") and "\\" not in part and part.isprintable()


def content_file(folder: Path, media: MediaFile) -> Path:
    """The file of `media` inside `folder`; ContentError when it is missing or leads outside."""
    try:
        root = folder.resolve()
        candidate = (root / media.path).resolve()
        if not candidate.is_relative_to(root):
            raise ContentError(f"{media.path!r} leads outside the content folder")
        if not candidate.is_file():
            raise ContentError(f"no file {media.path!r} in the content folder")
    except OSError as error:  # a name too long for the file system, a folder it may not read
        raise ContentError(
            f"no file {media.path!r} in the content folder: {error.strerror}"
        ) from None
    except RuntimeError:  # pathlib's word for a symbolic link that leads back to itself
        raise ContentError(f"{media.path!r} is a loop of symbolic links") from None
    return candidate
