"""Bilateral-stimulation sets (`BlsControl`, `BlsSet`, `bls_info`) on the example room's tappers,
light bar and tones.

A set on an MQTT device is one message with the speed and intensity the gate allows; the
tones start silent and ramp in like every sound (docs/safety.md#loudness); a set the gate
refuses raises CommandRefused with its reason and nothing starts. The tone player is
`RecordingTones` (the real VLC tone player has its own tests in tests/media).
"""

from __future__ import annotations

import json

import pytest

from controller.api.state import BlsInfo
from controller.engine.bls import BlsSet, bls_info
from controller.engine.output import TONES
from controller.engine.phases import CommandRefused
from controller.engine.safety import BlsRequest, Rule, Status
from controller.engine.targets import BlsTarget
from tests.engine.room_parts import (
    LIGHTBAR,
    TAPPERS,
    Recorded,
    RoomParts,
    ticks,
)

STOP = '{"running":false}'
EIGHT_PASSES = BlsTarget(running=True, speed_hz=1.0, passes=8)


def test_a_set_on_the_tappers_is_one_message_at_the_speed_and_intensity_allowed(
    parts: RoomParts,
) -> None:
    parts.bls.start(
        "tappers", BlsTarget(running=True, speed_hz=3.0, intensity=0.9, passes=8), 5.0, 0.0
    )
    message = (
        '{"running":true,"mode":"tactile","speed_hz":2.0,"intensity":80,"passes":8,'
        '"duration_s":null}'
    )
    assert parts.take() == [(TAPPERS, message)]
    [(device_id, clamp)] = parts.safety.reports
    assert device_id == "tappers"
    assert (clamp.status, clamp.rules) == (Status.CLAMPED, (Rule.BLS_SPEED, Rule.BLS_INTENSITY))
    allowed = BlsRequest(mode="tactile", speed_hz=2.0, passes=8, intensity=0.8)
    assert parts.bls.sets == {"tappers": BlsSet("tappers", allowed, 5.0)}
    assert parts.journal.events[-1] == Recorded(
        "command",
        {"bls": "start", "speed_hz": 2.0, "passes": 8, "seconds": None, "mode": "tactile"},
        device="tappers",
        text="BLS started on tappers at 2 Hz",
    )


def test_a_set_on_the_light_bar_carries_its_length_in_seconds_and_its_colour(
    parts: RoomParts,
) -> None:
    target = BlsTarget(running=True, speed_hz=1.0, seconds=20.0, intensity=0.5, colour="#00ff00")
    parts.bls.start("lightbar", target, 0.0, 0.0)
    assert parts.take() == [
        (
            LIGHTBAR,
            '{"running":true,"mode":"visual","speed_hz":1.0,"intensity":50,"passes":null,'
            '"duration_s":20.0,"colour":"#00ff00"}',
        )
    ]


def test_a_set_without_a_length_or_speed_takes_the_rooms_passes_at_1_hz(
    parts: RoomParts,
) -> None:
    parts.bls.start("tappers", BlsTarget(running=True), 0.0, 0.0)
    assert parts.take() == [
        (TAPPERS, '{"running":true,"mode":"tactile","speed_hz":1.0,"passes":24,"duration_s":null}')
    ]


@pytest.mark.parametrize(("music_volume", "level"), [(0.0, 0.3), (0.5, 0.5)])
def test_the_tones_start_silent_and_ramp_in_to_the_musics_volume(
    parts: RoomParts, music_volume: float, level: float
) -> None:
    parts.bls.start("tones", BlsTarget(running=True, speed_hz=1.0, passes=20), 0.0, music_volume)
    request = BlsRequest(mode="audio", speed_hz=1.0, passes=20, tone_hz=440.0)
    assert parts.tone_player.calls == [("start", request, 0.0)]
    assert parts.take() == []
    parts.run(ticks(0.0, 6.0))
    steps = round(level / 0.025)  # the ramp's 10 %/s, 4 steps a second
    assert parts.tone_player.volumes() == pytest.approx([0.025 * k for k in range(1, steps + 1)])


def test_the_tones_frequency_is_held_to_the_rooms_range(parts: RoomParts) -> None:
    parts.bls.start(
        "tones", BlsTarget(running=True, speed_hz=1.0, passes=8, tone_hz=100.0), 0.0, 0.0
    )
    assert parts.bls.sets["tones"].request.tone_hz == 200.0


