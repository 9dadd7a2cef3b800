"""The output path (`RoomOutput`): the gate, the emergency latch and the journal, call by call.

Every message to a device leaves here (docs/safety.md#one-guarded-path), so these are the
rules no medium can get around: while latched no light below its safe level, no volume
rise, nothing starts (docs/emergency.md#nothing-darker-nothing-louder); a play's volume and
every volume step are capped and ramped; each message is journaled as a `command` event.
"""

from __future__ import annotations

import json

import pytest

from controller.bus.outbox import Outbox, Pending
from controller.drivers.base import LightCommand, VrCommand
from controller.drivers.registry import make_driver
from controller.engine.output import MUSIC, TONES, RoomOutput
from controller.engine.safety import BlsRequest, Rule, SafetyGate, Status, Verdict
from tests.drivers.devices import device
from tests.engine.room_parts import (
    CEILING,
    FLOOR_LAMP,
    HEADSET,
    STRIP,
    TAPPERS,
    Recorded,
    RoomParts,
)
from tests.engine.test_engine import z2m

LATCHED = "emergency active: clear it first"
TAPPER_SET = BlsRequest(mode="tactile", speed_hz=1.0, passes=8)


def latched(parts: RoomParts) -> RoomParts:
    """The latch as the emergency engages it: the safe scene's levels are the floors."""
    parts.output.engage_latch({"ceiling": 0.8, "floor-lamp": 0.8, "strip": 0.6})
    return parts


def ramp_up(parts: RoomParts, channel: str, to: float) -> float:
    """Raise a channel from silence at the room's ramp (5 % every 0.5 s); the time after."""
    steps = round(to / 0.05)
    for step in range(1, steps + 1):
        assert parts.output.volume(channel, step * 0.05, step * 0.5, over_s=0.5) == pytest.approx(
            step * 0.05
        )
    return steps * 0.5


# ---------------------------------------------------------------------------- the latch


@pytest.mark.parametrize(
    ("command", "asked"),
    [(LightCommand(level=0.5), "50 %"), (LightCommand(on=False), "0 %")],
)
def test_while_latched_a_light_below_its_safe_level_is_refused(
    parts: RoomParts, command: LightCommand, asked: str
) -> None:
    verdict = latched(parts).output.light("ceiling", command, 0.0)
    assert verdict.status is Status.REFUSED
    assert verdict.rules == (Rule.EMERGENCY_LATCH,)
    assert verdict.value is None
    assert verdict.reason == (
        f"ceiling: {LATCHED}; lights stay at least at the safe scene's 80 % (asked {asked})"
    )
    assert parts.take() == []
    assert parts.journal.events == []


@pytest.mark.parametrize(("level", "brightness"), [(0.8, 203), (1.0, 254)])
def test_while_latched_a_light_at_or_above_its_safe_level_passes(
    parts: RoomParts, level: float, brightness: int
) -> None:
    verdict = latched(parts).output.light("ceiling", LightCommand(level=level), 0.0)
    assert verdict == Verdict(Status.OK, level, level)
    assert parts.take() == [(CEILING, z2m(brightness, transition=0.0))]


def test_the_floor_holds_only_the_lights_the_latch_names_and_goes_with_it(
    parts: RoomParts,
) -> None:
    parts.output.engage_latch({"ceiling": 0.8})
    assert parts.output.light("strip", LightCommand(on=False), 0.0).status is Status.OK
    parts.output.release_latch()
    assert parts.output.light("ceiling", LightCommand(level=0.5), 0.0).status is Status.OK
    assert parts.take() == [
        (STRIP, '{"on":false,"tt":0}'),
        (CEILING, z2m(127, transition=0.0)),
    ]


