"""The fade engine, stepped tick by tick with exact values (as QLC+'s fade channel tests do)."""

from __future__ import annotations

import math

import pytest

from controller.engine.fades import ChannelKey, FadeEngine

LAMP: ChannelKey = ("floor-lamp", "level")
LAMP_KELVIN: ChannelKey = ("floor-lamp", "kelvin")
STRIP: ChannelKey = ("strip", "level")
TICK_20_HZ = 1 / 20


def at_20_hz(index: int) -> float:
    """Tick `index` of a 20 Hz tick, computed (not accumulated) so every 5th tick is exact."""
    return index / 20


def run_ticks(engine: FadeEngine, indices: range) -> list[tuple[int, ChannelKey, float]]:
    return [(i, key, value) for i in indices for key, value in engine.tick(at_20_hz(i))]


def test_a_fade_from_0_to_250_over_5_ticks_steps_50_at_a_time() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0, now=0.0)
    assert engine.tick(0.0) == [(LAMP, 0.0)]
    engine.fade_to(LAMP, 250, 1.25, now=0.0)
    ticks = [engine.tick(t) for t in (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)]
    assert ticks == [
        [(LAMP, 50.0)],
        [(LAMP, 100.0)],
        [(LAMP, 150.0)],
        [(LAMP, 200.0)],
        [(LAMP, 250.0)],
        [],
    ]


def test_a_fade_over_two_ticks_passes_the_midpoint() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0, now=0.0)
    engine.fade_to(LAMP, 250, 0.5, now=0.0)
    assert [engine.tick(t) for t in (0.0, 0.25, 0.5)] == [
        [(LAMP, 0.0)],
        [(LAMP, 125.0)],
        [(LAMP, 250.0)],
    ]


@pytest.mark.parametrize("duration_s", [0.0, 0.05])
def test_a_fade_no_longer_than_a_tick_arrives_at_the_next_tick(duration_s: float) -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0, now=0.0)
    engine.tick(0.0)
    engine.fade_to(LAMP, 250, duration_s, now=0.0)
    assert engine.tick(0.25) == [(LAMP, 250.0)]


def test_a_zero_duration_fade_is_immediate() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0.2, now=3.0)
    engine.fade_to(LAMP, 0.9, 0.0, now=3.0)
    assert engine.value(LAMP, 3.0) == 0.9
    assert not engine.is_fading(LAMP, 3.0)
    assert engine.tick(3.0) == [(LAMP, 0.9)]


def test_a_tick_far_after_the_end_yields_exactly_the_target_once() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0, now=0.0)
    engine.tick(0.0)
    engine.fade_to(LAMP, 255, 1.25, now=0.0)
    assert engine.tick(1e12) == [(LAMP, 255.0)]
    assert engine.tick(1e12 + 1) == []
    assert engine.value(LAMP, 1e15) == 255.0


def test_a_new_fade_takes_over_from_the_current_value_without_a_jump() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0, now=0.0)
    engine.fade_to(LAMP, 100, 1.0, now=0.0)
    assert [engine.tick(t) for t in (0.0, 0.25, 0.5)] == [
        [(LAMP, 0.0)],
        [(LAMP, 25.0)],
        [(LAMP, 50.0)],
    ]
    engine.fade_to(LAMP, 0, 1.0, now=0.5)
    assert engine.value(LAMP, 0.5) == 50.0
    ticks = [engine.tick(t) for t in (0.75, 1.0, 1.25, 1.5, 1.75)]
    assert ticks == [[(LAMP, 37.5)], [(LAMP, 25.0)], [(LAMP, 12.5)], [(LAMP, 0.0)], []]


def test_a_takeover_between_ticks_starts_from_the_interpolated_value() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0, now=0.0)
    engine.fade_to(LAMP, 100, 1.0, now=0.0)
    engine.tick(0.0)
    engine.fade_to(LAMP, 100, 0.375, now=0.625)
    assert engine.value(LAMP, 0.625) == 62.5
    assert engine.tick(0.625) == [(LAMP, 62.5)]
    assert engine.tick(1.0) == [(LAMP, 100.0)]


def test_set_jumps_and_cancels_a_running_fade() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0, now=0.0)
    engine.fade_to(LAMP, 100, 1.0, now=0.0)
    engine.tick(0.0)
    engine.set(LAMP, 80, now=0.5)
    assert not engine.is_fading(LAMP, 0.5)
    assert engine.tick(0.5) == [(LAMP, 80.0)]
    assert engine.tick(1.0) == []
    assert engine.value(LAMP, 2.0) == 80.0


