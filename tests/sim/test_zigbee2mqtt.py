"""A simulated Zigbee2MQTT light, stepped tick by tick on an injected clock."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from controller.sim.zigbee2mqtt import Zigbee2MqttLight
from tests.sim.support import json_of, make_device

STATE = "zigbee2mqtt/lamp"
SET = "zigbee2mqtt/lamp/set"


@pytest.fixture
def light() -> Zigbee2MqttLight:
    return Zigbee2MqttLight(make_device("zigbee2mqtt", "lamp", kelvin_range=(2000, 6500), rgb=True))


def send(
    light: Zigbee2MqttLight, message: object, now: float, topic: str = SET
) -> list[dict[str, Any]]:
    payload = message if isinstance(message, bytes) else json.dumps(message).encode()
    return json_of(light.handle(topic, payload, now), STATE)


def test_speaks_zigbee2mqtt_topics(light: Zigbee2MqttLight) -> None:
    assert light.availability.topic == "zigbee2mqtt/lamp/availability"
    assert light.availability.online == '{"state":"online"}'
    assert light.availability.offline == '{"state":"offline"}'
    assert light.subscriptions() == [
        SET,
        f"{SET}/+",
        "zigbee2mqtt/lamp/get",
        "zigbee2mqtt/lamp/get/+",
    ]
    assert json_of(light.connected(0.0), STATE) == [
        {"state": "OFF", "brightness": 254, "color_mode": "color_temp", "color_temp": 500}
    ]


def test_transition_from_0_to_254_over_2_s_reports_exact_levels_every_half_second(
    light: Zigbee2MqttLight,
) -> None:
    optimistic = send(light, {"brightness": 254, "transition": 2}, now=10.0)
    assert [(s["state"], s["brightness"]) for s in optimistic] == [("ON", 254)]

    assert light.tick(10.25) == []
    assert light.brightness(10.25) == 32  # 254 × 0.125 = 31.75
    reports = {t: json_of(light.tick(t), STATE) for t in (10.5, 10.75, 11.0, 11.5, 12.0, 12.5)}
    assert [r[0]["brightness"] for r in reports.values() if r] == [64, 127, 191, 254]
    assert reports[10.75] == [] and reports[12.5] == []
    assert reports[12.0][0]["state"] == "ON"


def test_off_with_transition_fades_down_then_reports_off(light: Zigbee2MqttLight) -> None:
    send(light, {"state": "ON", "brightness": 200}, now=0.0)
    assert send(light, {"state": "OFF", "transition": 1}, now=5.0)[0]["state"] == "OFF"
    assert [(s["state"], s["brightness"]) for s in json_of(light.tick(5.5), STATE)] == [("ON", 100)]
    final = json_of(light.tick(6.0), STATE)
    assert [(s["state"], s["brightness"]) for s in final] == [("OFF", 200)]
    assert not light.on
    restored = send(light, b"ON", now=7.0)
    assert [(s["state"], s["brightness"]) for s in restored] == [("ON", 200)]
    assert light.brightness(7.0) == 200


def test_plain_on_off_and_toggle_words_are_accepted(light: Zigbee2MqttLight) -> None:
    assert send(light, b"ON", now=0.0)[0]["state"] == "ON"
    assert send(light, b"toggle", now=1.0)[0]["state"] == "OFF"
    assert send(light, {"state": "TOGGLE"}, now=2.0)[0]["state"] == "ON"
    assert send(light, {"state": "off"}, now=3.0)[0]["state"] == "OFF"


def test_brightness_0_turns_the_light_off_and_255_means_254(light: Zigbee2MqttLight) -> None:
    assert send(light, {"brightness": 255}, now=0.0)[0]["brightness"] == 254
    off = send(light, {"brightness": 0}, now=1.0)
    assert (off[0]["state"], off[0]["brightness"]) == ("OFF", 0)
    assert not light.on


def test_brightness_out_of_range_or_unreadable_is_refused_and_logged(
    light: Zigbee2MqttLight, caplog: pytest.LogCaptureFixture
) -> None:
    send(light, {"state": "ON", "brightness": 100}, now=0.0)
    with caplog.at_level(logging.WARNING, "controller.sim"):
        assert send(light, {"brightness": 300}, now=1.0) == []
        assert send(light, {"brightness": "lots"}, now=1.0) == []
        assert send(light, {"state": "MAYBE"}, now=1.0) == []
    assert light.brightness(1.0) == 100
    assert "brightness outside 0–254" in caplog.text
    assert "not ON, OFF or TOGGLE" in caplog.text


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe\x00", b"nonsense", b"", b"[1, 2, 3]", b"42", b'{"brightness": 10'],
)
def test_garbage_is_ignored_without_a_crash(light: Zigbee2MqttLight, payload: bytes) -> None:
    assert light.handle(SET, payload, 0.0) == []
    assert not light.on


def test_color_temp_is_clamped_to_the_lights_range_and_presets_are_known(
    light: Zigbee2MqttLight,
) -> None:
    assert send(light, {"color_temp": 100}, now=0.0)[0]["color_temp"] == 154  # 6500 K
    assert send(light, {"color_temp": 900}, now=1.0)[0]["color_temp"] == 500  # 2000 K
    assert send(light, {"color_temp": "neutral"}, now=2.0)[0]["color_temp"] == 370
    assert send(light, {"color_temp": "coolest"}, now=3.0)[0]["color_temp"] == 154


def test_color_temp_transition_reports_intermediate_mireds(light: Zigbee2MqttLight) -> None:
    send(light, {"state": "ON", "color_temp": 500}, now=0.0)
    send(light, {"color_temp": 154, "transition": 1}, now=1.0)
    assert [s["color_temp"] for s in json_of(light.tick(1.5), STATE)] == [327]
    assert [s["color_temp"] for s in json_of(light.tick(2.0), STATE)] == [154]


def test_colours_in_every_documented_form(light: Zigbee2MqttLight) -> None:
    red = {"color_mode": "xy", "color": {"x": 0.7006, "y": 0.2993}}
    for colour in ({"hex": "#FF0000"}, {"r": 255, "g": 0, "b": 0}, {"x": 0.7006, "y": 0.2993}):
        published = send(light, {"color": colour}, now=0.0)[0]
        assert {k: published[k] for k in ("color_mode", "color")} == red
    hue = send(light, {"color": {"hue": 120, "saturation": 100}}, now=1.0)[0]
    assert (hue["color_mode"], hue["color"]) == ("hs", {"hue": 120, "saturation": 100})


def test_a_light_without_rgb_ignores_colour_and_one_without_ct_ignores_color_temp() -> None:
    plain = Zigbee2MqttLight(make_device("zigbee2mqtt", "lamp"))
    assert plain.handle(SET, b'{"color": {"hex": "#FF0000"}, "color_temp": 300}', 0.0) == []
    assert "color" not in plain.reported and "color_temp" not in plain.reported


def test_get_reads_the_bulb_back_during_a_transition(light: Zigbee2MqttLight) -> None:
    send(light, {"brightness": 254, "transition": 2}, now=0.0)
    assert light.reported["brightness"] == 254  # optimistic
    read = json_of(light.handle("zigbee2mqtt/lamp/get", b'{"brightness": ""}', 1.0), STATE)
    assert read[0]["brightness"] == 127


def test_attribute_topics_set_one_value(light: Zigbee2MqttLight) -> None:
    assert send(light, b"100", now=0.0, topic=f"{SET}/brightness")[0]["brightness"] == 100
    assert light.on


def test_effects_are_not_simulated_and_say_so(
    light: Zigbee2MqttLight, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "controller.sim"):
        assert send(light, {"effect": "blink"}, now=0.0) == []
    assert "effect" in caplog.text
