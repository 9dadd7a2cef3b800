"""What the engine needs of the room PC's own outputs: the music player and the BLS tones.

The VLC-backed implementations live in `controller.media` (`MusicPlayer`, `TonePlayer`);
a room PC without libvlc runs without them, and the engine reports music and tones as
unavailable instead of failing. Times passed here are real seconds (session time divided
by the time scale), because what a listener hears runs in real time.
"""

from __future__ import annotations

from typing import Literal, Protocol

from controller.config import Playlist
from controller.engine.safety import BlsRequest


class NowPlaying(Protocol):
    """What the music output plays now."""

    @property
    def playlist(self) -> str | None: ...

    @property
    def title(self) -> str | None: ...

    @property
    def position_s(self) -> float | None: ...

    @property
    def duration_s(self) -> float | None: ...

    @property
    def volume(self) -> float: ...

    @property
    def state(self) -> str: ...


class MusicOutput(Protocol):
    """Plays playlists with crossfades between decks; the engine steps the master volume."""

    def play(
        self,
        playlist: Playlist,
        now: float,
        *,
        volume: float,
        crossfade_s: float = 0.0,
        track_crossfade_s: float = 0.0,
        order: Literal["sequential", "shuffle"] = "sequential",
        loop: bool = True,
    ) -> None: ...

    def pause(self) -> None: ...

    def resume(self, now: float) -> None: ...

    def skip(self, now: float) -> None: ...

    def previous(self, now: float) -> None: ...

    def set_volume(self, level: float, now: float, over_s: float | None = None) -> None: ...

    def fade_out(self, seconds: float, now: float) -> None: ...

    def stop(self, now: float) -> None: ...

    def tick(self, now: float) -> None: ...

    def moving(self, now: float) -> bool:
        """Whether `tick` has work at every tick now (a ramp, a crossfade, a VLC event)."""
        ...

    def snapshot(self, now: float) -> NowPlaying: ...


class ToneOutput(Protocol):
    """Plays bilateral tones for a set; stop is immediate."""

    def start(self, request: BlsRequest, *, volume: float) -> None: ...

    def set_volume(self, volume: float) -> None: ...

    def stop(self) -> None: ...

    def poll(self) -> None: ...
