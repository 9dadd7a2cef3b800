"""The lights (`LightControl`) on the example room's Zigbee, Tasmota and WLED lights, tick by tick.

A light the device can fade natively gets one message with the device's own transition; a
longer fade is stepped by the engine at most 4 times per real second; a change the gate
refuses stays wanted, is journaled once and goes out when the gate lets it; the emergency's
lights-up is one message per light, never longer than the light fades natively.
"""

from __future__ import annotations

import pytest

from controller.drivers.base import LightCommand
from controller.engine.safety import Rule, Status
from controller.engine.targets import LightTarget, scene_targets
from tests.engine.room_parts import (
    CEILING,
    FLOOR_LAMP,
    STRIP,
    RoomParts,
    payloads,
    ticks,
)
from tests.engine.test_engine import z2m


def at(level: float, kelvin: int | None = None) -> LightTarget:
    return LightTarget(on=True, level=level, kelvin=kelvin)


TASMOTA_FADE = "NoDelay;Fade 1;NoDelay;SetOption117 1;NoDelay;Speed2"


def floor_lamp_fading_up(parts: RoomParts) -> None:
    """The floor lamp at 10 %, then from real second 1 to 100 % over 22.5 real seconds:
    longer than Tasmota fades by itself (20 s), 1 % every quarter of a second."""
    parts.lights.want("floor-lamp", at(0.1), 0.0)
    assert parts.tick(0.0) == [(FLOOR_LAMP, "NoDelay;Fade 0;NoDelay;Dimmer 10")]
    parts.lights.want("floor-lamp", at(1.0), 22.5 * parts.scale)


def dimmer(backlog: str) -> int:
    return int(backlog.rsplit("NoDelay;Dimmer ", 1)[1])


@pytest.mark.parametrize(
    ("device_id", "topic", "level", "transition_s", "payload"),
    [
        ("ceiling", CEILING, 0.3, 20.0, z2m(76, transition=20.0)),
        ("strip", STRIP, 0.3, 60.0, '{"on":true,"bri":77,"seg":[{"fx":0}],"tt":600}'),
        ("floor-lamp", FLOOR_LAMP, 0.6, 4.0, f"{TASMOTA_FADE} 8;NoDelay;Dimmer 60"),
        # Tasmota fades any change in up to 20 s by itself.
        ("floor-lamp", FLOOR_LAMP, 0.45, 20.0, f"{TASMOTA_FADE} 40;NoDelay;Dimmer 45"),
    ],
)
def test_a_fade_the_light_does_natively_is_one_message_with_its_transition(
    parts: RoomParts,
    device_id: str,
    topic: str,
    level: float,
    transition_s: float,
    payload: str,
) -> None:
    parts.lights.want(device_id, at(0.4), 0.0)
    parts.tick(0.0)
    parts.lights.want(device_id, at(level), transition_s)
    assert parts.run(ticks(1.0, 1.0 + transition_s + 2.0)) == [(1.0, topic, payload)]


def test_a_fade_longer_than_tasmota_does_is_stepped_a_percent_at_a_time(
    parts: RoomParts,
) -> None:
    floor_lamp_fading_up(parts)
    sent = parts.run(ticks(1.0, 25.0))
    assert [now for now, _, _ in sent] == ticks(1.25, 23.5)
    assert payloads(sent, FLOOR_LAMP) == [
        f"{TASMOTA_FADE} 1;NoDelay;Dimmer {d}"
        for d in range(11, 101)  # each over 0.25 s
    ]
    assert parts.lights.level("floor-lamp", 11.0) == pytest.approx(0.5)
    assert parts.safety.reports == []


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_a_stepped_fade_sends_at_most_4_messages_per_real_second(scale: float) -> None:
    parts = RoomParts(scale=scale)
    floor_lamp_fading_up(parts)
    real_ticks = [index / 20 for index in range(20, 511)]  # 20 a real second, 1 s to 25.5 s
    sent = parts.run([real * scale for real in real_ticks])
    sent_at = [round(now / scale * 20) for now, _, _ in sent]  # as tick indices
    assert sent_at == list(range(21, 472, 5))
    assert dimmer(sent[-1][2]) == 100


def test_a_colour_change_on_a_stepped_fade_goes_at_once_and_the_level_is_stepped(
    parts: RoomParts,
) -> None:
    parts.lights.want("floor-lamp", at(0.1, kelvin=2700), 0.0)
    parts.tick(0.0)
    parts.lights.want("floor-lamp", at(1.0, kelvin=4000), 22.5)
    sent = payloads(parts.run(ticks(1.0, 25.0)), FLOOR_LAMP)
    assert sent[0] == f"{TASMOTA_FADE} 40;NoDelay;CT 250;NoDelay;Dimmer 10"  # over 20 s
    assert [dimmer(backlog) for backlog in sent[1:]] == list(range(11, 101))
    assert not any("CT" in backlog for backlog in sent[1:])