def test_without_a_tone_player_a_tone_set_is_refused() -> None:
    parts = RoomParts(tones=False)
    with pytest.raises(CommandRefused) as refused:
        parts.bls.start("tones", EIGHT_PASSES, 0.0, 0.0)
    assert str(refused.value) == "bilateral tones are not available on this room PC"
    assert parts.bls.sets == {}


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (
            BlsTarget(running=True, speed_hz=1.0, passes=30),
            "tappers: a set of 30 passes (30 s) is longer than the room's 24 passes / 60 s; "
            "it needs an explicit confirmation",
        ),
        (
            BlsTarget(running=True, speed_hz=1.0, seconds=150.0, confirmed=True),
            "tappers: a set of 150 s (150 passes) is longer than 120 s, "
            "which no confirmation can lift",
        ),
    ],
)
def test_a_set_the_gate_refuses_raises_its_reason_and_nothing_starts(
    parts: RoomParts, target: BlsTarget, reason: str
) -> None:
    with pytest.raises(CommandRefused) as refused:
        parts.bls.start("tappers", target, 0.0, 0.0)
    assert str(refused.value) == reason
    assert parts.take() == []
    assert parts.bls.sets == {}
    assert [event.kind for event in parts.journal.events] == []


def test_a_long_set_starts_when_confirmed(parts: RoomParts) -> None:
    parts.bls.start("tappers", BlsTarget(running=True, passes=30, confirmed=True), 0.0, 0.0)
    assert parts.bls.sets["tappers"].request.passes == 30


def test_while_latched_a_set_is_refused_with_the_latchs_reason(parts: RoomParts) -> None:
    parts.output.engage_latch({})
    with pytest.raises(CommandRefused) as refused:
        parts.bls.start("tappers", EIGHT_PASSES, 0.0, 0.0)
    assert str(refused.value) == "tappers: emergency active: clear it first; no BLS set starts"


def emergency_stops(parts: RoomParts, now: float) -> None:
    """The BLS stops of the emergency (`Engine._safe_scene`), each on its own."""
    for device_id in parts.bls.to_stop():
        parts.bls.stop(device_id, "emergency", now)


def test_the_emergency_stops_every_set_and_every_mqtt_bls_device(parts: RoomParts) -> None:
    parts.bls.start("tones", EIGHT_PASSES, 0.0, 0.0)
    parts.bls.start("tappers", EIGHT_PASSES, 0.0, 0.0)
    parts.run(ticks(0.0, 1.0))
    parts.journal.take()
    emergency_stops(parts, 1.0)
    assert parts.take() == [(TAPPERS, STOP), (LIGHTBAR, STOP)]
    assert parts.tone_player.calls[-1] == ("stop",)
    assert parts.bls.sets == {}
    assert parts.volumes.target(TONES, 1.0) == 0.0
    stops = [(e.device, e.payload) for e in parts.journal.events if "bls" in e.payload]
    assert stops == [
        ("tones", {"bls": "stop", "why": "emergency"}),
        ("tappers", {"bls": "stop", "why": "emergency"}),
    ]


def test_the_emergency_leaves_idle_tones_alone(parts: RoomParts) -> None:
    emergency_stops(parts, 0.0)
    assert parts.take() == [(TAPPERS, STOP), (LIGHTBAR, STOP)]
    assert parts.tone_player.calls == []
    assert parts.journal.events == [
        Recorded("command", {"payload": STOP}, device=device, topic=topic)
        for device, topic in (("tappers", TAPPERS), ("lightbar", LIGHTBAR))
    ]


def test_a_set_is_complete_when_its_passes_are_done(parts: RoomParts) -> None:
    parts.bls.start("tappers", EIGHT_PASSES, 2.0, 0.0)
    parts.take()
    parts.journal.take()
    parts.bls.finish(9.99)
    assert list(parts.bls.sets) == ["tappers"]
    parts.bls.finish(10.0)
    assert parts.bls.sets == {}
    assert parts.take() == []  # the tappers end the set by themselves
    assert parts.journal.events == [
        Recorded(
            "command",
            {"bls": "set complete"},
            device="tappers",
            text="BLS set complete on tappers",
        )
    ]