def test_while_latched_no_volume_rises_it_is_held_at_the_last_level(parts: RoomParts) -> None:
    now = ramp_up(parts, MUSIC, 0.15)
    latched(parts)
    assert parts.output.volume(MUSIC, 0.2, now + 0.5, over_s=0.25) == pytest.approx(0.15)
    assert parts.output.volume(MUSIC, 0.1, now + 1.0, over_s=0.25) == 0.1
    assert parts.output.volume(MUSIC, 0.15, now + 1.5, over_s=0.25) == 0.1
    assert parts.output.volume(MUSIC, 0.0, now + 2.0, over_s=0.25) == 0.0
    assert parts.output.volume_of(MUSIC) == 0.0
    assert parts.player.volumes()[-4:] == [pytest.approx(0.15), 0.1, 0.1, 0.0]
    parts.output.release_latch()
    assert parts.output.volume(MUSIC, 0.05, now + 2.5, over_s=0.25) == 0.05


def test_after_the_latch_held_rises_back_the_next_rise_ramps_from_what_went_out(
    parts: RoomParts,
) -> None:
    """docs/emergency.md#clear-emergency: volumes come back under the normal ramp. The gate
    must judge the first rise after the latch from the 15 % that went out, not from the
    levels the latch held back (a rise of at most one 5 % step)."""
    now = ramp_up(parts, "headset", 0.15)
    latched(parts)
    for step in range(1, 21):
        parts.output.volume("headset", 0.7, now + step * 0.5, over_s=0.25)
    assert parts.output.volume_of("headset") == pytest.approx(0.15)
    parts.output.release_latch()
    parts.take()
    assert parts.output.volume("headset", 0.7, now + 10.25, over_s=0.25) == pytest.approx(0.2)
    assert parts.take() == [(HEADSET, '{"action":"volume","volume":20}')]


@pytest.mark.parametrize("channel", [TONES, "headset"])
def test_while_latched_no_sound_starts_rising_on_any_channel(
    parts: RoomParts, channel: str
) -> None:
    assert latched(parts).output.volume(channel, 0.05, 0.0, over_s=0.25) == 0.0
    assert parts.output.volume_of(channel) == 0.0


@pytest.mark.parametrize(
    "command", [VrCommand("play", "breathing-meadow", 0.4), VrCommand("resume")]
)
def test_while_latched_vr_content_does_not_start(parts: RoomParts, command: VrCommand) -> None:
    verdict = latched(parts).output.vr("headset", command, 0.0)
    assert verdict == Verdict(
        Status.REFUSED,
        command,
        None,
        f"headset: {LATCHED}; VR content does not start",
        (Rule.EMERGENCY_LATCH,),
    )
    assert parts.take() == []


@pytest.mark.parametrize("device_id", ["tappers", "tones"])
def test_while_latched_no_bls_set_starts(parts: RoomParts, device_id: str) -> None:
    verdict = latched(parts).output.bls_start(device_id, TAPPER_SET, 0.0)
    assert verdict.status is Status.REFUSED
    assert verdict.rules == (Rule.EMERGENCY_LATCH,)
    assert verdict.reason == f"{device_id}: {LATCHED}; no BLS set starts"
    assert parts.take() == []
    assert parts.tone_player.calls == []


def test_while_latched_stops_and_pauses_pass(parts: RoomParts) -> None:
    latched(parts)
    for command in (VrCommand("pause"), VrCommand("stop")):
        assert parts.output.vr("headset", command, 0.0).status is Status.OK
    parts.output.bls_stop("tappers", 0.0)
    parts.output.bls_stop("tones", 0.0)
    assert parts.take() == [
        (HEADSET, '{"action":"pause"}'),
        (HEADSET, '{"action":"stop"}'),
        (TAPPERS, '{"running":false}'),
    ]
    assert parts.tone_player.calls == [("stop",)]


# ---------------------------------------------------------------------------- the gate


def test_a_plays_volume_is_capped_and_ramped_from_silence(parts: RoomParts) -> None:
    command = VrCommand("play", "breathing-meadow", 0.9)
    verdict = parts.output.vr("headset", command, 0.0)
    assert verdict.value == VrCommand("play", "breathing-meadow", 0.05)
    assert parts.take() == [(HEADSET, '{"action":"play","content":"breathing-meadow","volume":5}')]
    assert parts.output.volume_of("headset") == 0.05
    [(device_id, clamp)] = parts.safety.reports
    assert device_id == "headset"
    assert (clamp.status, clamp.rules) == (Status.CLAMPED, (Rule.VOLUME_CAP, Rule.VOLUME_RAMP))


