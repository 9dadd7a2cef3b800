"""What the engine needs of the room PC's own outputs: the music player and the BLS tones.

The VLC-backed implementations live in `controller.media`; a room PC without libvlc runs
without them, and the engine reports music and tones as unavailable instead of failing.
"""

from __future__ import annotations

from typing import Protocol

from controller.api.state import MusicInfo
from controller.config import Playlist
from controller.engine.safety import BlsRequest


class MusicOutput(Protocol):
    """Plays playlists with crossfades; volume is set by the engine (already capped and ramped)."""

    def play(
        self,
        playlist: Playlist,
        *,
        crossfade_s: float,
        track_crossfade_s: float,
        shuffle: bool,
        loop: bool,
        now: float,
    ) -> None: ...

    def stop(self, *, fade_s: float, now: float) -> None: ...

    def set_volume(self, level: float) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def skip(self) -> None: ...

    def previous(self) -> None: ...

    def tick(self, now: float) -> None: ...

    def info(self) -> MusicInfo: ...

    def close(self) -> None: ...


class ToneOutput(Protocol):
    """Plays bilateral tones for a set; stop is immediate."""

    def start(self, request: BlsRequest, *, volume: float) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...
