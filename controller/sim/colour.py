"""Colour arithmetic the simulated lights share: hex strings, hue/saturation, CIE xy and Kelvin."""

from __future__ import annotations

import colorsys
import math
import re

from controller.sim.model import clamp, round_half_up

Rgb = tuple[int, int, int]

HEX_RGB = re.compile(r"#?([0-9a-fA-F]{6})")


def parse_hex_rgb(text: str) -> Rgb | None:
    """`#RRGGBB` or `RRGGBB` as (r, g, b), or None."""
    match = HEX_RGB.fullmatch(text.strip())
    if match is None:
        return None
    value = int(match.group(1), 16)
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def _linear(channel: float) -> float:
    """sRGB gamma expansion of one channel 0–1."""
    return ((channel + 0.055) / 1.055) ** 2.4 if channel > 0.04045 else channel / 12.92


def rgb_to_xy(rgb: Rgb) -> tuple[float, float]:
    """CIE 1931 xy of an RGB colour (Wide RGB D65, as Zigbee2MQTT converts), 4 decimals."""
    red, green, blue = (_linear(c / 255) for c in rgb)
    x = red * 0.664511 + green * 0.154324 + blue * 0.162028
    y = red * 0.283881 + green * 0.668433 + blue * 0.047685
    z = red * 0.000088 + green * 0.072310 + blue * 0.986039
    total = x + y + z
    if total == 0:
        return 0.3127, 0.3290  # black has no chromaticity: D65 white point
    return round(x / total, 4), round(y / total, 4)


def hue_saturation_to_rgb(hue: float, saturation: float) -> Rgb:
    """The full-brightness RGB of a hue (degrees) and saturation (0–100 %)."""
    red, green, blue = colorsys.hsv_to_rgb((hue % 360) / 360, clamp(saturation, 0, 100) / 100, 1)
    return round_half_up(red * 255), round_half_up(green * 255), round_half_up(blue * 255)


def rgb_to_hue_saturation(rgb: Rgb) -> tuple[int, int]:
    """Hue (0–359 degrees) and saturation (0–100 %) of an RGB colour."""
    hue, saturation, _ = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    return round_half_up(hue * 360) % 360, round_half_up(saturation * 100)


def kelvin_to_rgb(kelvin: float) -> Rgb:
    """The RGB of a black body at `kelvin` (Tanner Helland's fit, as WLED's colorKtoRGB uses)."""
    temp = clamp(kelvin, 1000, 40000) / 100
    if temp <= 66:
        red = 255.0
        green = 99.4708025861 * math.log(temp) - 161.1195681661
        blue = 0.0 if temp <= 19 else 138.5177312231 * math.log(temp - 10) - 305.0447927307
    else:
        red = 329.698727446 * (temp - 60) ** -0.1332047592
        green = 288.1221695283 * (temp - 60) ** -0.0755148492
        blue = 255.0
    r, g, b = (round_half_up(clamp(c, 0, 255)) for c in (red, green, blue))
    return r, g, b


def kelvin_to_mireds(kelvin: int) -> int:
    return round_half_up(1_000_000 / kelvin)
