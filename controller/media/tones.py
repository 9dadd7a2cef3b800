"""Bilateral tone synthesiser: stereo tone bursts alternating left and right, without clicks.

Each pass (one full left-right cycle at `speed_hz`) plays a burst on the left at the start
of the cycle and one on the right half a cycle later. Bursts rise and fall with
raised-cosine edges, so they start and end at silence; the waveform starts at phase 0 at
each onset; the peak never exceeds `level`.
`write_set_wav` renders a whole `SetSchedule` to a 16-bit stereo WAV; `render_cycle`
renders one cycle as a buffer that loops seamlessly, for playback elsewhere.
"""

from __future__ import annotations

import math
import os
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from controller.config import limits
from controller.config.settings import SafetyLimits
from controller.media.tone_limits import (
    EDGE_MS_MIN,
    ROOM_CAP,
    ROOM_LIMIT,
    SAMPLE_RATE_MAX,
    SAMPLE_RATE_MIN,
    TONE_MS_MIN,
    ToneParameterError,
    check_range,
)
from controller.media.tone_schedule import SetProgress, SetSchedule, SetStatus

__all__ = [
    "DEFAULT_EDGE_MS",
    "PANS",
    "WAVEFORMS",
    "Pan",
    "SetProgress",
    "SetSchedule",
    "SetStatus",
    "SetSummary",
    "ToneCycle",
    "ToneParameterError",
    "ToneSettings",
    "Waveform",
    "render_cycle",
    "write_set_wav",
]

Waveform = Literal["sine", "soft-square"]
Pan = Literal["hard", "sweep"]
WAVEFORMS: Final[tuple[Waveform, ...]] = ("sine", "soft-square")
PANS: Final[tuple[Pan, ...]] = ("hard", "sweep")

DEFAULT_EDGE_MS: Final = 10.0
"""docs/safety.md: 10 ms raised-cosine edges."""
PCM16_FULL_SCALE: Final = 32767
SOFT_SQUARE_TOP_HARMONIC: Final = 9
"""The soft square sums odd harmonics up to this one (fewer when they would pass Nyquist)."""
SOFT_SQUARE_BANDWIDTH: Final = 0.45
"""Harmonics stay below this fraction of the sample rate (under Nyquist, with margin)."""
RENDER_CHUNK_FRAMES: Final = 1 << 16

Frames = NDArray[np.float64]
"""Stereo audio as an (n, 2) array of floats in -1..1, left then right."""