def test_a_change_the_gate_refuses_is_journaled_once_and_sent_when_it_may(
    parts: RoomParts,
) -> None:
    for n in range(5):  # the ceiling flashed: its flash budget of the second is used up
        parts.output.light("ceiling", LightCommand(level=n % 2), n * 0.1)
    parts.take()
    parts.lights.want("ceiling", at(1.0), 0.0)
    assert parts.run(ticks(0.5, 2.0)) == [(1.25, CEILING, z2m(254, transition=0.0))]
    [(device_id, refusal)] = parts.safety.reports
    assert device_id == "ceiling"
    assert (refusal.status, refusal.rules) == (Status.REFUSED, (Rule.FLASH_RATE,))
    assert refusal.reason is not None and refusal.reason.endswith(
        "nothing was sent and it stays at 0 %"
    )


def test_a_light_the_latch_holds_up_is_journaled_once_and_goes_down_after(
    parts: RoomParts,
) -> None:
    parts.output.engage_latch({"ceiling": 0.8})
    parts.lights.want("ceiling", at(0.3), 0.0)
    assert parts.run(ticks(0.0, 3.0)) == []
    assert [rules for _, verdict in parts.safety.reports for rules in verdict.rules] == [
        Rule.EMERGENCY_LATCH
    ]
    parts.output.release_latch()
    assert parts.tick(3.25) == [(CEILING, z2m(76, transition=0.0))]


def test_the_lights_up_is_one_message_per_light_within_each_lights_native_fade(
    parts: RoomParts,
) -> None:
    parts.lights.want("ceiling", at(0.3, kelvin=2700), 0.0)
    parts.lights.want("floor-lamp", at(0.75, kelvin=4000), 0.0)
    parts.tick(0.0)
    safe = scene_targets(parts.room, parts.room.scenes["lights-up"])
    parts.lights.lights_up(
        {key: target for key, target in safe.items() if isinstance(target, LightTarget)},
        3.0,
        1.0,
    )
    assert parts.take() == [
        (CEILING, z2m(203, color_temp=250, transition=3.0)),
        # wherever the lamp is, it arrives in 3 s: Tasmota fades at a fixed duration
        (FLOOR_LAMP, f"{TASMOTA_FADE} 6;NoDelay;CT 250;NoDelay;Dimmer 80"),
        (STRIP, '{"on":true,"bri":153,"seg":[{"fx":0,"col":[[255,255,255]]}],"tt":30}'),
    ]
    assert parts.lights.transitions == {
        "ceiling": 3.0,
        "floor-lamp": 3.0,
        "strip": 3.0,
    }
    assert parts.run(ticks(1.25, 6.0)) == []  # nothing stepped, nothing sent again


def test_an_override_sets_the_level_keeps_the_colour_and_clearing_it_goes_back(
    parts: RoomParts,
) -> None:
    parts.lights.want("ceiling", at(0.3, kelvin=2700), 0.0)
    assert parts.tick(0.0) == [(CEILING, z2m(76, color_temp=370, transition=0.0))]
    parts.lights.override("ceiling", 0.6, 1.0)
    assert parts.tick(1.0) == [(CEILING, z2m(152, color_temp=370, transition=1.0))]
    assert parts.tick(1.25) == []
    parts.lights.overrides.clear()
    assert parts.tick(3.0) == [(CEILING, z2m(76, color_temp=370, transition=1.0))]


@pytest.mark.parametrize(
    ("level", "payload"),
    [
        (1.5, '{"on":true,"bri":255,"seg":[{"fx":0}],"tt":10}'),
        (0.0, '{"on":false,"tt":10}'),
    ],
)
def test_an_override_is_held_to_0_to_100_percent_and_needs_no_scene_target(
    parts: RoomParts, level: float, payload: str
) -> None:
    parts.lights.override("strip", level, 1.0)
    assert parts.tick(0.0) == [(STRIP, payload)]
    assert parts.lights.overrides == {"strip": min(level, 1.0)}


def test_a_forgotten_light_gets_its_target_again(parts: RoomParts) -> None:
    parts.lights.want("ceiling", at(0.3), 0.0)
    parts.tick(0.0)
    assert parts.tick(1.0) == []
    parts.lights.forget("ceiling")
    assert parts.tick(2.0) == [(CEILING, z2m(76, transition=0.0))]
