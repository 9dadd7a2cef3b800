"""Unit conversions shared by the light drivers: level scales, Kelvin ⇄ mireds, fade seconds,
an RGB colour's relative luminance."""

from __future__ import annotations

import math


def round_half_up(value: float) -> int:
    """Round to the nearest whole number, halves up (2.5 → 3), unlike Python's round()."""
    return math.floor(value + 0.5)


def to_scale(level: float, top: int) -> int:
    """A 0–1 level on a device scale 0–top (254 for Zigbee, 255 for WLED, 100 for percent)."""
    return round_half_up(level * top)


def to_scale_below(level: float, top: int) -> int:
    """A 0–1 limited amount (a volume, an intensity) on a device scale 0–top, rounded down, so
    a cap that is not a whole step (a volume cap of 70.5 %) is never passed on the wire."""
    return math.floor(level * top + 1e-6)


def kelvin_bounds(kelvin_range: tuple[int, int], hard: tuple[int, int] | None) -> tuple[int, int]:
    """The Kelvin a light is sent: its range, narrowed to the protocol's own when given."""
    low, high = kelvin_range
    if hard is not None:
        low, high = max(low, hard[0]), min(high, hard[1])
    return low, high


def clamp_kelvin(kelvin: int, kelvin_range: tuple[int, int], hard: tuple[int, int] | None) -> int:
    """Kelvin limited to the light's range and, when given, to the protocol's own range."""
    low, high = kelvin_bounds(kelvin_range, hard)
    return min(max(kelvin, low), high)


def mired_bounds(
    kelvin_range: tuple[int, int], hard: tuple[int, int] | None = None
) -> tuple[int, int]:
    """The mireds a light is sent: its range (given in K), narrowed to the protocol's mireds."""
    low_k, high_k = kelvin_range
    low_m, high_m = round_half_up(1_000_000 / high_k), round_half_up(1_000_000 / low_k)
    if hard is not None:
        low_m, high_m = max(low_m, hard[0]), min(high_m, hard[1])
    return low_m, high_m


def mireds(kelvin: int, kelvin_range: tuple[int, int], hard: tuple[int, int] | None = None) -> int:
    """round(1,000,000 / K), clamped to the light's range (given in K) and the protocol's mireds."""
    low_m, high_m = mired_bounds(kelvin_range, hard)
    return min(max(round_half_up(1_000_000 / kelvin), low_m), high_m)


def kelvin_from_mireds(value: float) -> int:
    """Kelvin = round(1,000,000 / mireds)."""
    return round_half_up(1_000_000 / value)


_WHOLE_FLOAT = 2.0**53
"""From here on a float has no fraction left to round (and ×10 may overflow)."""


def tenths_of_seconds(seconds: float, cap_s: float) -> float:
    """A fade time in seconds, at most cap_s, to 0.1 s (the resolution of Zigbee and WLED).

    A time too long for a float to hold its tenths is returned as it is.
    """
    capped = min(seconds, cap_s)
    if capped * 10 >= _WHOLE_FLOAT:
        return capped
    return round_half_up(capped * 10) / 10


def relative_luminance(red: float, green: float, blue: float) -> float:
    """The relative luminance (0–1, white 1) of an sRGB colour given in 0–255 channels, as
    WCAG 2.x defines it for its flash thresholds: each channel linearised, then weighted
    0.2126, 0.7152 and 0.0722 (a green is ten times as luminous as a blue of one value)."""

    def linear(channel: float) -> float:
        share = channel / 255
        return share / 12.92 if share <= 0.04045 else ((share + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
