"""VR headsets and displays (`VrControl`) on the example room's headset, tick by tick.

Content starts silent and its volume rises at the room's ramp to what was asked, never above
the cap (docs/safety.md#loudness); a command the headset was last given is not sent again
unless asked `again`; a stop silences the channel, and a headset back online after a stop
is told to stop again.
"""

from __future__ import annotations

import itertools

import pytest

from controller.drivers.base import VrCommand
from controller.engine.safety import Rule, Status
from tests.engine.room_parts import HEADSET, RoomParts, ticks, volumes_sent

MEADOW = VrCommand("play", "breathing-meadow", 0.4)
PLAY_SILENT = '{"action":"play","content":"breathing-meadow","volume":0}'
STOP = '{"action":"stop"}'


def test_content_starts_silent_and_ramps_to_the_volume_asked(parts: RoomParts) -> None:
    verdict = parts.vr.send("headset", MEADOW, 0.0)
    assert verdict is not None and verdict.allowed
    assert parts.take() == [(HEADSET, PLAY_SILENT)]
    sent = parts.run(ticks(0.0, 6.0))
    # 2.5 % every quarter of a second (10 %/s), as whole percent rounded down
    assert volumes_sent(sent) == [2, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27, 30, 32, 35, 37, 40]
    assert parts.output.volume_of("headset") == pytest.approx(0.4)


def test_content_without_a_volume_ramps_to_half(parts: RoomParts) -> None:
    parts.vr.send("headset", VrCommand("play", "breathing-meadow"), 0.0)
    assert volumes_sent(parts.run(ticks(0.0, 8.0)))[-1] == 50


def test_content_asked_louder_than_the_cap_ramps_to_the_cap(parts: RoomParts) -> None:
    parts.vr.send("headset", VrCommand("play", "breathing-meadow", 1.0), 0.0)
    volumes = volumes_sent(parts.run(ticks(0.0, 12.0)))
    assert max(volumes) == volumes[-1] == 70
    assert all(0 <= later - earlier <= 3 for earlier, later in itertools.pairwise(volumes))
    # the steps from 72.5 % to 100 % are each held at the cap, and journaled
    assert [(v.status, v.rules) for _, v in parts.safety.reports] == [
        (Status.CLAMPED, (Rule.VOLUME_CAP,))
    ] * 12


def test_a_command_the_headset_was_last_given_is_not_sent_again(parts: RoomParts) -> None:
    parts.vr.send("headset", VrCommand("stop"), 0.0)
    assert parts.vr.send("headset", VrCommand("stop"), 1.0) is None
    assert parts.take() == [(HEADSET, STOP)]
    parts.vr.send("headset", MEADOW, 2.0)
    assert parts.vr.send("headset", MEADOW, 3.0) is None
    assert parts.take() == [(HEADSET, PLAY_SILENT)]


def test_again_sends_it_all_the_same(parts: RoomParts) -> None:
    parts.vr.send("headset", VrCommand("stop"), 0.0)
    parts.vr.send("headset", VrCommand("stop"), 1.0, again=True)
    assert parts.take() == [(HEADSET, STOP), (HEADSET, STOP)]


def test_a_stop_silences_the_content_and_the_next_play_ramps_in_again(parts: RoomParts) -> None:
    parts.vr.send("headset", MEADOW, 0.0)
    parts.run(ticks(0.0, 2.0))
    parts.vr.send("headset", VrCommand("stop"), 2.0)
    assert parts.take() == [(HEADSET, STOP)]
    assert parts.output.volume_of("headset") == 0.0
    assert parts.volumes.target("headset", 2.0) == 0.0
    assert parts.run(ticks(2.25, 6.0)) == []  # the running fade went with the content
    parts.vr.send("headset", MEADOW, 6.0)
    assert volumes_sent(parts.run(ticks(6.0, 6.5))) == [2, 5]


def test_a_headset_back_online_after_a_stop_is_told_to_stop_again(parts: RoomParts) -> None:
    parts.vr.reassert("headset", 0.0)
    assert parts.take() == []  # never told anything
    parts.vr.send("headset", VrCommand("stop"), 0.0)
    parts.take()
    parts.vr.reassert("headset", 1.0)
    assert parts.take() == [(HEADSET, STOP)]


def test_a_headset_back_online_while_playing_is_not_restarted(parts: RoomParts) -> None:
    parts.vr.send("headset", MEADOW, 0.0)
    parts.take()
    parts.vr.reassert("headset", 1.0)
    assert parts.take() == []


def test_while_latched_content_does_not_start_and_is_not_taken_as_sent(
    parts: RoomParts,
) -> None:
    parts.output.engage_latch({})
    verdict = parts.vr.send("headset", MEADOW, 0.0)
    assert verdict is not None and not verdict.allowed
    assert parts.take() == []
    assert parts.run(ticks(0.0, 2.0)) == []
    parts.output.release_latch()
    parts.vr.send("headset", MEADOW, 3.0)
    assert parts.take() == [(HEADSET, PLAY_SILENT)]


def test_brightness_passes_the_gate_and_an_unknown_headset_gets_nothing(
    parts: RoomParts,
) -> None:
    parts.vr.send("headset", VrCommand("brightness", level=0.5), 0.0)
    assert parts.vr.send("no-such-headset", VrCommand("stop"), 0.0) is None
    assert parts.take() == [(HEADSET, '{"action":"brightness","level":50}')]


def test_a_headset_whose_volumes_were_lost_counts_as_silent_and_playing_content_ramps_again(
    parts: RoomParts,
) -> None:
    parts.vr.send("headset", MEADOW, 0.0)
    parts.run(ticks(0.0, 4.0))
    assert parts.vr.volume_lost("headset", 4.0) is True
    assert parts.output.volume_of("headset") == 0.0
    assert volumes_sent(parts.run(ticks(4.25, 5.0))) == [2, 5, 7, 10]


def test_a_paused_headset_whose_volumes_were_lost_stays_silent_until_resumed(
    parts: RoomParts,
) -> None:
    parts.vr.send("headset", MEADOW, 0.0)
    parts.run(ticks(0.0, 4.0))
    parts.vr.send("headset", VrCommand("pause"), 4.0)
    assert parts.take() == [(HEADSET, '{"action":"pause"}')]
    assert parts.vr.volume_lost("headset", 4.25) is False
    assert parts.run(ticks(4.5, 6.0)) == []
