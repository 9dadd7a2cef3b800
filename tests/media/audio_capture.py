"""Helpers for tests against real libvlc: tone WAVs, outputs whose players are observed, analysis.

`ObservedOutput(capture=True)` hands every player's audio to the test through VLC's amem
callbacks: the samples VLC actually produced, after its software volume (amplitude × (v/100)³),
with their presentation time. That is the recording used to check fades and crossfades, because
VLC's file output (afile) ignores the volume and restarts its file at every new track.
"""

from __future__ import annotations

import ctypes
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from controller.media.vlc_output import OutputSelection, VlcOutput

RATE = 16_000
"""Sample rate of the test WAVs and of the captured audio (mono)."""


def write_tone(path: Path, hz: float, seconds: float, *, amplitude: float = 0.5) -> Path:
    """A mono 16-bit sine WAV at `hz`; a whole number of cycles so that a loop is seamless."""
    frames = round(RATE * round(seconds * hz) / hz)
    t = np.arange(frames) / RATE
    samples = amplitude * np.sin(2 * np.pi * hz * t)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """The first channel of a 16-bit WAV as floats in -1..1, and its sample rate."""
    with wave.open(str(path), "rb") as reader:
        channels, rate = reader.getnchannels(), reader.getframerate()
        raw = reader.readframes(reader.getnframes())
    return np.frombuffer(raw, dtype="<i2")[::channels].astype(float) / 32768, rate


class Capture:
    """The audio one VLC player delivered, as (presentation time in µs, samples) blocks."""

    def __init__(self, player: Any, vlc: Any) -> None:
        self._blocks: list[tuple[int, np.ndarray]] = []
        self._lock = threading.Lock()

        @vlc.CallbackDecorators.AudioPlayCb
        def play(_opaque: Any, samples: int, count: int, pts: int) -> None:
            block = np.frombuffer(ctypes.string_at(samples, count * 2), dtype="<i2").copy()
            with self._lock:
                self._blocks.append((pts, block))

        self._play = play  # ctypes must keep the callback alive as long as VLC may call it
        player.audio_set_callbacks(play, None, None, None, None, None)
        player.audio_set_format("S16N", RATE, 1)

    def blocks(self) -> list[tuple[int, np.ndarray]]:
        with self._lock:
            return list(self._blocks)

    def samples(self) -> np.ndarray:
        """Everything delivered, in order, as floats in -1..1."""
        blocks = self.blocks()
        if not blocks:
            return np.zeros(0)
        return np.concatenate([block for _, block in blocks]).astype(float) / 32768

    def seconds(self) -> float:
        return sum(len(block) for _, block in self.blocks()) / RATE


class ObservedOutput(VlcOutput):
    """A VlcOutput that keeps the players it makes; with `capture`, their audio goes to the test."""

    def __init__(self, selection: OutputSelection, *, capture: bool = False) -> None:
        super().__init__(selection)
        self.capture = capture
        self.players: list[Any] = []
        self.captures: list[Capture] = []

    def new_player(self) -> Any:
        player = super().new_player()
        self.players.append(player)
        if self.capture:
            self.captures.append(Capture(player, self.vlc))
        return player

    def volumes(self) -> list[int]:
        """Each player's volume as VLC reports it (meaningful on outputs with a volume: alsa)."""
        return [player.audio_get_volume() for player in self.players]


def mix(captures: list[Capture]) -> np.ndarray:
    """The players' audio summed on their common presentation timeline, as the room hears it."""
    blocks = [block for capture in captures for block in capture.blocks()]
    if not blocks:
        return np.zeros(0)
    start = min(pts for pts, _ in blocks)
    placed = [((pts - start) * RATE // 1_000_000, samples) for pts, samples in blocks]
    timeline = np.zeros(max(first + len(samples) for first, samples in placed))
    for first, samples in placed:
        timeline[first : first + len(samples)] += samples.astype(float) / 32768
    return timeline


def tone_amplitude(samples: np.ndarray, hz: float) -> float:
    """The amplitude of the sine at `hz` in `samples` (Hann window, peak within ±2 bins)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    bin_hz = RATE / len(samples)
    centre = round(hz / bin_hz)
    peak = float(spectrum[max(centre - 2, 0) : centre + 3].max())
    return 4 * peak / len(samples)


def windows(samples: np.ndarray, seconds: float) -> list[np.ndarray]:
    size = round(seconds * RATE)
    return [samples[i : i + size] for i in range(0, len(samples) - size + 1, size)]


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


def tone_sequence(samples: np.ndarray, tones: list[float], *, window_s: float = 0.1) -> list[float]:
    """Which of `tones` sounds, window by window, with repeats and silent windows left out."""
    sequence: list[float] = []
    for window in windows(samples, window_s):
        if rms(window) < 0.01:
            continue
        loudest = max(tones, key=lambda hz: tone_amplitude(window, hz))
        if not sequence or sequence[-1] != loudest:
            sequence.append(loudest)
    return sequence


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass (real VLC runs in real time)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