@dataclass(frozen=True)
class ToneSettings:
    """What the bilateral tones sound like; docs/safety.md's hard bounds are checked on creation."""

    tone_hz: float = 440.0
    speed_hz: float = 1.0
    """Full left-right cycles per second."""
    tone_ms: float = 100.0
    """Length of each burst, edges included; it must fit inside half a cycle."""
    edge_ms: float = DEFAULT_EDGE_MS
    """Raised-cosine rise and fall of each burst."""
    waveform: Waveform = "sine"
    """`sine`, or `soft-square`: a band-limited square (odd harmonics, Lanczos-smoothed)."""
    pan: Pan = "hard"
    """`hard`: left burst then right burst; `sweep`: the sound glides smoothly between sides."""
    level: float = 0.5
    """Peak level as a fraction of full scale, never exceeded."""
    sample_rate: int = 44100

    def __post_init__(self) -> None:
        check_range("tone", self.tone_hz, limits.TONE_HZ_MIN, limits.TONE_HZ_MAX, unit="Hz")
        check_range(
            "speed", self.speed_hz, limits.BLS_SPEED_MIN_HZ, limits.BLS_SPEED_MAX_HZ, unit="Hz"
        )
        check_range("volume", self.level, 0, limits.VOLUME_CAP_MAX / 100)
        if isinstance(self.sample_rate, bool) or not isinstance(self.sample_rate, int):
            raise ToneParameterError(f"sample rate {self.sample_rate} must be a whole number")
        check_range("sample rate", self.sample_rate, SAMPLE_RATE_MIN, SAMPLE_RATE_MAX, unit="Hz")
        if self.waveform not in WAVEFORMS:
            raise ToneParameterError(
                f"waveform {self.waveform!r} is not one of: {', '.join(WAVEFORMS)}"
            )
        if self.pan not in PANS:
            raise ToneParameterError(f"pan {self.pan!r} is not one of: {', '.join(PANS)}")
        check_range("edge", self.edge_ms, EDGE_MS_MIN, math.inf, unit="ms")
        check_range("tone length", self.tone_ms, TONE_MS_MIN, math.inf, unit="ms")
        if self.tone_ms < 2 * self.edge_ms:
            raise ToneParameterError(
                f"tone length {self.tone_ms:g} ms is shorter than its rise and fall "
                f"(2 × {self.edge_ms:g} ms edges)"
            )
        if self.tone_ms > self.half_cycle_ms:
            raise ToneParameterError(
                f"tone length {self.tone_ms:g} ms does not fit in half a cycle "
                f"({self.half_cycle_ms:g} ms at {self.speed_hz:g} Hz)"
            )

    @property
    def half_cycle_ms(self) -> float:
        """Time from a left burst's onset to the right burst's onset."""
        return 500.0 / self.speed_hz

    def check_room_limits(self, safety: SafetyLimits) -> None:
        """Raise ToneParameterError when the room's tighter limits refuse these tones."""
        check_range(
            "tone",
            self.tone_hz,
            safety.tone_hz_min,
            safety.tone_hz_max,
            unit="Hz",
            source=ROOM_LIMIT,
        )
        check_range(
            "speed",
            self.speed_hz,
            safety.bls_speed_min_hz,
            safety.bls_speed_max_hz,
            unit="Hz",
            source=ROOM_LIMIT,
        )
        check_range("volume", self.level, 0, safety.volume_cap / 100, source=ROOM_CAP)
        check_range(
            "edge", self.edge_ms, safety.tone_edge_ms, math.inf, unit="ms", source=ROOM_LIMIT
        )


@dataclass(frozen=True)
class ToneCycle:
    """One left-right cycle that loops without a seam (its length is whole samples)."""

    frames: Frames
    sample_rate: int

    @property
    def cycle_s(self) -> float:
        return len(self.frames) / self.sample_rate

    @property
    def speed_hz(self) -> float:
        """The speed the loop really plays at (the cycle is rounded to whole samples)."""
        return self.sample_rate / len(self.frames)

    def pcm16(self) -> bytes:
        """The cycle as interleaved 16-bit little-endian PCM, as a sound card takes it."""
        return _to_pcm16(self.frames).tobytes()


@dataclass(frozen=True)
class SetSummary:
    """What `write_set_wav` wrote."""

    path: Path
    duration_s: float
    passes: int
    """Passes over all sets."""
    sets: int
    peak: float
    """The highest absolute sample written, as a fraction of full scale."""


def render_cycle(settings: ToneSettings) -> ToneCycle:
    """One cycle (left burst, then right burst) as a seamlessly loopable buffer."""
    frame_count = round(settings.sample_rate / settings.speed_hz)
    times = np.arange(frame_count) / settings.sample_rate
    voice = _Voice(settings)
    return ToneCycle(voice.frames(times, frame_count / settings.sample_rate), settings.sample_rate)


def write_set_wav(path: Path, settings: ToneSettings, schedule: SetSchedule) -> SetSummary:
    """Render every set of `schedule`, with silent pauses, to a 16-bit stereo WAV at `path`.

    The file appears complete or not at all: it is written beside `path` and renamed.
    """
    if not math.isclose(schedule.speed_hz, settings.speed_hz):
        raise ToneParameterError(
            f"the set's speed {schedule.speed_hz:g} Hz differs from the tones' "
            f"{settings.speed_hz:g} Hz"
        )
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    peak_sample = frames_written = 0
    try:
        with partial.open("wb") as file, wave.open(file, "wb") as output:
            output.setnchannels(2)
            output.setsampwidth(2)
            output.setframerate(settings.sample_rate)
            for chunk in _set_chunks(settings, schedule):
                samples = _to_pcm16(chunk)
                peak_sample = max(peak_sample, int(np.abs(samples).max(initial=0)))
                frames_written += len(samples)
                output.writeframes(samples.tobytes())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return SetSummary(
        path=path,
        duration_s=frames_written / settings.sample_rate,
        passes=schedule.passes_per_set * schedule.sets,
        sets=schedule.sets,
        peak=peak_sample / PCM16_FULL_SCALE,
    )


