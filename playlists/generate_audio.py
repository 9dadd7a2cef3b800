"""Generate the demo room's royalty-free ambient tracks (committed; rerun to recreate them).

Each track is a soft chord of sine partials with slow swells, 15 s of 16 kHz mono 16-bit
WAV, so the demo plays real audio from files small enough to keep in the repository.
Run: python playlists/generate_audio.py
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 16_000
SECONDS = 15.0

# name -> (root Hz, chord ratios, swell Hz)
TRACKS: dict[str, tuple[float, tuple[float, ...], float]] = {
    "centering-1-still-water": (110.0, (1, 1.5, 2, 2.5), 0.10),
    "centering-2-slow-breath": (98.0, (1, 1.25, 1.5, 2), 0.08),
    "peak-1-open-sky": (73.4, (1, 1.5, 2, 3, 4.5), 0.05),
    "peak-2-deep-field": (82.4, (1, 1.2, 1.5, 2, 3), 0.06),
    "return-1-first-light": (130.8, (1, 1.25, 1.5, 2), 0.12),
    "return-2-shoreline": (123.5, (1, 1.333, 1.5, 2), 0.10),
    "integration-1-warm-room": (146.8, (1, 1.25, 1.5, 2), 0.15),
    "integration-2-homeward": (164.8, (1, 1.2, 1.5, 2), 0.12),
}


def render(root_hz: float, ratios: tuple[float, ...], swell_hz: float) -> np.ndarray:
    """A chord with slow swells and 2 s fades at both ends, peak level -12 dBFS."""
    t = np.arange(int(RATE * SECONDS)) / RATE
    signal = np.zeros_like(t)
    for index, ratio in enumerate(ratios):
        phase = index * 0.7
        swell = 0.6 + 0.4 * np.sin(2 * np.pi * swell_hz * t + phase)
        signal += swell * np.sin(2 * np.pi * root_hz * ratio * t) / (index + 1)
    fade = np.minimum(1.0, np.minimum(t, SECONDS - t) / 2.0)
    signal *= fade
    return 0.25 * signal / np.max(np.abs(signal))


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((samples * 32767).astype("<i2").tobytes())


def main() -> None:
    folder = Path(__file__).parent / "audio"
    folder.mkdir(exist_ok=True)
    for name, (root_hz, ratios, swell_hz) in TRACKS.items():
        write_wav(folder / f"{name}.wav", render(root_hz, ratios, swell_hz))
        print(f"wrote {folder / name}.wav")


if __name__ == "__main__":
    main()
