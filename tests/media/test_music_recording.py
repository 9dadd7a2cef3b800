"""What VLC really played, recorded through amem and analysed: order, loops, crossfades, fades.

These tests run in real time, so the player is ticked from a real monotonic clock (only here).
The recording comes from amem, which starts every new input at VLC's full volume for the
first burst of about a second that VLC delivers at once (a quirk of amem, not of alsa or
pulse): tracks whose volume matters therefore begin with `LEAD_IN_S` of silence.
"""

from __future__ import annotations

import itertools
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from controller.config.playlists import Playlist, Track
from controller.media.music import MusicPlayer, VolumeLimits
from controller.media.vlc_output import OutputSelection
from tests.media.audio_capture import (
    RATE,
    ObservedOutput,
    eventually,
    mix,
    rms,
    tone_amplitude,
    tone_sequence,
    windows,
    write_tone,
)
from tests.support.requirements import require_libvlc

LEAD_IN_S = 1.5
FASTEST = VolumeLimits(cap=1.0, ramp_per_s=1.0)
"""The steepest ramp docs/safety.md allows (100 %/s)."""
INSTANT = VolumeLimits(cap=1.0, ramp_per_s=1000.0)
"""For tests about what plays, not how loud: no ramp from silence to hide the start."""


@pytest.fixture(autouse=True)
def libvlc() -> None:
    require_libvlc()