def test_a_volume_step_above_the_cap_is_held_at_the_cap(parts: RoomParts) -> None:
    now = ramp_up(parts, "headset", 0.7)
    parts.take()
    assert parts.output.volume("headset", 0.75, now + 0.5, over_s=0.25) == 0.7
    assert parts.take() == [(HEADSET, '{"action":"volume","volume":70}')]
    [(device_id, clamp)] = parts.safety.reports
    assert device_id == "headset"
    assert (clamp.status, clamp.rules) == (Status.CLAMPED, (Rule.VOLUME_CAP,))
    assert clamp.reason == "headset: volume 75 % is above the room's cap of 70 %"


def test_a_cap_that_is_not_a_whole_percent_is_not_passed_on_the_wire(parts: RoomParts) -> None:
    limits = parts.room.settings.safety.model_copy(update={"volume_cap": 70.5})
    parts.output.gate = SafetyGate(limits)
    now = ramp_up(parts, "headset", 0.7)
    parts.output.volume("headset", 0.9, now + 0.5, over_s=0.5)
    [(_, message)] = parts.take()[-1:]
    assert json.loads(message)["volume"] <= 70.5


def test_a_maximum_intensity_that_is_not_a_whole_percent_is_not_passed_on_the_wire(
    parts: RoomParts,
) -> None:
    limits = parts.room.settings.safety.model_copy(update={"tactile_intensity_max": 79.5})
    parts.output.gate = SafetyGate(limits)
    parts.output.bls_start("tappers", BlsRequest("tactile", 1.0, passes=8, intensity=1.0), 0.0)
    [(_, message)] = parts.take()
    assert json.loads(message)["intensity"] <= 79.5


def test_a_light_change_that_would_flash_is_refused_by_the_gate(parts: RoomParts) -> None:
    statuses = [
        parts.output.light("ceiling", LightCommand(level=n % 2), n * 0.1).status for n in range(6)
    ]
    assert statuses == [Status.OK] * 5 + [Status.REFUSED]
    assert len(parts.take()) == 5


def test_the_lights_up_bypasses_the_flash_pacing_but_is_counted(parts: RoomParts) -> None:
    for n in range(5):  # the flash budget of the second is used up
        parts.output.light("ceiling", LightCommand(level=n % 2), n * 0.1)
    assert parts.output.light("ceiling", LightCommand(level=0.8), 0.5).status is Status.REFUSED
    parts.take()
    lights_up = parts.output.light("ceiling", LightCommand(level=0.8), 0.5, lights_up=True)
    assert lights_up == Verdict(Status.OK, 0.8, 0.8)
    assert parts.take() == [(CEILING, z2m(203, transition=0.0))]
    # It is in the light's flash history: going dark again within the second would flash.
    darker = parts.output.light("ceiling", LightCommand(level=0.0), 0.6)
    assert (darker.status, darker.rules) == (Status.REFUSED, (Rule.FLASH_RATE,))


def test_the_lights_up_is_never_held_below_a_floor(parts: RoomParts) -> None:
    parts.output.engage_latch({"ceiling": 0.8})
    verdict = parts.output.light("ceiling", LightCommand(level=0.6), 0.0, lights_up=True)
    assert verdict.status is Status.OK


def test_a_light_bar_s_sets_count_as_its_flashes_a_stop_is_never_held_back(
    parts: RoomParts,
) -> None:
    """A start lights a visual light bar and a stop darkens it at once: sets started and
    stopped faster than the flash rate would flash it (docs/safety.md#flash-rate)."""
    bar_set = BlsRequest(mode="visual", speed_hz=2.0, passes=4)
    starts = []
    for n in range(4):
        starts.append(parts.output.bls_start("lightbar", bar_set, n * 0.1).status)
        parts.output.bls_stop("lightbar", n * 0.1 + 0.05)
    assert starts == [Status.OK] * 3 + [Status.REFUSED]
    assert [body for _, body in parts.take()] == [
        *['{"running":true,"mode":"visual","speed_hz":2.0,"passes":4,"duration_s":null}',
          '{"running":false}'] * 3,
        '{"running":false}',
    ]  # fmt: skip