def test_an_unchanged_value_is_never_sent_twice() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0.3, now=0.0)
    assert engine.tick(0.0) == [(LAMP, 0.3)]
    engine.set(LAMP, 0.3, now=1.0)
    engine.fade_to(LAMP, 0.3, 2.0, now=1.0)
    assert [engine.tick(t) for t in (1.0, 2.0, 3.0, 4.0)] == [[], [], [], []]


def test_a_channel_never_set_has_no_value_and_its_first_fade_jumps() -> None:
    engine = FadeEngine()
    assert engine.value(LAMP, 0.0) is None
    assert not engine.is_fading(LAMP, 0.0)
    engine.fade_to(LAMP, 0.4, 5.0, now=0.0)
    assert engine.value(LAMP, 0.0) == 0.4
    assert engine.tick(0.0) == [(LAMP, 0.4)]


def test_is_fading_until_the_fade_ends() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0.0, now=0.0)
    engine.fade_to(LAMP, 1.0, 2.0, now=0.0)
    assert engine.is_fading(LAMP, 1.99)
    assert not engine.is_fading(LAMP, 2.0)


def test_ticks_at_20_hz_send_at_most_4_updates_per_second_and_end_exactly() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0.0, now=0.0)
    engine.fade_to(LAMP, 1.0, 2.1, now=0.0)
    sent = run_ticks(engine, range(0, 80))
    indices = [i for i, _, _ in sent]
    assert indices == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
    assert all(sum(1 for i in indices if start <= i < start + 20) <= 4 for start in range(80))
    assert [value for i, _, value in sent[:-1]] == [(0.25 * k) / 2.1 for k in range(9)]
    assert sent[-1] == (45, LAMP, 1.0)


def test_the_attributes_of_one_device_share_its_budget() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0.0, now=0.0)
    engine.fade_to(LAMP, 1.0, 2.0, now=0.0)
    engine.set(LAMP_KELVIN, 2700, now=0.0)
    assert engine.tick(0.0) == [(LAMP, 0.0), (LAMP_KELVIN, 2700.0)]
    engine.fade_to(LAMP_KELVIN, 3700, 1.0, now=at_20_hz(2))
    sent = run_ticks(engine, range(1, 60))
    assert sorted({i for i, _, _ in sent}) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert (5, LAMP_KELVIN, 2700 + 1000 * 0.15) in [(i, k, round(v, 9)) for i, k, v in sent]
    assert [(key, value) for i, key, value in sent if i == 40] == [(LAMP, 1.0)]
    assert [value for _, key, value in sent if key == LAMP_KELVIN][-1] == 3700.0


def test_two_devices_have_budgets_of_their_own() -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0.0, now=0.0)
    engine.fade_to(LAMP, 1.0, 1.0, now=0.0)
    sent = run_ticks(engine, range(0, 2))
    engine.set(STRIP, 0.0, now=at_20_hz(2))
    engine.fade_to(STRIP, 1.0, 1.0, now=at_20_hz(2))
    sent += run_ticks(engine, range(2, 40))
    lamp = [i for i, key, _ in sent if key == LAMP]
    strip = [i for i, key, _ in sent if key == STRIP]
    assert lamp == [0, 5, 10, 15, 20]
    assert strip == [2, 7, 12, 17, 22]
    assert [v for i, key, v in sent if key == STRIP][-1] == 1.0


def test_a_slower_rate_spaces_updates_further() -> None:
    engine = FadeEngine(max_rate_hz=2)
    engine.set(LAMP, 0.0, now=0.0)
    engine.fade_to(LAMP, 1.0, 1.0, now=0.0)
    assert [i for i, _, _ in run_ticks(engine, range(0, 40))] == [0, 10, 20]


@pytest.mark.parametrize("duration_s", [-0.5, math.nan, math.inf])
def test_a_fade_duration_that_is_negative_or_not_a_number_is_refused(duration_s: float) -> None:
    engine = FadeEngine()
    engine.set(LAMP, 0.5, now=0.0)
    with pytest.raises(ValueError, match="fade duration for floor-lamp/level must be a finite"):
        engine.fade_to(LAMP, 1.0, duration_s, now=0.0)
    assert engine.value(LAMP, 10.0) == 0.5


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_value_that_is_not_a_number_is_refused(value: float) -> None:
    engine = FadeEngine()
    with pytest.raises(ValueError, match="must be a finite number"):
        engine.set(LAMP, value, now=0.0)
    with pytest.raises(ValueError, match="must be a finite number"):
        engine.fade_to(LAMP, value, 1.0, now=0.0)
    assert engine.value(LAMP, 0.0) is None


@pytest.mark.parametrize("rate", [0.0, -4.0, math.nan, math.inf])
def test_the_rate_must_be_a_positive_number(rate: float) -> None:
    with pytest.raises(ValueError, match="max_rate_hz must be a finite number above 0"):
        FadeEngine(max_rate_hz=rate)
