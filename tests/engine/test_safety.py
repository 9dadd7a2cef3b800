"""The safety gate, rule by rule: boundaries, what is sent, and the reasons given."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from controller.config.settings import SafetyLimits, VitalsThresholds
from controller.engine.fades import FadeEngine
from controller.engine.safety import (
    FLASHING_EFFECTS,
    BlsRequest,
    Rule,
    SafetyGate,
    Status,
    VitalsAlert,
    vitals_alerts,
)


def gate(**limits: Any) -> SafetyGate:
    return SafetyGate(SafetyLimits(**limits))


def toggle(
    safety: SafetyGate, device: str, times: list[float], *, low: float = 0.0, high: float = 1.0
) -> list[Status]:
    """Alternate a light between `high` and `low`, one change at each time."""
    levels = [high if n % 2 == 0 else low for n in range(len(times))]
    return [
        safety.check_light(device, level, t).status for level, t in zip(levels, times, strict=True)
    ]


def lamp_at(level: float, *, device: str = "lamp") -> SafetyGate:
    """A gate that has seen the lamp settle at `level` long ago (t = 0)."""
    safety = gate()
    assert safety.check_light(device, level, 0.0).status is Status.OK
    return safety


# --------------------------------------------------------------------------- flash rate

OK, REFUSED, CLAMPED = Status.OK, Status.REFUSED, Status.CLAMPED


FIVE = [10.0, 10.1, 10.2, 10.3, 10.4]
"""Five changes within a second: as many as an ordinary change may make at 3 flashes/s."""


def test_a_light_may_change_five_times_in_a_second_the_sixth_is_the_emergencys() -> None:
    safety = lamp_at(0.0)
    assert toggle(safety, "lamp", FIVE) == [OK] * 5
    verdict = safety.check_light("lamp", 0.0, 10.5)
    assert verdict.status is REFUSED
    assert verdict.value is None
    assert verdict.rules == (Rule.FLASH_RATE,)
    assert verdict.reason == (
        "lamp: going to 0 % now would make it flash more than 3 times in 1 s "
        "(6 brightness changes of 10 % or more within a second); nothing was sent "
        "and it stays at 100 %"
    )


def test_the_emergency_lights_up_is_never_held_back_and_uses_the_reserved_transition() -> None:
    safety = lamp_at(0.0)
    toggle(safety, "lamp", [*FIVE, 10.5])
    lights_up = safety.check_light("lamp", 0.8, 10.55, lights_up=True)
    assert lights_up.status is OK and lights_up.value == 0.8
    # the lights-up counted: the window now holds six transitions, and nothing more passes
    assert safety.check_light("lamp", 0.0, 10.6).status is REFUSED


def test_the_window_is_one_second_long() -> None:
    safety = lamp_at(0.0)
    toggle(safety, "lamp", FIVE)
    assert safety.check_light("lamp", 0.0, 10.999).status is REFUSED
    assert safety.check_light("lamp", 0.0, 11.001).status is OK


def test_a_refused_change_leaves_the_model_as_it_was() -> None:
    safety = lamp_at(0.0)
    toggle(safety, "lamp", FIVE)
    assert safety.check_light("lamp", 0.0, 10.6).status is REFUSED
    assert safety.check_light("lamp", 0.95, 10.7).status is OK


def test_a_refusal_during_a_fade_says_the_fade_carries_on() -> None:
    safety = lamp_at(0.0)
    toggle(safety, "lamp", [10.0, 10.1, 10.2, 10.3])
    assert safety.check_light("lamp", 1.0, 10.5, transition_s=0.5).status is OK
    verdict = safety.check_light("lamp", 0.0, 10.6)
    assert verdict.status is REFUSED
    assert verdict.reason is not None
    assert verdict.reason.endswith("it carries on fading to 100 %")


def test_the_first_change_of_an_unseen_light_counts_as_a_transition() -> None:
    safety = gate()
    assert toggle(safety, "lamp", [0.0, 0.1, 0.2, 0.3, 0.4]) == [OK] * 5
    assert safety.check_light("lamp", 0.0, 0.5).status is REFUSED


def test_changes_under_ten_percent_are_not_flashes() -> None:
    safety = lamp_at(0.5)
    times = [10.0 + n / 20 for n in range(40)]
    assert toggle(safety, "lamp", times, low=0.5, high=0.59) == [OK] * 40


def test_a_change_of_exactly_ten_percent_counts() -> None:
    safety = lamp_at(0.5)
    statuses = toggle(safety, "lamp", [10.0 + n / 10 for n in range(6)], low=0.5, high=0.6)
    assert statuses == [OK] * 5 + [REFUSED]


def test_swings_whose_darker_state_is_above_80_percent_are_not_flashes() -> None:
    safety = lamp_at(0.81)
    times = [10.0 + n / 20 for n in range(40)]
    assert toggle(safety, "lamp", times, low=0.81, high=1.0) == [OK] * 40


def test_a_darker_state_of_exactly_80_percent_counts_as_dark_boundaries_resolve_safe() -> None:
    safety = lamp_at(0.8)
    statuses = toggle(safety, "lamp", [10.0 + n / 10 for n in range(6)], low=0.8, high=1.0)
    assert statuses == [OK] * 5 + [REFUSED]


def test_swings_whose_darker_state_is_below_80_percent_are_flashes() -> None:
    safety = lamp_at(0.79)
    statuses = toggle(safety, "lamp", [10.0 + n / 10 for n in range(6)], low=0.79, high=1.0)
    assert statuses == [OK] * 5 + [REFUSED]


def test_a_wiggle_inside_a_change_does_not_split_it() -> None:
    safety = lamp_at(0.0)
    levels = [0.3, 0.25, 0.5, 0.45, 0.7, 0.65, 0.9, 0.85, 1.0, 0.95, 1.0, 0.0]
    statuses = [safety.check_light("lamp", level, 10.0 + n / 20) for n, level in enumerate(levels)]
    assert [verdict.status for verdict in statuses] == [OK] * len(levels)


def test_fading_back_and_forth_in_0_35_s_fades_is_never_refused() -> None:
    safety = lamp_at(0.0)
    levels = [1.0 if n % 2 == 0 else 0.0 for n in range(20)]
    statuses = [
        safety.check_light("lamp", level, 10.0 + n * 0.35, transition_s=0.35).status
        for n, level in enumerate(levels)
    ]
    assert statuses == [OK] * 20


def test_fast_fades_back_and_forth_are_flashes() -> None:
    safety = lamp_at(0.0)
    levels = [1.0 if n % 2 == 0 else 0.0 for n in range(6)]
    statuses = [
        safety.check_light("lamp", level, 10.0 + n * 0.15, transition_s=0.15).status
        for n, level in enumerate(levels)
    ]
    assert statuses == [OK] * 5 + [REFUSED]


def test_a_fade_counts_from_the_moment_it_begins() -> None:
    safety = lamp_at(0.0)
    toggle(safety, "lamp", FIVE)
    verdict = safety.check_light("lamp", 0.0, 10.6, transition_s=2.0)
    assert verdict.status is REFUSED
    assert safety.check_light("lamp", 0.0, 11.1, transition_s=2.0).status is OK


def test_a_slow_fade_counts_once_in_the_windows_it_overlaps() -> None:
    safety = lamp_at(0.0)
    assert safety.check_light("lamp", 1.0, 10.0, transition_s=60.0).status is OK
    statuses = toggle(safety, "lamp", [69.5, 69.6, 69.7, 69.8, 69.9], low=1.0, high=0.0)
    assert statuses == [OK] * 4 + [REFUSED]


def test_a_fade_stepped_by_the_fade_engine_is_never_refused() -> None:
    safety = lamp_at(0.0)
    fades = FadeEngine()
    fades.set(("lamp", "level"), 0.0, now=10.0)
    fades.fade_to(("lamp", "level"), 1.0, 2.0, now=10.0)
    statuses = []
    for n in range(200):
        now = 10.0 + n / 20
        if n == 30:
            fades.fade_to(("lamp", "level"), 0.0, 1.0, now=now)
        statuses += [safety.check_light("lamp", v, now).status for _, v in fades.tick(now)]
    assert len(statuses) > 10
    assert set(statuses) == {OK}


def test_what_came_before_a_gate_started_counts_as_a_full_second_for_a_second() -> None:
    """docs/safety.md#flash-rate ("What one gate sees"): the engine before this one may have
    flashed any device up to the limit in its last second. A change that may wait waits
    until that second is over; a stop and the lights-up never wait."""
    safety = gate()
    safety.history_unknown(10.0)
    refused = safety.check_light("lamp", 1.0, 10.2)
    assert (refused.status, refused.rules) == (REFUSED, (Rule.FLASH_RATE,))
    assert "was changed unseen by this gate" in str(refused.reason)
    assert safety.check_light("bar", 0.0, 10.3, lights_up=True).status is OK
    assert safety.check_light("lamp", 1.0, 11.0).status is OK
    assert toggle(safety, "strip", [11.0, 11.1, 11.2, 11.3, 11.4]) == [OK] * 5


def test_a_gate_that_lost_sight_of_a_light_it_knew_holds_its_changes_for_a_second() -> None:
    safety = lamp_at(0.0)
    safety.history_unknown(5.0)
    assert safety.check_light("lamp", 1.0, 5.9).status is REFUSED
    assert safety.check_light("lamp", 1.0, 6.0).status is OK


def test_a_light_bar_set_started_again_at_the_same_brightness_is_counted() -> None:
    """A set that replaces a running one darkens the bar at once and lights it again: it
    turns two corners though the bar ends where it was going (the first set, one)."""
    safety = gate()
    statuses = [
        safety.check_light("bar", 1.0, t, from_dark=True).status for t in (0.0, 0.1, 0.2, 0.3)
    ]
    assert statuses == [OK, OK, OK, REFUSED]


def test_each_light_has_its_own_flash_count() -> None:
    safety = lamp_at(0.0)
    assert safety.check_light("strip", 0.0, 0.0).status is OK
    toggle(safety, "lamp", FIVE)
    assert toggle(safety, "strip", FIVE) == [OK] * 5


@pytest.mark.parametrize(
    ("max_flashes_per_s", "allowed_changes"), [(1, 1), (2, 3), (2.5, 4), (0.4, 1)]
)
def test_a_room_may_allow_fewer_flashes(max_flashes_per_s: float, allowed_changes: int) -> None:
    safety = gate(max_flashes_per_s=max_flashes_per_s)
    safety.check_light("lamp", 0.0, 0.0)
    times = [10.0 + n / 10 for n in range(allowed_changes + 1)]
    assert toggle(safety, "lamp", times) == [OK] * allowed_changes + [REFUSED]


@pytest.mark.parametrize(("level", "sent"), [(1.2, 1.0), (-0.1, 0.0)])
def test_a_level_outside_0_to_100_percent_is_clamped(level: float, sent: float) -> None:
    verdict = gate().check_light("lamp", level, 0.0)
    assert (verdict.status, verdict.value, verdict.rules) == (CLAMPED, sent, (Rule.OUT_OF_RANGE,))
    assert verdict.reason is not None
    assert "is outside 0–100 %" in verdict.reason


def test_a_level_that_is_not_a_number_is_refused() -> None:
    verdict = gate().check_light("lamp", math.nan, 0.0)
    assert (verdict.status, verdict.rules) == (REFUSED, (Rule.INVALID,))
    assert verdict.reason == "lamp: level nan is not a number"


@pytest.mark.parametrize("transition_s", [-1.0, math.nan, math.inf])
def test_a_transition_that_is_not_a_time_is_refused(transition_s: float) -> None:
    verdict = gate().check_light("lamp", 0.5, 0.0, transition_s=transition_s)
    assert (verdict.status, verdict.rules) == (REFUSED, (Rule.INVALID,))


def test_light_changes_must_come_in_time_order() -> None:
    safety = lamp_at(0.5)
    with pytest.raises(ValueError, match="change at -1 s comes before the last one at 0 s"):
        safety.check_light("lamp", 0.2, -1.0)
    with pytest.raises(ValueError, match="time nan is not a number"):
        safety.check_light("lamp", 0.2, math.nan)


# --------------------------------------------------------------------------- effects


@pytest.mark.parametrize("effect", [*sorted(FLASHING_EFFECTS), "Blink", " STROBE "])
def test_flashing_effects_are_refused(effect: str) -> None:
    verdict = gate().check_effect("ceiling", effect)
    assert (verdict.status, verdict.value, verdict.rules) == (
        REFUSED,
        None,
        (Rule.FLASHING_EFFECT,),
    )
    assert (
        verdict.reason
        == f"ceiling: effect {effect!r} makes the light flash; flashing is never sent"
    )


def test_an_unknown_effect_is_refused_because_it_may_flash() -> None:
    verdict = gate().check_effect("strip", "fireworks")
    assert verdict.status is REFUSED
    assert verdict.reason is not None
    assert "'fireworks' is not known to be steady, so it may flash" in verdict.reason


@pytest.mark.parametrize("effect", ["stop_effect", "finish_effect", "solid", "0"])
def test_effects_that_stop_effects_or_hold_a_colour_pass(effect: str) -> None:
    verdict = gate().check_effect("strip", effect)
    assert (verdict.status, verdict.value, verdict.reason) == (OK, effect, None)


# --------------------------------------------------------------------------- volume


def test_an_unseen_device_is_assumed_silent_so_sound_ramps_in() -> None:
    verdict = gate().check_volume("music", 0.4, 0.0)
    assert (verdict.status, verdict.value, verdict.rules) == (CLAMPED, 0.05, (Rule.VOLUME_RAMP,))
    assert verdict.reason == (
        "music: rising from 0 % to 40 % is faster than the room's ramp of 10 % per second; "
        "sent 5 % (fade over 3.5 s for the rest)"
    )


def test_a_fade_as_long_as_the_ramp_asks_passes_untouched() -> None:
    safety = gate()
    first = safety.check_volume("music", 0.4, 0.0)
    assert first.value is not None
    fades = FadeEngine()
    fades.set(("music", "volume"), first.value, now=0.0)
    fades.tick(0.0)
    fades.fade_to(("music", "volume"), 0.4, safety.shortest_volume_fade_s(first.value, 0.4), 0.0)
    sent = []
    for n in range(1, 100):
        for _, level in fades.tick(n / 20):
            verdict = safety.check_volume("music", level, n / 20)
            assert verdict.status is OK
            sent.append(verdict.value)
    assert sent[-1] == 0.4


def test_a_step_up_may_be_half_a_second_of_ramp() -> None:
    safety = gate()
    assert safety.check_volume("music", 0.05, 0.0).status is OK
    assert safety.check_volume("music", 0.10, 0.5).status is OK
    verdict = safety.check_volume("music", 0.15, 0.9)
    assert verdict.status is CLAMPED
    assert verdict.value == pytest.approx(0.14)


def test_waiting_does_not_earn_a_jump() -> None:
    safety = gate()
    safety.check_volume("music", 0.05, 0.0)
    verdict = safety.check_volume("music", 0.7, 3600.0)
    assert verdict.value == pytest.approx(0.10)


def test_decreases_are_immediate_and_the_way_back_up_is_ramped() -> None:
    safety = gate(volume_ramp_per_s=100)  # a step up may be 50 %
    assert safety.check_volume("music", 0.5, 0.0).status is OK
    assert safety.check_volume("music", 0.7, 1.0).status is OK
    down = safety.check_volume("music", 0.1, 1.0)
    assert (down.status, down.value) == (OK, 0.1)
    up = safety.check_volume("music", 0.7, 1.0)
    assert (up.status, up.value) == (CLAMPED, 0.6)


def test_a_request_above_the_cap_is_clamped_to_the_cap() -> None:
    safety = gate(volume_ramp_per_s=100)
    safety.check_volume("music", 0.5, 0.0)
    verdict = safety.check_volume("music", 0.9, 10.0)
    assert (verdict.status, verdict.value, verdict.rules) == (CLAMPED, 0.7, (Rule.VOLUME_CAP,))
    assert verdict.reason == "music: volume 90 % is above the room's cap of 70 %"
    assert safety.check_volume("music", 0.7, 11.0).status is OK


def test_too_loud_and_too_fast_gives_both_reasons() -> None:
    verdict = gate().check_volume("music", 0.9, 0.0)
    assert verdict.value == 0.05
    assert verdict.rules == (Rule.VOLUME_CAP, Rule.VOLUME_RAMP)
    assert verdict.reason is not None
    assert "above the room's cap of 70 %; music: rising from 0 % to 70 %" in verdict.reason


def test_a_cap_of_zero_keeps_a_device_silent() -> None:
    verdict = gate(volume_cap=0).check_volume("tones", 0.3, 0.0)
    assert (verdict.status, verdict.value) == (CLAMPED, 0.0)


def test_a_negative_volume_is_clamped_to_silence() -> None:
    verdict = gate().check_volume("music", -0.2, 0.0)
    assert (verdict.status, verdict.value, verdict.rules) == (CLAMPED, 0.0, (Rule.OUT_OF_RANGE,))


def test_a_volume_that_is_not_a_number_is_refused() -> None:
    verdict = gate().check_volume("music", math.inf, 0.0)
    assert (verdict.status, verdict.rules) == (REFUSED, (Rule.INVALID,))


def test_each_device_ramps_on_its_own() -> None:
    safety = gate()
    safety.check_volume("music", 0.05, 0.0)
    assert safety.check_volume("tones", 0.05, 0.0).status is OK


def test_volume_changes_must_come_in_time_order() -> None:
    safety = gate()
    safety.check_volume("music", 0.05, 5.0)
    with pytest.raises(ValueError, match="before the last one"):
        safety.check_volume("music", 0.05, 4.0)


def test_shortest_volume_fade() -> None:
    safety = gate(volume_ramp_per_s=20)
    assert safety.shortest_volume_fade_s(0.1, 0.5) == pytest.approx(2.0)
    assert safety.shortest_volume_fade_s(0.5, 0.1) == 0.0


# --------------------------------------------------------------------------- BLS


def bls(**fields: Any) -> BlsRequest:
    request: dict[str, Any] = {"mode": "tactile", "speed_hz": 1.0, "passes": 24}
    request.update(fields)
    return BlsRequest(**request)


def test_a_set_inside_every_limit_passes_unchanged() -> None:
    request = bls(intensity=0.8, tone_hz=440.0)
    verdict = gate().check_bls("tappers", request)
    assert (verdict.status, verdict.value, verdict.reason) == (OK, request, None)


@pytest.mark.parametrize(("asked", "sent"), [(3.0, 2.0), (0.1, 0.5), (2.0, 2.0), (0.5, 0.5)])
def test_speed_is_clamped_into_the_rooms_range(asked: float, sent: float) -> None:
    verdict = gate().check_bls("tappers", bls(speed_hz=asked, passes=10))
    assert verdict.value is not None
    assert verdict.value.speed_hz == sent
    if asked != sent:
        assert verdict.rules == (Rule.BLS_SPEED,)
        assert verdict.reason == (
            f"tappers: speed {asked:g} Hz is outside 0.5–2 Hz; sent {sent:g} Hz"
        )


def test_a_light_bar_is_held_to_the_rooms_flash_rate() -> None:
    verdict = gate(max_flashes_per_s=1).check_bls("lightbar", bls(mode="visual", speed_hz=2.0))
    assert verdict.value is not None
    assert (verdict.status, verdict.value.speed_hz) == (CLAMPED, 1.0)
    tappers = gate(max_flashes_per_s=1).check_bls("tappers", bls(speed_hz=2.0))
    assert tappers.status is OK


def test_a_light_bar_that_would_flash_too_fast_even_at_its_slowest_is_refused() -> None:
    safety = gate(max_flashes_per_s=0.4)
    verdict = safety.check_bls("lightbar", bls(mode="visual", speed_hz=1.0))
    assert (verdict.status, verdict.rules) == (REFUSED, (Rule.BLS_SPEED,))
    assert verdict.reason == (
        "lightbar: even at the slowest speed of 0.5 Hz the light bar would flash more than "
        "0.4 times per second"
    )


@pytest.mark.parametrize(
    "length",
    [{"passes": 24}, {"seconds": 24.0}, {"passes": 1}],
)
def test_sets_up_to_the_soft_limit_need_no_confirmation(length: dict[str, Any]) -> None:
    request = BlsRequest(mode="tactile", speed_hz=1.0, **length)
    assert gate().check_bls("tappers", request).status is OK


@pytest.mark.parametrize(
    ("length", "words"),
    [
        ({"passes": 25, "speed_hz": 1.0}, "25 passes (25 s)"),
        ({"seconds": 61.0, "speed_hz": 0.2}, "61 s (12.2 passes)"),
        ({"seconds": 30.0, "speed_hz": 1.0}, "30 s (30 passes)"),
        ({"passes": 24, "speed_hz": 0.2}, "24 passes (120 s)"),
    ],
)
def test_a_set_beyond_the_soft_limit_needs_confirmation(length: dict[str, Any], words: str) -> None:
    safety = gate(bls_speed_min_hz=0.2)
    verdict = safety.check_bls("tappers", BlsRequest(mode="tactile", **length))
    assert (verdict.status, verdict.rules) == (REFUSED, (Rule.BLS_SET_LENGTH,))
    assert verdict.reason == (
        f"tappers: a set of {words} is longer than the room's 24 passes / 60 s; "
        "it needs an explicit confirmation"
    )
    confirmed = BlsRequest(mode="tactile", confirmed=True, **length)
    assert safety.check_bls("tappers", confirmed).status is OK


@pytest.mark.parametrize(
    ("length", "words"),
    [
        ({"seconds": 120.5}, "120.5 s (60.2 passes)"),
        ({"passes": 25, "speed_hz": 0.2}, "25 passes (125 s)"),
    ],
)
def test_a_set_beyond_120_seconds_is_refused_even_when_confirmed(
    length: dict[str, Any], words: str
) -> None:
    request = BlsRequest(**{"mode": "tactile", "speed_hz": 0.5, "confirmed": True, **length})
    verdict = gate(bls_speed_min_hz=0.2).check_bls("tappers", request)
    assert (verdict.status, verdict.rules) == (REFUSED, (Rule.BLS_SET_LENGTH,))
    assert verdict.reason == (
        f"tappers: a set of {words} is longer than 120 s, which no confirmation can lift"
    )


def test_a_set_of_exactly_120_seconds_may_be_confirmed() -> None:
    request = BlsRequest(mode="audio", speed_hz=2.0, seconds=120.0, confirmed=True)
    assert gate().check_bls("tones", request).status is OK


def test_set_length_is_judged_at_the_speed_actually_sent() -> None:
    verdict = gate().check_bls("tappers", bls(speed_hz=0.1, passes=24))
    assert verdict.value is not None
    assert verdict.value.speed_hz == 0.5
    assert verdict.status is CLAMPED


@pytest.mark.parametrize(
    ("mode", "asked", "sent"),
    [("tactile", 0.9, 0.8), ("tactile", 0.8, 0.8), ("tactile", -0.1, 0.0), ("visual", 0.9, 0.9)],
)
def test_tactile_intensity_is_clamped_to_the_rooms_maximum(
    mode: str, asked: float, sent: float
) -> None:
    verdict = gate().check_bls("tappers", bls(mode=mode, intensity=asked))
    assert verdict.value is not None
    assert verdict.value.intensity == sent
    assert verdict.status is (OK if asked == sent else CLAMPED)


def test_a_room_may_lower_the_tactile_maximum() -> None:
    verdict = gate(tactile_intensity_max=50).check_bls("tappers", bls(intensity=0.6))
    assert verdict.value is not None
    assert verdict.value.intensity == 0.5
    assert verdict.reason == "tappers: tactile intensity 60 % is outside 0–50 %; sent 50 %"


@pytest.mark.parametrize(("asked", "sent"), [(150.0, 200.0), (1500.0, 1000.0), (440.0, 440.0)])
def test_tone_frequency_is_clamped_into_the_rooms_range(asked: float, sent: float) -> None:
    verdict = gate().check_bls("tones", bls(mode="audio", tone_hz=asked))
    assert verdict.value is not None
    assert verdict.value.tone_hz == sent
    if asked != sent:
        assert verdict.rules == (Rule.TONE_FREQUENCY,)


def test_several_clamps_are_reported_together() -> None:
    verdict = gate().check_bls("tones", bls(mode="audio", speed_hz=5.0, tone_hz=100.0))
    assert verdict.rules == (Rule.BLS_SPEED, Rule.TONE_FREQUENCY)
    assert verdict.reason == (
        "tones: speed 5 Hz is outside 0.5–2 Hz; sent 2 Hz; "
        "tones: tone 100 Hz is outside 200–1000 Hz; sent 200 Hz"
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"passes": 10, "seconds": 10.0},
            "give a BLS set's length in passes or in seconds, not both",
        ),
        ({"passes": None}, "a BLS set needs a length: passes or seconds"),
        ({"passes": 0}, "a BLS set of 0 passes is not a set"),
        ({"passes": None, "seconds": math.nan}, "a BLS set of nan s is not a set"),
        ({"speed_hz": 0.0}, "BLS speed 0.0 is not a speed above 0 Hz"),
        ({"speed_hz": math.nan}, "BLS speed nan is not a speed above 0 Hz"),
        ({"intensity": math.inf}, "BLS intensity inf is not a number"),
        ({"tone_hz": -440.0}, "tone -440.0 Hz is not a frequency"),
    ],
)
def test_a_request_that_cannot_be_judged_is_refused(fields: dict[str, Any], reason: str) -> None:
    verdict = gate().check_bls("tappers", bls(**fields))
    assert (verdict.status, verdict.value, verdict.rules) == (REFUSED, None, (Rule.INVALID,))
    assert verdict.reason == f"tappers: {reason}"


# --------------------------------------------------------------------------- verdicts


def test_a_verdict_journals_as_plain_json() -> None:
    verdict = gate().check_bls("tappers", bls(intensity=0.9))
    payload = json.loads(json.dumps(verdict.payload()))
    assert payload["status"] == "clamped"
    assert payload["rules"] == ["bls-intensity"]
    assert payload["requested"]["intensity"] == 0.9
    assert payload["value"]["intensity"] == 0.8
    assert payload["reason"] == "tappers: tactile intensity 90 % is outside 0–80 %; sent 80 %"
    refused = gate().check_effect("strip", "blink").payload()
    assert (refused["status"], refused["value"], refused["requested"]) == ("refused", None, "blink")


def test_only_refused_verdicts_are_not_allowed() -> None:
    safety = gate()
    assert safety.check_volume("music", 0.01, 0.0).allowed
    assert safety.check_volume("music", 0.9, 0.1).allowed
    assert not safety.check_effect("strip", "blink").allowed


# --------------------------------------------------------------------------- vitals

THRESHOLDS = VitalsThresholds()


def messages(reading: dict[str, object], thresholds: VitalsThresholds = THRESHOLDS) -> list[str]:
    return [alert.message for alert in vitals_alerts(reading, thresholds)]


def test_readings_inside_the_thresholds_raise_nothing() -> None:
    reading = {"hr": 120, "spo2": 92, "sys": 159, "dia": 99, "ts": 1700000000}
    assert vitals_alerts(reading, THRESHOLDS) == []
    assert vitals_alerts({"hr": 45}, THRESHOLDS) == []
    assert vitals_alerts({}, THRESHOLDS) == []


@pytest.mark.parametrize(
    ("reading", "alert"),
    [
        (
            {"hr": 121},
            VitalsAlert("hr", "Heart rate 121 bpm is above the alert threshold of 120 bpm."),
        ),
        (
            {"hr": 44.5},
            VitalsAlert("hr", "Heart rate 44.5 bpm is below the alert threshold of 45 bpm."),
        ),
        ({"spo2": 91}, VitalsAlert("spo2", "SpO2 91 % is below the alert threshold of 92 %.")),
        (
            {"sys": 160, "dia": 95},
            VitalsAlert(
                "bp",
                "Blood pressure 160/95 mmHg is at or above the alert threshold of 160/100 mmHg.",
            ),
        ),
        (
            {"sys": 150, "dia": 100},
            VitalsAlert(
                "bp",
                "Blood pressure 150/100 mmHg is at or above the alert threshold of 160/100 mmHg.",
            ),
        ),
        (
            {"sys": 170},
            VitalsAlert(
                "bp", "Systolic pressure 170 mmHg is at or above the alert threshold of 160 mmHg."
            ),
        ),
        (
            {"dia": 104},
            VitalsAlert(
                "bp", "Diastolic pressure 104 mmHg is at or above the alert threshold of 100 mmHg."
            ),
        ),
    ],
)
def test_a_reading_beyond_a_threshold_raises_an_alert(
    reading: dict[str, object], alert: VitalsAlert
) -> None:
    assert vitals_alerts(reading, THRESHOLDS) == [alert]


def test_every_crossed_threshold_is_reported() -> None:
    assert [
        alert.measure
        for alert in vitals_alerts({"hr": 130, "spo2": 85, "sys": 180, "dia": 110}, THRESHOLDS)
    ] == [
        "hr",
        "spo2",
        "bp",
    ]


def test_the_rooms_thresholds_are_used() -> None:
    strict = VitalsThresholds(hr_high=100, spo2_low=95, sys_high=140, dia_high=90)
    assert len(vitals_alerts({"hr": 101, "spo2": 94, "sys": 140}, strict)) == 3
    assert messages({"hr": 101}, strict) == [
        "Heart rate 101 bpm is above the alert threshold of 100 bpm."
    ]


@pytest.mark.parametrize("value", ["abc", math.nan, True, [80]])
def test_a_value_that_is_not_a_number_is_reported_not_ignored(value: object) -> None:
    assert messages({"hr": value}) == [
        f"Heart rate reading {value!r} is not a number; check the sensor."
    ]
    assert vitals_alerts({"dia": value}, THRESHOLDS)[0].measure == "bp"
