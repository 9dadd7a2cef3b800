"""Volume fades (`VolumeFades`) of the music, the tones and VR content, tick by tick.

A fade is never shorter than the room's ramp allows (10 % per second in the example room,
docs/safety.md#volume-ramp); silence resets a channel, so the next sound ramps in from
nothing; every step leaves through the output path to the channel's own output.
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from controller.engine.output import MUSIC, TONES
from tests.engine.room_parts import STEP_S, RoomParts, ticks, volumes_sent


def heard(parts: RoomParts, channel: str, sent: list[tuple[float, str, str]]) -> list[float]:
    """The volumes a channel's output was given, in order (0–1); `sent` is what went out."""
    if channel == MUSIC:
        return parts.player.volumes()
    if channel == TONES:
        return parts.tone_player.volumes()
    return [percent / 100 for percent in volumes_sent(sent)]


@pytest.mark.parametrize(
    ("start", "level", "fade_s", "duration"),
    [
        (None, 0.5, 1.0, 5.0),  # from silence, 50 % at 10 %/s takes 5 s
        (None, 0.5, 8.0, 8.0),  # a longer fade than the ramp needs stays as asked
        (0.25, 0.5, 0.0, 2.5),
        (0.25, 0.5, 2.4, 2.5),
        (0.5, 0.2, 0.0, 0.0),  # going down may be immediate
        (0.5, 0.2, 2.0, 2.0),
    ],
)
def test_a_fade_is_never_shorter_than_the_ramp_allows(
    parts: RoomParts, start: float | None, level: float, fade_s: float, duration: float
) -> None:
    if start is not None:
        parts.volumes.started_at(MUSIC, start, 0.0)
    assert parts.volumes.fade_to(MUSIC, level, fade_s, 0.0) == duration


def test_the_ramp_is_in_real_seconds_whatever_the_time_scale() -> None:
    parts = RoomParts(scale=10.0)
    assert parts.volumes.fade_to(MUSIC, 0.5, 1.0, 0.0) == 50.0


def test_a_fade_is_stepped_4_times_a_second_through_the_output_path(parts: RoomParts) -> None:
    parts.volumes.fade_to(MUSIC, 0.5, 5.0, 0.0)
    parts.run(ticks(0.0, 6.0, hz=20))
    assert parts.player.calls == [
        ("set_volume", (0.5 * (0.25 * k)) / 5, 0.25 * k, STEP_S) for k in range(21)
    ]
    assert parts.volumes.target(MUSIC, 2.5) == 0.25
    assert parts.output.volume_of(MUSIC) == 0.5


@pytest.mark.parametrize("channel", [MUSIC, TONES, "headset"])
def test_a_fade_a_late_tick_held_back_goes_on_to_its_level_at_the_ramp(
    parts: RoomParts, channel: str
) -> None:
    """The event loop was blocked for 3 s at the start of a 5 s fade: the gate lets the
    volume rise only 5 % in that step and no faster than the ramp after it; the fade goes
    on from there to its level, rather than ending short of it with the fade believed done."""
    parts.volumes.fade_to(channel, 0.5, 5.0, 0.0)
    sent = parts.run([0.0, *ticks(3.0, 12.0)])
    levels = heard(parts, channel, sent)
    slack = 0.01 if channel == "headset" else 1e-9  # the headset is sent whole percent
    assert levels[:3] == pytest.approx([0.0, 0.05, 0.075], abs=slack)
    assert max(b - a for a, b in pairwise(levels)) <= 0.05 + slack
    assert levels[-1] == pytest.approx(0.5)
    assert parts.output.volume_of(channel) == pytest.approx(0.5)
    assert not parts.fades.pending(12.0)


def test_the_player_is_given_real_seconds_in_a_rehearsal() -> None:
    parts = RoomParts(scale=10.0)
    parts.volumes.fade_to(MUSIC, 0.05, 0.0, 0.0)
    parts.run(ticks(0.0, 5.0))
    assert parts.player.calls == [
        ("set_volume", 0.0, 0.0, STEP_S),
        ("set_volume", 0.025, 0.25, STEP_S),
        ("set_volume", 0.05, 0.5, STEP_S),
    ]


@pytest.mark.parametrize("channel", [MUSIC, TONES, "headset"])
def test_each_channel_is_stepped_to_its_own_output(parts: RoomParts, channel: str) -> None:
    parts.volumes.fade_to(channel, 0.08, 2.0, 0.0)
    sent = parts.run(ticks(0.0, 3.0))
    assert heard(parts, channel, sent) == pytest.approx([k / 100 for k in range(9)])


def test_silence_resets_the_channel_so_the_next_sound_ramps_in_again(parts: RoomParts) -> None:
    parts.volumes.fade_to(MUSIC, 0.5, 5.0, 0.0)
    parts.run(ticks(0.0, 5.0))
    parts.volumes.silence(MUSIC, 6.0)
    assert parts.volumes.target(MUSIC, 6.0) == 0.0
    assert parts.output.volume_of(MUSIC) == 0.0
    parts.run(ticks(6.0, 8.0))
    assert parts.player.volumes()[-1] == 0.5  # silence is the player's own: no step sent
    parts.volumes.step(MUSIC, 0.5, 8.0)
    assert parts.player.volumes()[-1] == 0.05  # one step of the ramp above silence
    assert parts.volumes.fade_to(MUSIC, 0.5, 0.0, 8.0) == 5.0


def test_a_channel_that_never_sounded_is_at_silence(parts: RoomParts) -> None:
    assert parts.volumes.target("headset", 100.0) == 0.0