def test_half_a_second_after_its_set_is_complete_the_device_is_told_to_stop(
    parts: RoomParts,
) -> None:
    """It ended the set by itself, unless it restarted it (a start delivered twice)."""
    parts.bls.start("tappers", EIGHT_PASSES, 2.0, 0.0)
    parts.take()
    parts.bls.finish(10.0)
    parts.bls.finish(10.49)
    assert parts.take() == []
    parts.bls.finish(10.5)
    assert parts.take() == [(TAPPERS, STOP)]
    parts.bls.finish(20.0)
    assert parts.take() == []  # once


def test_a_tick_that_comes_late_past_the_grace_stops_the_device_in_that_tick(
    parts: RoomParts,
) -> None:
    """The event loop was blocked past the set's end and its grace: the stop goes out at
    once, not a tick later (the device may be running a restarted set)."""
    parts.bls.start("tappers", EIGHT_PASSES, 2.0, 0.0)  # ends at 10.0, its stop due at 10.5
    parts.take()
    parts.bls.finish(12.0)
    assert parts.take() == [(TAPPERS, STOP)]
    assert parts.bls.stops_owed == {}


def test_the_grace_before_the_stop_is_real_time_in_a_slowed_rehearsal() -> None:
    parts = RoomParts(scale=0.5)
    parts.bls.start("tappers", EIGHT_PASSES, 0.0, 0.0)  # 8 real seconds: 4 session seconds
    parts.take()
    parts.bls.finish(4.0)
    parts.bls.finish(4.24)
    assert parts.take() == []
    parts.bls.finish(4.25)
    assert parts.take() == [(TAPPERS, STOP)]


def test_a_new_set_within_the_grace_is_not_stopped_by_the_one_before(parts: RoomParts) -> None:
    parts.bls.start("tappers", EIGHT_PASSES, 0.0, 0.0)
    parts.bls.finish(8.0)
    parts.bls.start("tappers", EIGHT_PASSES, 8.2, 0.0)
    parts.take()
    parts.bls.finish(8.5)
    parts.bls.finish(16.0)
    assert parts.take() == []
    assert list(parts.bls.sets) == ["tappers"]


def test_a_set_refused_within_the_grace_leaves_the_stop_owed(parts: RoomParts) -> None:
    parts.bls.start("tappers", EIGHT_PASSES, 0.0, 0.0)
    parts.bls.finish(8.0)
    parts.take()
    with pytest.raises(CommandRefused):
        parts.bls.start("tappers", BlsTarget(running=True, passes=30), 8.2, 0.0)
    parts.bls.finish(8.5)
    assert parts.take() == [(TAPPERS, STOP)]


def test_an_emergency_within_the_grace_stops_the_device_at_once_and_only_then(
    parts: RoomParts,
) -> None:
    parts.bls.start("tappers", EIGHT_PASSES, 0.0, 0.0)
    parts.bls.finish(8.0)
    parts.take()
    emergency_stops(parts, 8.2)
    assert (TAPPERS, STOP) in parts.take()
    parts.bls.finish(8.5)
    parts.bls.finish(9.0)
    assert parts.take() == []  # the owed stop went with the emergency's


def test_a_tone_set_that_is_complete_stops_the_tones_and_silences_them(
    parts: RoomParts,
) -> None:
    parts.bls.start("tones", EIGHT_PASSES, 0.0, 0.0)
    parts.run(ticks(0.0, 7.75))
    parts.bls.finish(8.0)
    assert parts.tone_player.calls[-1] == ("stop",)
    assert parts.volumes.target(TONES, 8.0) == 0.0
    assert parts.output.volume_of(TONES) == 0.0


def test_an_idle_bls_device_back_online_is_told_to_stop(parts: RoomParts) -> None:
    parts.bls.reassert("tappers", 0.0)
    assert parts.take() == [(TAPPERS, STOP)]
    parts.bls.start("tappers", EIGHT_PASSES, 0.0, 0.0)
    parts.take()
    parts.bls.reassert("tappers", 1.0)
    parts.bls.reassert("ceiling", 1.0)
    parts.bls.reassert("no-such-device", 1.0)
    assert parts.take() == []