def test_sets_restarting_a_running_light_bar_faster_than_the_flash_rate_are_refused(
    parts: RoomParts,
) -> None:
    """A set started on a light bar whose set still runs replaces it at once: the bar starts
    its sweep again at the left, dark there and lit again (docs/safety.md#flash-rate)."""
    bar_set = BlsRequest(mode="visual", speed_hz=2.0, passes=4)
    starts = [parts.output.bls_start("lightbar", bar_set, n * 0.1).status for n in range(10)]
    assert Status.REFUSED in starts
    device_id, refusal = parts.safety.reports[-1]
    assert (device_id, refusal.rules) == ("lightbar", (Rule.FLASH_RATE,))
    assert refusal.reason is not None
    assert refusal.reason.startswith("lightbar: a set started now would flash it; "), refusal
    # still for a second: the next set passes
    assert parts.output.bls_start("lightbar", bar_set, 1.5).status is Status.OK


def test_vr_content_played_and_stopped_counts_as_its_screen_s_flashes(parts: RoomParts) -> None:
    """A play lights the headset's screen at its brightness and a stop darkens it at once:
    content played and stopped faster than the flash rate would flash it, as a light bar's
    sets would (docs/safety.md#flash-rate). A stop is never held back."""
    play = VrCommand("play", "breathing-meadow", 0.0)
    plays = []
    for n in range(4):
        plays.append(parts.output.vr("headset", play, n * 0.1).status)
        assert parts.output.vr("headset", VrCommand("stop"), n * 0.1 + 0.05).status is Status.OK
    assert plays == [Status.OK] * 3 + [Status.REFUSED]
    sent = [body for _, body in parts.take() if '"volume"' not in body or '"play"' in body]
    assert sent == [
        *['{"action":"play","content":"breathing-meadow","volume":0}', '{"action":"stop"}'] * 3,
        '{"action":"stop"}',
    ]
    device_id, refusal = parts.safety.reports[-1]
    assert (device_id, refusal.rules) == ("headset", (Rule.FLASH_RATE,))
    assert refusal.reason is not None
    assert refusal.reason.startswith("headset: content played now would flash it; "), refusal
    # still for a second: the next play passes
    assert parts.output.vr("headset", play, 1.5).status is Status.OK


def test_a_vr_screen_s_brightness_counts_when_it_shows_and_is_kept_for_the_next_play(
    parts: RoomParts,
) -> None:
    """Dimmed while nothing shows, the screen lights to that brightness when content plays:
    the play is the change the gate judges (a 5 % screen lit and darkened is no flash)."""
    dim = VrCommand("brightness", level=0.05)
    play = VrCommand("play", "breathing-meadow", 0.0)
    for n in range(4):
        assert parts.output.vr("headset", dim, n * 0.1).status is Status.OK
        assert parts.output.vr("headset", play, n * 0.1 + 0.02).status is Status.OK
        assert parts.output.vr("headset", VrCommand("stop"), n * 0.1 + 0.05).status is Status.OK
    # shown: a swing to full and back to dim, faster than the flash rate, is refused
    parts.output.vr("headset", play, 0.5)
    swings = [
        parts.output.vr("headset", VrCommand("brightness", level=level), 0.5 + n * 0.05).status
        for n, level in enumerate([1.0, 0.05] * 3)
    ]
    assert Status.REFUSED in swings


# ---------------------------------------------------------------------------- the journal


