"""Volume ramps, crossfade weights and the mix law, stepped tick by tick on an injected clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.config.settings import SafetyLimits
from controller.media.music import MasterVolume, Ramp, VolumeLimits, crossfade, deck_level
from controller.media.vlc_output import vlc_volume

GENTLE = VolumeLimits(cap=1.0, ramp_per_s=0.1)


def test_a_ramp_from_silence_to_half_over_five_ticks_gives_tenths() -> None:
    master = MasterVolume(GENTLE)
    master.ramp_to(0.5, now=0.0)
    assert [master.value_at(t) for t in (1.0, 2.0, 3.0, 4.0, 5.0)] == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_a_rise_asked_faster_than_the_ramp_cap_is_slowed_to_the_cap() -> None:
    master = MasterVolume(GENTLE)
    master.ramp_to(0.5, now=0.0, over_s=1.0)
    assert [master.value_at(t) for t in (1.0, 2.5, 5.0)] == [0.1, 0.25, 0.5]


def test_a_rise_asked_slower_than_the_ramp_cap_takes_the_time_asked() -> None:
    master = MasterVolume(GENTLE)
    master.ramp_to(0.2, now=0.0, over_s=4.0)
    assert [master.value_at(t) for t in (1.0, 2.0, 4.0)] == [0.05, 0.1, 0.2]


def test_without_a_time_a_change_moves_at_the_ramp_cap_down_as_well() -> None:
    master = MasterVolume(GENTLE)
    master.ramp_to(0.5, now=0.0)
    master.ramp_to(0.25, now=5.0)
    assert [master.value_at(t) for t in (6.25, 7.5)] == [0.375, 0.25]


def test_a_fall_takes_exactly_the_time_asked() -> None:
    master = MasterVolume(VolumeLimits(cap=1.0, ramp_per_s=1.0))
    master.ramp_to(0.6, now=0.0)
    master.ramp_to(0.0, now=1.0, over_s=3.0)
    assert [master.value_at(t) for t in (2.0, 3.0, 4.0)] == [0.4, 0.2, 0.0]


def test_a_zero_length_fall_is_immediate() -> None:
    master = MasterVolume(VolumeLimits(cap=1.0, ramp_per_s=1.0))
    master.ramp_to(0.6, now=0.0)
    master.ramp_to(0.1, now=1.0, over_s=0.0)
    assert master.value_at(1.0) == 0.1


def test_a_ramp_changed_midway_starts_from_where_it_is() -> None:
    master = MasterVolume(GENTLE)
    master.ramp_to(0.5, now=0.0)
    master.ramp_to(0.0, now=2.0, over_s=2.0)
    assert [master.value_at(t) for t in (2.0, 3.0, 4.0)] == [0.2, 0.1, 0.0]


def test_a_huge_elapsed_time_ends_exactly_at_the_target() -> None:
    master = MasterVolume(GENTLE)
    master.ramp_to(0.5, now=0.0)
    assert master.value_at(1e12) == 0.5


def test_before_its_start_a_ramp_gives_its_start_value() -> None:
    assert Ramp(0.2, 0.8, start_time=10.0, duration=2.0).value_at(3.0) == 0.2


def test_the_cap_holds_a_target_above_it() -> None:
    master = MasterVolume(VolumeLimits(cap=0.7, ramp_per_s=1.0))
    master.ramp_to(0.95, now=0.0)
    assert master.target == 0.7
    assert master.value_at(100.0) == 0.7


def test_silence_drops_to_zero_and_the_next_rise_obeys_the_ramp_cap() -> None:
    master = MasterVolume(GENTLE)
    master.ramp_to(0.5, now=0.0)
    master.silence(now=10.0)
    master.ramp_to(0.5, now=10.0)
    assert [master.value_at(t) for t in (10.0, 11.0, 15.0)] == [0.0, 0.1, 0.5]


def test_a_rise_stalled_longer_than_half_a_second_takes_up_from_where_it_stood() -> None:
    master = MasterVolume(GENTLE)
    master.ramp_to(0.5, now=0.0)
    master.stalled(since=1.0, now=4.0)  # nothing was applied for 3 s
    assert [master.value_at(t) for t in (4.0, 5.0, 7.5)] == pytest.approx([0.15, 0.25, 0.5])


def test_a_gap_of_half_a_second_a_fall_and_a_ramp_begun_since_are_not_stalls() -> None:
    master = MasterVolume(GENTLE)
    master.ramp_to(0.5, now=0.0)
    master.stalled(since=1.0, now=1.5)
    assert master.value_at(1.5) == pytest.approx(0.15)
    master.ramp_to(0.0, now=2.0, over_s=1.0)
    master.stalled(since=2.0, now=2.9)
    assert master.value_at(2.5) == pytest.approx(0.1)
    master.ramp_to(0.5, now=10.0)
    master.stalled(since=3.0, now=10.25)
    assert master.value_at(11.0) == pytest.approx(0.1)


@settings(max_examples=60, deadline=None)
@given(
    cap=st.floats(0.0, 1.0),
    ramp_per_s=st.floats(0.01, 1.0),
    commands=st.lists(
        st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 10.0), st.none() | st.floats(0.0, 20.0)),
        min_size=1,
        max_size=6,
    ),
)
def test_the_master_never_exceeds_the_cap_nor_rises_faster_than_the_ramp_cap(
    cap: float, ramp_per_s: float, commands: list[tuple[float, float, float | None]]
) -> None:
    master = MasterVolume(VolumeLimits(cap=cap, ramp_per_s=ramp_per_s))
    now = 0.0
    for level, wait, over_s in commands:
        master.ramp_to(level, now, over_s)
        step = 0.25
        for tick in range(int(wait / step) + 1):
            before = master.value_at(now + tick * step)
            after = master.value_at(now + (tick + 1) * step)
            assert after <= cap
            assert after - before <= ramp_per_s * step + 1e-9
        now += wait


def test_crossfade_weights_step_exactly_and_hand_over_completely() -> None:
    outgoing, incoming = crossfade(1.0, now=0.0, seconds=4.0)
    ticks = (1.0, 2.0, 3.0, 4.0)
    assert [outgoing.value_at(t) for t in ticks] == [0.75, 0.5, 0.25, 0.0]
    assert [incoming.value_at(t) for t in ticks] == [0.25, 0.5, 0.75, 1.0]


def test_a_zero_length_crossfade_is_a_cut() -> None:
    outgoing, incoming = crossfade(1.0, now=5.0, seconds=0.0)
    assert (outgoing.value_at(5.0), incoming.value_at(5.0)) == (0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 30.0), st.floats(-5.0, 60.0))
def test_crossfade_weights_never_sum_above_one(
    outgoing_weight: float, seconds: float, elapsed: float
) -> None:
    outgoing, incoming = crossfade(outgoing_weight, now=0.0, seconds=seconds)
    assert outgoing.value_at(elapsed) + incoming.value_at(elapsed) <= 1.0 + 1e-12


@settings(max_examples=60, deadline=None)
@given(
    master=st.floats(0.0, 1.0),
    outgoing_weight=st.floats(0.0, 1.0),
    progress=st.floats(0.0, 1.0),
    gains=st.tuples(st.floats(-40.0, 0.0), st.floats(-40.0, 0.0)),
)
def test_a_crossfade_together_is_never_louder_than_the_master(
    master: float, outgoing_weight: float, progress: float, gains: tuple[float, float]
) -> None:
    """VLC plays a volume v at amplitude v³: the decks' amplitudes add up to at most master³."""
    outgoing, incoming = crossfade(outgoing_weight, now=0.0, seconds=1.0)
    levels = [
        deck_level(master, ramp.value_at(progress), gain, cap=1.0)
        for ramp, gain in zip((outgoing, incoming), gains, strict=True)
    ]
    assert sum(level**3 for level in levels) <= master**3 + 1e-12


