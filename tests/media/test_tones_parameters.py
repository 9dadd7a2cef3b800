"""Tone parameters: docs/safety.md's bounds, the room's tighter limits, and errors naming them."""

from __future__ import annotations

from typing import Any

import pytest

from controller.config.settings import SafetyLimits
from controller.media.tones import ToneParameterError, ToneSettings


def test_the_defaults_are_safety_mds_tone() -> None:
    tones = ToneSettings()

    assert (tones.tone_hz, tones.edge_ms, tones.waveform, tones.pan) == (440, 10, "sine", "hard")
    assert tones.level <= 0.7, "within the default room's volume cap"


@pytest.mark.parametrize(
    "arguments",
    [
        {"tone_hz": 200},
        {"tone_hz": 1000},
        {"speed_hz": 0.2, "tone_ms": 2500},
        {"speed_hz": 2.0, "tone_ms": 250},
        {"level": 0.0},
        {"level": 1.0},
        {"tone_ms": 20, "edge_ms": 10},
        {"edge_ms": 1, "tone_ms": 20},
        {"sample_rate": 8000},
        {"sample_rate": 192000},
        {"waveform": "soft-square", "pan": "sweep"},
    ],
    ids=repr,
)
def test_values_on_the_bounds_are_accepted(arguments: dict[str, Any]) -> None:
    ToneSettings(**arguments)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tone_hz": 199.5}, "tone 199.5 Hz is below the hard limit 200 Hz"),
        ({"tone_hz": 1200}, "tone 1200 Hz is above the hard limit 1000 Hz"),
        ({"speed_hz": 2.5}, "speed 2.5 Hz is above the hard limit 2 Hz"),
        ({"speed_hz": 0.1}, "speed 0.1 Hz is below the hard limit 0.2 Hz"),
        ({"level": 1.2}, "volume 1.2 is above the hard limit 1"),
        ({"level": -0.1}, "volume -0.1 is below the hard limit 0"),
        ({"level": float("inf")}, "volume inf is not a finite number"),
        ({"edge_ms": 0.5}, "edge 0.5 ms is below the hard limit 1 ms"),
        ({"tone_ms": 15}, "tone length 15 ms is below the hard limit 20 ms"),
        (
            {"tone_ms": 30, "edge_ms": 20},
            "tone length 30 ms is shorter than its rise and fall (2 × 20 ms edges)",
        ),
        (
            {"tone_ms": 600, "speed_hz": 1.0},
            "tone length 600 ms does not fit in half a cycle (500 ms at 1 Hz)",
        ),
        (
            {"tone_ms": 300, "speed_hz": 2.0},
            "tone length 300 ms does not fit in half a cycle (250 ms at 2 Hz)",
        ),
        ({"sample_rate": 4000}, "sample rate 4000 Hz is below the hard limit 8000 Hz"),
        ({"sample_rate": 44100.5}, "sample rate 44100.5 must be a whole number"),
        ({"waveform": "square"}, "waveform 'square' is not one of: sine, soft-square"),
        ({"pan": "left"}, "pan 'left' is not one of: hard, sweep"),
    ],
    ids=repr,
)
def test_values_beyond_the_hard_bounds_are_refused_naming_the_bound(
    arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToneParameterError) as refused:
        ToneSettings(**arguments)

    assert str(refused.value) == message


TIGHT_ROOM = SafetyLimits(
    tone_hz_min=300,
    tone_hz_max=600,
    bls_speed_min_hz=0.5,
    bls_speed_max_hz=1.5,
    volume_cap=40,
    tone_edge_ms=15,
)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tone_hz": 250}, "tone 250 Hz is below the room's limit 300 Hz"),
        ({"tone_hz": 880}, "tone 880 Hz is above the room's limit 600 Hz"),
        ({"speed_hz": 1.8}, "speed 1.8 Hz is above the room's limit 1.5 Hz"),
        ({"speed_hz": 0.3}, "speed 0.3 Hz is below the room's limit 0.5 Hz"),
        ({"level": 0.45}, "volume 0.45 is above the room's cap 0.4"),
        ({"edge_ms": 10}, "edge 10 ms is below the room's limit 15 ms"),
    ],
    ids=repr,
)
def test_the_rooms_tighter_limits_refuse_what_the_hard_bounds_allow(
    arguments: dict[str, Any], message: str
) -> None:
    tones = ToneSettings(**{"tone_hz": 440, "level": 0.4, "edge_ms": 15, **arguments})

    with pytest.raises(ToneParameterError) as refused:
        tones.check_room_limits(TIGHT_ROOM)

    assert str(refused.value) == message


def test_tones_inside_the_rooms_limits_pass_its_check() -> None:
    ToneSettings(tone_hz=600, speed_hz=1.5, level=0.4, edge_ms=15).check_room_limits(TIGHT_ROOM)


def test_settings_are_frozen() -> None:
    tones = ToneSettings()

    with pytest.raises(AttributeError):
        tones.level = 1.0  # type: ignore[misc]