class Session:
    """A music player whose every deck is recorded, ticked on the real monotonic clock."""

    def __init__(self, limits: VolumeLimits) -> None:
        self.output = ObservedOutput(OutputSelection(aout="dummy"), capture=True)
        self.errors: list[str] = []
        self.player = MusicPlayer(self.output, limits, on_error=self.errors.append)
        self.start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.start

    def run_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Tick every 20 ms until `predicate` holds (or the deadline passes)."""

        def ticked() -> bool:
            self.player.tick(self.now())
            return predicate()

        return eventually(ticked, timeout)

    def run_for(self, seconds: float) -> None:
        until = self.now() + seconds
        self.run_until(lambda: self.now() >= until, timeout=seconds + 5.0)

    def stopped(self) -> bool:
        return self.player.snapshot(self.now()).state == "stopped"


@pytest.fixture
def session() -> Iterator[Callable[..., Session]]:
    sessions: list[Session] = []

    def make(limits: VolumeLimits) -> Session:
        sessions.append(Session(limits))
        return sessions[-1]

    yield make
    for made in sessions:
        made.player.close()


def tone_track(folder: Path, hz: float, seconds: float, *, lead_in_s: float = 0.0) -> Track:
    """A sine track, optionally after some silence, as a playlist entry."""
    path = write_tone(folder / f"{hz:g}.wav", hz, seconds)
    if lead_in_s:
        with wave.open(str(path), "rb") as reader:
            tone = reader.readframes(reader.getnframes())
        with wave.open(str(path), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(RATE)
            writer.writeframes(bytes(2 * round(lead_in_s * RATE)) + tone)
    return Track(path, f"{hz:g} Hz", 0.0, lead_in_s + seconds)


def playlist(name: str, *tracks: Track) -> Playlist:
    return Playlist(name, Path(f"{name}.m3u"), name, tuple(tracks))


def test_a_playlist_plays_its_tracks_in_order_then_stops(
    session: Callable[..., Session], tmp_path: Path
) -> None:
    run = session(INSTANT)
    tracks = [tone_track(tmp_path, hz, 1.2) for hz in (440, 550, 660)]
    run.player.play(playlist("steps", *tracks), run.now(), volume=1.0, loop=False)
    assert run.run_until(run.stopped)
    heard = tone_sequence(run.output.captures[0].samples(), [440, 550, 660])
    assert heard == [440, 550, 660]
    assert run.errors == []


def test_a_looping_playlist_starts_over(session: Callable[..., Session], tmp_path: Path) -> None:
    run = session(INSTANT)
    tracks = [tone_track(tmp_path, hz, 1.0) for hz in (440, 660)]
    run.player.play(playlist("round", *tracks), run.now(), volume=1.0, loop=True)
    capture = run.output.captures[0]
    assert run.run_until(lambda: len(tone_sequence(capture.samples(), [440, 660])) >= 5)
    assert tone_sequence(capture.samples(), [440, 660])[:5] == [440, 660, 440, 660, 440]


def test_a_missing_track_is_skipped_without_silence_in_between(
    session: Callable[..., Session], tmp_path: Path
) -> None:
    run = session(INSTANT)
    gone = Track(tmp_path / "gone.wav", "gone")
    tracks = [tone_track(tmp_path, 440, 1.0), gone, tone_track(tmp_path, 660, 1.0)]
    run.player.play(playlist("gap", *tracks), run.now(), volume=1.0, loop=False)
    assert run.run_until(run.stopped)
    assert tone_sequence(run.output.captures[0].samples(), [440, 660]) == [440, 660]
    assert len(run.errors) == 1
    assert "gone" in run.errors[0]


@pytest.mark.slow
def test_a_crossfade_overlaps_both_playlists_and_is_never_louder_than_one(
    session: Callable[..., Session], tmp_path: Path
) -> None:
    run = session(FASTEST)
    first = playlist("first", tone_track(tmp_path, 440, 6.0, lead_in_s=LEAD_IN_S))
    second = playlist("second", tone_track(tmp_path, 660, 6.0, lead_in_s=LEAD_IN_S))
    run.player.play(first, run.now(), volume=1.0)
    run.run_for(LEAD_IN_S + 0.5)
    run.player.play(second, run.now(), volume=1.0, crossfade_s=3.0)
    run.run_for(3.5)
    heard = mix(run.output.captures)
    levels = [(tone_amplitude(w, 440), tone_amplitude(w, 660)) for w in windows(heard, 0.1)]
    first_alone = [i for i, (a, b) in enumerate(levels) if a > 0.48 and b < 0.01]
    second_alone = [i for i, (a, b) in enumerate(levels) if b > 0.48 and a < 0.01]
    both = [i for i, (a, b) in enumerate(levels) if min(a, b) > 0.05]
    assert first_alone and second_alone and both
    assert max(first_alone) < min(both) and max(both) < min(second_alone)
    assert len(both) >= 5, "both playlists sound together for at least half a second"
    assert max(a + b for a, b in levels) <= 0.5 * 1.01, "together never louder than one alone"
    # amem applies each stream's volume as VLC hands its samples over, about a second ahead and
    # not equally far ahead for both streams; under load a step may then overlap by a few ms.
    assert float(np.abs(heard).max()) <= 0.5 * 1.08


@pytest.mark.slow
def test_a_fade_out_really_ramps_down_to_silence(
    session: Callable[..., Session], tmp_path: Path
) -> None:
    run = session(FASTEST)
    run.player.play(playlist("calm", tone_track(tmp_path, 440, 6.0, lead_in_s=LEAD_IN_S)),
                    run.now(), volume=1.0)  # fmt: skip
    run.run_for(LEAD_IN_S + 0.3)
    run.player.fade_out(1.5, run.now())
    assert run.run_until(run.stopped)
    heard = run.output.captures[0].samples()
    levels = [rms(w) for w in windows(heard, 0.25)]
    fading = levels[int(np.argmax(levels)) :]
    assert fading[0] == pytest.approx(0.5 / np.sqrt(2), rel=0.03), "full volume before the fade"
    assert all(later <= earlier + 1e-3 for earlier, later in itertools.pairwise(fading))
    assert len({round(level, 3) for level in fading if 0.01 < level < 0.34}) >= 4
    assert fading[-1] < 0.05 * fading[0], "more than 26 dB down when the player stops"
