"""Loop one WAV file through VLC at its own volume: the renderer for pre-rendered bilateral tones.

Measured with libvlc 3.0.24: the loop (`:input-repeat`) keeps one input and one audio output,
so no sample is lost at a loop point (a file output records a continuous sine across them). VLC
drains the output before it reads the file again, so a real device probably hears a short gap
at each loop point: tone files of several seconds keep loop points rare. Changing the file
restarts the input on the same player; its first samples reach the output about 12 ms later.
"""

from __future__ import annotations

import wave
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from controller.media.vlc_output import PlayerVolume, VlcOutput, vlc_volume

REPEAT_TIMES = 65535
"""`:input-repeat` takes at most this; 18 hours of a one-second file."""


class WavLoopError(ValueError):
    """A file the loop cannot play (missing, unreadable, not a PCM WAV)."""


def check_wav(path: Path) -> None:
    """Raise WavLoopError unless `path` is a readable PCM WAV file with audio in it."""
    try:
        with wave.open(str(path), "rb") as reader:
            frames, rate = reader.getnframes(), reader.getframerate()
    except FileNotFoundError:
        raise WavLoopError(f"tone file {path} not found") from None
    except OSError as error:
        raise WavLoopError(f"tone file {path} cannot be read: {error.strerror}") from None
    except (wave.Error, EOFError) as error:
        raise WavLoopError(f"tone file {path} is not a PCM WAV file ({error})") from None
    if frames == 0 or rate <= 0:
        raise WavLoopError(f"tone file {path} holds no audio")


class WavLoop:
    """Plays one WAV file over and over on one output until stopped.

    `start`, `change_file`, `set_volume` and `stop` act at once. `playing` says whether VLC plays
    it: False after VLC gave the file up or the output failed. `poll()`, which the engine calls a
    few times a second, keeps VLC at the volume and reports such problems through `on_error`,
    on the engine's thread.
    """

    def __init__(
        self, output: VlcOutput, *, cap: float = 1.0, on_error: Callable[[str], None]
    ) -> None:
        self.output = output
        self.cap = cap
        self._on_error = on_error
        self._player: Any = output.new_player()
        self._player_volume = PlayerVolume(
            self._player, output.vlc, on_new_input=lambda: output.on_report()
        )
        self._path: Path | None = None
        self._volume = 0.0
        self._started = False
        self._given_up = False
        self._errors: deque[str] = deque()
        vlc = output.vlc
        events = self._player.event_manager()
        events.event_attach(
            vlc.EventType.MediaPlayerEncounteredError, self._queue_error, "VLC could not play it"
        )
        events.event_attach(
            vlc.EventType.MediaPlayerEndReached, self._queue_error, "VLC stopped looping it"
        )

    def _queue_error(self, _event: Any, problem: str) -> None:
        """On a VLC thread: VLC gave the file up; `poll` reports it."""
        self._given_up = True
        self._errors.append(f"tone file {self._path}: {problem}")
        self.output.on_report()

    @property
    def path(self) -> Path | None:
        """The file looped, or last looped."""
        return self._path

    @property
    def volume(self) -> float:
        return self._volume

    @property
    def playing(self) -> bool:
        """Whether VLC plays the loop: started, VLC did not give the file up, the output works."""
        return self._started and not self._given_up and self.output.failure is None

    def start(self, path: Path, volume: float) -> None:
        """Play `path` looped at `volume` (0–1, held at the cap) from its beginning, at once."""
        check_wav(path)
        self.set_volume(volume)
        self.output.clear_failure()
        self._play(path)

    def change_file(self, path: Path) -> None:
        """Loop `path` instead, at the same volume, after VLC's start-up gap (not when stopped)."""
        check_wav(path)
        if self._started:
            self._play(path)

    def set_volume(self, volume: float) -> None:
        """Play at `volume` (0–1, held at the cap) from now on, at once."""
        self._volume = min(max(volume, 0.0), self.cap)
        self._player_volume.set(vlc_volume(self._volume))

    def stop(self) -> None:
        """Stop at once."""
        self._started = False
        self._player_volume.silence()
        self._player.stop()

    def poll(self) -> None:
        """Keep VLC at the volume wanted and on its device while it plays; report errors VLC
        met since the last poll. A stopped loop leaves VLC alone: a stopped player takes no
        volume, and `start` sets it again."""
        if self._started:
            self.output.refresh_devices()
            self._player_volume.set(self._player_volume.wanted, again=True)
        while self._errors:
            self._on_error(self._errors.popleft())
        failure = self.output.take_failure()
        if failure is not None:
            self._on_error(failure)

    def close(self) -> None:
        """Stop, and close the output (which releases the player)."""
        self.stop()
        self.output.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _play(self, path: Path) -> None:
        media = self.output.media(path)
        media.add_option(f":input-repeat={REPEAT_TIMES}")
        self._path = path
        self._player.set_media(media)  # stops what played; its events are sent by now
        media.release()
        self._given_up = False
        self._player.play()
        self._started = True