@pytest.mark.parametrize(
    ("now", "pass_count", "elapsed_s", "done"),
    [
        (10.0, 1, 0.0, False),
        (10.49, 1, 0.49, False),
        (10.5, 2, 0.5, False),
        (13.99, 8, 3.99, False),
        (14.0, 8, 4.0, True),
        (60.0, 8, 4.0, True),
    ],
)
def test_passes_are_counted_on_the_session_clock(
    now: float, pass_count: int, elapsed_s: float, done: bool
) -> None:
    bls_set = BlsSet("tappers", BlsRequest(mode="tactile", speed_hz=2.0, passes=8), 10.0)
    assert bls_set.pass_count(now) == pass_count
    assert bls_set.elapsed_s(now) == pytest.approx(elapsed_s)
    assert bls_set.done(now) is done


def test_a_set_in_seconds_counts_the_passes_it_holds() -> None:
    bls_set = BlsSet("lightbar", BlsRequest(mode="visual", speed_hz=1.5, seconds=10.0), 0.0)
    assert bls_set.length_s == 10.0
    assert [bls_set.pass_count(t) for t in (0.0, 0.66, 0.67, 9.99, 10.0)] == [1, 1, 2, 15, 15]


def test_bls_info_describes_the_first_set_and_names_every_device() -> None:
    request = BlsRequest(mode="tactile", speed_hz=2.0, passes=8, intensity=0.6)
    sets = {
        "tappers": BlsSet("tappers", request, 0.0),
        "lightbar": BlsSet("lightbar", BlsRequest(mode="visual", speed_hz=1.0, passes=8), 0.0),
    }
    assert bls_info(sets, 1.0) == BlsInfo(
        running=True,
        devices=["lightbar", "tappers"],
        mode="tactile",
        speed_hz=2.0,
        intensity=0.6,
        pass_count=3,
        passes=8,
        set_elapsed_s=1.0,
    )
    assert bls_info({}, 1.0) == BlsInfo()


def test_a_set_of_passes_lasts_its_real_time_in_a_faster_rehearsal() -> None:
    """At time scale 10 the tappers still tap 8 passes at 1 Hz in 8 real seconds: the set
    ends 80 session seconds after it began, and the passes count in real time."""
    request = BlsRequest(mode="tactile", speed_hz=1.0, passes=8)
    rehearsal = BlsSet("tappers", request, started=100.0, time_scale=10.0)
    assert rehearsal.length_s == 80.0
    assert not rehearsal.done(179.0) and rehearsal.done(180.0)
    assert rehearsal.pass_count(115.0) == 2
    assert rehearsal.pass_count(500.0) == 8


@pytest.mark.parametrize("scale", [0.5, 10.0])
def test_a_set_of_seconds_lasts_its_real_time_whatever_the_time_scale(scale: float) -> None:
    """docs/safety.md#bls-set-length: the gate judges a set's seconds as real seconds and the
    device taps (the tones sound) for that long, so the engine's set ends after as many real
    seconds: not later in a slowed rehearsal (at 0.5 the tones of a 60 s set would sound for
    120 s, past the room's set length), nor earlier in a faster one."""
    request = BlsRequest(mode="audio", speed_hz=1.0, seconds=60.0, tone_hz=440.0)
    bls_set = BlsSet("tones", request, started=100.0, time_scale=scale)
    end = 100.0 + 60.0 * scale
    assert not bls_set.done(end - 0.01 * scale) and bls_set.done(end)
    assert bls_set.pass_count(end) == 60


def test_a_set_of_seconds_tells_the_device_its_real_seconds_in_a_slowed_rehearsal() -> None:
    """The gate judged 20 s (20 passes at 1 Hz) against the room's set length in real
    seconds; the tappers are told 20 s, not the 40 real seconds 20 session seconds last at
    time scale 0.5 (a 120 s set would have tapped for 240 s)."""
    parts = RoomParts(scale=0.5)
    request = BlsRequest(mode="tactile", speed_hz=1.0, seconds=20.0, intensity=0.5)
    assert parts.output.bls_start("tappers", request, 0.0).status is Status.OK
    [(topic, payload)] = parts.take()
    assert (topic, json.loads(payload)["duration_s"]) == (TAPPERS, 20.0)