def _set_chunks(settings: ToneSettings, schedule: SetSchedule) -> Iterator[Frames]:
    """The schedule's audio in chunks of bounded size: sets of passes, silence in pauses."""
    voice = _Voice(settings)
    rate = settings.sample_rate
    total_frames = round(schedule.total_s * rate)
    period_s = schedule.set_s + schedule.pause_s
    for start in range(0, total_frames, RENDER_CHUNK_FRAMES):
        times = np.arange(start, min(start + RENDER_CHUNK_FRAMES, total_frames)) / rate
        into_set = times - np.floor(times / period_s) * period_s
        frames = voice.frames(into_set, 1 / schedule.speed_hz)
        frames[into_set >= schedule.set_s] = 0.0
        yield frames


class _Voice:
    """The burst pattern as a function of time since the set (or cycle) started."""

    def __init__(self, settings: ToneSettings) -> None:
        self._settings = settings
        self._tone_s = settings.tone_ms / 1000
        self._edge_s = settings.edge_ms / 1000
        self._harmonics = _harmonics(settings)

    def frames(self, times: NDArray[np.float64], cycle_s: float) -> Frames:
        """Left and right samples at `times` (seconds into the set) for a cycle of `cycle_s`."""
        half_s = cycle_s / 2
        half_index = np.floor(times / half_s)
        since_onset = times - half_index * half_s
        mono = self._settings.level * self._envelope(since_onset) * self._carrier(since_onset)
        if self._settings.pan == "hard":
            on_left = half_index % 2 == 0
            left_gain = on_left.astype(np.float64)
            right_gain = 1.0 - left_gain
        else:
            # 0 at the middle of the left burst, 1 at the middle of the right one.
            position = (1 - np.cos(2 * np.pi * (times - self._tone_s / 2) / cycle_s)) / 2
            left_gain = np.cos(np.pi / 2 * position)
            right_gain = np.sin(np.pi / 2 * position)
        return np.column_stack((mono * left_gain, mono * right_gain))

    def _envelope(self, since_onset: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raised-cosine rise and fall; 0 before the onset and after the burst."""
        rise = np.clip(since_onset / self._edge_s, 0.0, 1.0)
        fall = np.clip((self._tone_s - since_onset) / self._edge_s, 0.0, 1.0)
        return (1 - np.cos(np.pi * rise)) / 2 * ((1 - np.cos(np.pi * fall)) / 2)

    def _carrier(self, since_onset: NDArray[np.float64]) -> NDArray[np.float64]:
        """The waveform, starting at phase 0 at each burst's onset, peak 1."""
        phase = 2 * np.pi * self._settings.tone_hz * since_onset
        return np.clip(_harmonic_sum(self._harmonics, phase), -1.0, 1.0)


def _harmonics(settings: ToneSettings) -> list[tuple[int, float]]:
    """(harmonic number, amplitude) pairs of the waveform, scaled to a peak of 1."""
    if settings.waveform == "sine":
        return [(1, 1.0)]
    highest = min(
        SOFT_SQUARE_TOP_HARMONIC,
        math.floor(SOFT_SQUARE_BANDWIDTH * settings.sample_rate / settings.tone_hz),
    )
    # A square's odd harmonics (1/n), each smoothed by a Lanczos sigma factor against ringing.
    square = [(n, float(np.sinc(n / (highest + 2))) / n) for n in range(1, highest + 1, 2)]
    peak = float(np.max(_harmonic_sum(square, np.linspace(0, np.pi, 4097))))
    return [(n, amplitude / peak) for n, amplitude in square]


def _harmonic_sum(
    harmonics: list[tuple[int, float]], phase: NDArray[np.float64]
) -> NDArray[np.float64]:
    total = np.zeros_like(phase)
    for harmonic, amplitude in harmonics:
        total += amplitude * np.sin(harmonic * phase)
    return total


def _to_pcm16(frames: Frames) -> NDArray[np.int16]:
    """Quantise toward zero, so no sample's magnitude exceeds the float level it came from."""
    return np.trunc(frames * PCM16_FULL_SCALE).astype(np.int16)