def test_each_message_sent_is_journaled_as_a_command_with_its_topic_and_device(
    parts: RoomParts,
) -> None:
    parts.output.light("floor-lamp", LightCommand(level=0.4), 0.0)
    parts.output.vr("headset", VrCommand("stop"), 0.0)
    parts.output.bls_start("tappers", TAPPER_SET, 0.0)
    parts.output.query("ceiling")
    sent = parts.take()
    assert [topic for topic, _ in sent] == [
        FLOOR_LAMP,
        HEADSET,
        TAPPERS,
        "zigbee2mqtt/ceiling_light/get",
    ]
    devices = ["floor-lamp", "headset", "tappers", "ceiling"]
    assert parts.journal.events == [
        Recorded("command", {"payload": payload}, device=device, topic=topic)
        for (topic, payload), device in zip(sent, devices, strict=True)
    ]


def test_a_refusal_and_a_silent_channel_leave_nothing_in_the_journal(parts: RoomParts) -> None:
    latched(parts).output.light("ceiling", LightCommand(on=False), 0.0)
    parts.output.silenced(MUSIC, 0.0)
    assert parts.journal.events == []


# ---------------------------------------------------------------------------- what goes out


def test_device_topics_are_every_command_query_and_measure_topic_of_the_room(
    parts: RoomParts,
) -> None:
    assert parts.output.device_topics() == {
        CEILING,
        "zigbee2mqtt/ceiling_light/get",
        FLOOR_LAMP,
        "cmnd/floorlamp/State",
        STRIP,
        HEADSET,
        TAPPERS,
        "bls/lightbar/set",
        "vitals/bp-cuff/set",
    }


def test_a_cuff_is_asked_to_measure_through_the_path_even_while_latched(
    parts: RoomParts,
) -> None:
    assert latched(parts).output.measure("bp-cuff")
    [message] = parts.output.take()
    assert (message.topic, message.payload, message.passed_the_gate()) == (
        "vitals/bp-cuff/set",
        '{"measure":true}',
        True,
    )
    assert parts.journal.events == [
        Recorded(
            "command", {"payload": '{"measure":true}'}, device="bp-cuff", topic="vitals/bp-cuff/set"
        )
    ]


def test_a_sensor_that_cannot_be_asked_gets_nothing(parts: RoomParts) -> None:
    assert not parts.output.measure("oximeter")
    assert parts.output.take() == []
    assert parts.journal.events == []


def test_a_lights_message_is_keyed_by_its_topic_vr_and_bls_ones_are_not(
    parts: RoomParts,
) -> None:
    parts.output.light("ceiling", LightCommand(level=0.3), 0.0)
    parts.output.vr("headset", VrCommand("stop"), 0.0)
    parts.output.bls_stop("tappers", 0.0)
    messages = parts.output.take()
    assert [(m.topic, m.key) for m in messages] == [
        (CEILING, CEILING),
        (HEADSET, None),
        (TAPPERS, None),
    ]
    assert all(m.passed_the_gate() and m.qos == 1 and not m.retain for m in messages)
    assert parts.output.take() == []


# ---------------------------------------------------------------------------- waiting


def test_a_shelly_s_state_query_and_its_command_both_survive_the_wait_for_the_broker(
    parts: RoomParts,
) -> None:
    """A Shelly takes its commands and its `GetStatus` on one RPC topic. While the broker is
    away the bus keeps the latest message per key (controller/bus/outbox.py); a query with
    the command's key would be replaced by the target sent after it, and the engine would
    never hear the lamp's state after the broker came back."""
    shelly = make_driver(device("shelly", topic="shelly-lamp"))
    output = RoomOutput(
        {"lamp": shelly},
        parts.gate,
        time_scale=1.0,
        record=parts.journal,
        on_safety=parts.safety,
    )
    output.query("lamp")  # the broker is back: ask, then send the target again
    output.light("lamp", LightCommand(level=0.4), 0.0)
    output.light("lamp", LightCommand(level=0.6), 0.1)
    waiting = Outbox(1000)
    for message in output.take():
        waiting.put(Pending(message.topic, message.payload.encode(), 1, False), key=message.key)

    delivered = [message.payload.decode() for _, message in waiting.take(len(waiting), now=0.0)]
    assert [("GetStatus" in text, '"brightness":60' in text) for text in delivered] == [
        (True, False),
        (False, True),
    ], delivered