def test_a_deck_alone_plays_at_the_master_volume() -> None:
    assert deck_level(0.5, 1.0, 0.0, cap=0.7) == 0.5


def test_half_way_through_a_crossfade_each_deck_carries_half_the_amplitude() -> None:
    level = deck_level(0.6, 0.5, 0.0, cap=1.0)
    assert level**3 == pytest.approx(0.5 * 0.6**3, rel=1e-12)


def test_track_gain_scales_the_amplitude_in_decibels() -> None:
    level = deck_level(0.5, 1.0, -20.0, cap=1.0)
    assert level**3 == pytest.approx(0.1 * 0.5**3, rel=1e-12)


def test_a_track_gain_above_zero_is_held_at_the_cap() -> None:
    assert deck_level(0.7, 1.0, 12.0, cap=0.7) == 0.7


def test_a_silent_deck_has_no_level() -> None:
    assert deck_level(0.7, 0.0, 0.0, cap=0.7) == 0.0


def test_vlc_volume_rounds_down_so_that_a_cap_is_never_passed() -> None:
    assert [vlc_volume(x) for x in (0.0, 0.1, 0.3, 0.29, 0.7, 0.706, 1.0)] == [
        0,
        10,
        30,
        29,
        70,
        70,
        100,
    ]


def test_vlc_volume_stays_within_vlc_s_calibrated_range() -> None:
    assert (vlc_volume(-0.5), vlc_volume(1.8)) == (0, 100)


def test_the_room_s_safety_limits_become_fractions() -> None:
    limits = VolumeLimits.from_safety(SafetyLimits(volume_cap=70, volume_ramp_per_s=10))
    assert (limits.cap, limits.ramp_per_s) == (0.7, 0.1)


@pytest.mark.parametrize(("cap", "ramp_per_s"), [(1.2, 0.1), (-0.1, 0.1), (0.5, 0.0)])
def test_limits_outside_their_range_are_refused(cap: float, ramp_per_s: float) -> None:
    with pytest.raises(ValueError, match="volume"):
        VolumeLimits(cap=cap, ramp_per_s=ramp_per_s)
