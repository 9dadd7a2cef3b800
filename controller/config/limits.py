"""Hard safety bounds from docs/safety.md that no room configuration may exceed."""

from typing import Final

PHASE_ORDER: Final = ("centering", "peak", "return", "integration")

TIME_SCALE_MIN: Final = 0.01
TIME_SCALE_MAX: Final = 1000.0
"""The slowest and the fastest a session clock runs (1 is real time; rehearsals run faster)."""

MAX_FLASHES_PER_S: Final = 3.0
"""WCAG 2.3.1 general flash threshold: never more than 3 flashes in any 1 s."""

FLASH_DELTA: Final = 0.10
"""A flash is a pair of opposing luminance changes of at least 10 % of full scale."""

FLASH_DARK_BELOW: Final = 0.80
"""...where the darker state is below 80 % of full scale."""

VOLUME_CAP_MAX: Final = 100.0
"""Music and tone volume cap, in % of the room's calibrated output."""

VOLUME_RAMP_MAX_PER_S: Final = 100.0
"""The fastest ramp a room may configure, in % per second."""
VOLUME_RAMP_MIN_PER_S: Final = 0.1
"""The slowest (70 % in about 12 minutes): a ramp of almost nothing is no ramp, and the gate
divides by it."""

BLS_SPEED_MIN_HZ: Final = 0.2
BLS_SPEED_MAX_HZ: Final = 2.0
"""Bilateral stimulation speed in full left-right cycles per second."""
BLS_DEFAULT_SPEED_HZ: Final = 1.0
"""The speed of a set that names none (brought inside the room's range by the gate)."""

BLS_SET_MAX_SECONDS: Final = 120.0
"""A BLS set longer than this is never sent without explicit confirmation."""

BLS_PASSES_MAX: Final = 10_000
"""No set anyone asks for has more passes; a larger count is refused, not judged."""

TACTILE_INTENSITY_MAX: Final = 80.0
"""Tactile motor drive, in %."""

TONE_HZ_MIN: Final = 200.0
TONE_HZ_MAX: Final = 1000.0
"""Bilateral tone frequency bounds."""

SAFE_SCENE_MIN_LEVEL: Final = 30.0
"""The emergency's safe scene lights every light of the room at least this bright (%), so
that staff can see: the lights-up never dims a room, nor latches it dim."""

MUSIC_FADE_OUT_MAX_S: Final = 3.0
"""In an emergency the music fades out within this time."""
