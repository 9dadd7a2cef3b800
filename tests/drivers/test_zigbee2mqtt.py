"""Zigbee2MQTT: exact /set payloads, state and availability (mqtt_topics_and_messages.md)."""

from __future__ import annotations

import pytest

from controller.drivers import Availability, LightCommand, Outgoing, Reception
from controller.drivers.zigbee2mqtt import MAX_TRANSITION_S, Zigbee2MqttLight
from tests.drivers.devices import device


def light(**fields: object) -> Zigbee2MqttLight:
    return Zigbee2MqttLight(device("zigbee2mqtt", topic="ceiling", **fields))


def set_payload(target: LightCommand, **fields: object) -> str:
    (message,) = light(**fields).command(target)
    assert message.topic == "zigbee2mqtt/ceiling/set"
    assert message.retain is False
    return message.payload


# --------------------------------------------------------------------------- commands


def test_a_full_command_carries_state_brightness_mireds_and_transition() -> None:
    target = LightCommand(level=0.35, kelvin=2700, transition_s=8)
    assert (
        set_payload(target, kelvin_range=(2000, 6500))
        == '{"state":"ON","brightness":89,"color_temp":370,"transition":8.0}'
    )


@pytest.mark.parametrize(("level", "brightness"), [(1.0, 254), (0.5, 127), (0.25, 64), (0.002, 1)])
def test_level_becomes_brightness_0_to_254(level: float, brightness: int) -> None:
    assert set_payload(LightCommand(level=level)) == (
        f'{{"state":"ON","brightness":{brightness},"transition":0.0}}'
    )


@pytest.mark.parametrize("level", [0.0, 0.001])
def test_a_level_that_rounds_to_zero_turns_the_light_off(level: float) -> None:
    assert set_payload(LightCommand(level=level, transition_s=2)) == (
        '{"state":"OFF","transition":2.0}'
    )


def test_off_fades_out_over_the_transition_and_sends_nothing_else() -> None:
    target = LightCommand(on=False, level=0.8, kelvin=3000, transition_s=2.5)
    assert set_payload(target, kelvin_range=(2000, 6500)) == '{"state":"OFF","transition":2.5}'


def test_on_without_a_level_keeps_the_light_s_own_brightness() -> None:
    assert set_payload(LightCommand()) == '{"state":"ON","transition":0.0}'


@pytest.mark.parametrize(
    ("kelvin", "color_temp"), [(6500, 154), (2000, 500), (1500, 500), (9000, 154), (4000, 250)]
)
def test_kelvin_becomes_mireds_clamped_to_the_light_s_range(kelvin: int, color_temp: int) -> None:
    target = LightCommand(level=1.0, kelvin=kelvin)
    assert set_payload(target, kelvin_range=(2000, 6500)) == (
        f'{{"state":"ON","brightness":254,"color_temp":{color_temp},"transition":0.0}}'
    )


def test_rgb_goes_as_a_color_object() -> None:
    assert set_payload(LightCommand(rgb=(255, 160, 0), transition_s=1.25), rgb=True) == (
        '{"state":"ON","color":{"r":255,"g":160,"b":0},"transition":1.3}'
    )


def test_a_transition_beyond_zigbee_s_16_bit_tenths_is_capped() -> None:
    assert light().native_fade_s() == MAX_TRANSITION_S == 6553.4
    assert set_payload(LightCommand(level=1.0, transition_s=10_000)) == (
        '{"state":"ON","brightness":254,"transition":6553.4}'
    )


def test_a_colour_the_light_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="no colour temperature"):
        light().command(LightCommand(kelvin=2700))
    with pytest.raises(ValueError, match="takes no RGB"):
        light().command(LightCommand(rgb=(1, 2, 3)))


def test_query_asks_the_light_for_its_state() -> None:
    assert light().query() == [Outgoing("zigbee2mqtt/ceiling/get", '{"state":""}')]


def test_it_listens_to_the_light_its_availability_and_the_bridge() -> None:
    assert light().subscriptions() == [
        "zigbee2mqtt/ceiling/availability",
        "zigbee2mqtt/bridge/state",
        "zigbee2mqtt/ceiling",
    ]


def test_a_light_on_another_base_topic_uses_it_for_every_topic() -> None:
    """Two Zigbee2MQTT instances (two rooms, two coordinators) each have their own base:
    a light listens to its own instance's bridge state only, and is commanded under it."""
    driver = light(base_topic="room-b_z2m")
    assert driver.subscriptions() == [
        "room-b_z2m/ceiling/availability",
        "room-b_z2m/bridge/state",
        "room-b_z2m/ceiling",
    ]
    assert driver.command(LightCommand())[0].topic == "room-b_z2m/ceiling/set"
    assert driver.query()[0].topic == "room-b_z2m/ceiling/get"
    driver.receive("room-b_z2m/ceiling/availability", b'{"state":"online"}')
    assert driver.receive("zigbee2mqtt/bridge/state", b'{"state":"offline"}') is None
    assert driver.availability is Availability.ONLINE
    driver.receive("room-b_z2m/bridge/state", b'{"state":"offline"}')
    assert driver.availability is Availability.OFFLINE


# --------------------------------------------------------------------------- state


def test_the_documented_state_example_is_read() -> None:
    driver = light(kelvin_range=(2000, 6500))
    # Zigbee2MQTT docs, mqtt_topics_and_messages.md (IKEA LED1545G12 example).
    reception = driver.receive(
        "zigbee2mqtt/ceiling", b'{"state":"ON","brightness":215,"color_temp":325}'
    )
    assert reception == Reception("state", {"on": True, "level": 215 / 254, "kelvin": 3077})


def test_partial_reports_merge_into_the_state() -> None:
    driver = light()
    driver.receive("zigbee2mqtt/ceiling", b'{"state":"ON","brightness":254,"linkquality":80}')
    driver.receive("zigbee2mqtt/ceiling", b'{"state":"OFF"}')
    assert driver.state == {"on": False, "level": 1.0}


def test_brightness_255_reads_as_full() -> None:
    driver = light()
    driver.receive("zigbee2mqtt/ceiling", b'{"brightness":255}')
    assert driver.state == {"level": 1.0}


def test_rgb_is_read_from_r_g_b_but_not_from_xy() -> None:
    driver = light(rgb=True)
    driver.receive("zigbee2mqtt/ceiling", b'{"color":{"x":0.31,"y":0.32}}')
    assert driver.state == {}
    driver.receive("zigbee2mqtt/ceiling", b'{"color":{"r":10,"g":20,"b":30}}')
    assert driver.state == {"rgb": [10, 20, 30]}


def test_a_report_with_nothing_about_the_light_is_ignored() -> None:
    assert light().receive("zigbee2mqtt/ceiling", b'{"linkquality":120,"update":{}}') is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"state":"MAYBE"}', "state 'MAYBE' is not ON or OFF"),
        (b'{"brightness":300}', "brightness 300 is outside 0–255"),
        (b'{"brightness":12.5}', "brightness 12.5 is not a whole number"),
        (b'{"brightness":"high"}', "brightness is a string, not a number"),
        (b'{"color_temp":0}', "color_temp 0 is outside 50–1000"),
        (b'{"color_temp":NaN}', "JSON constant NaN is not a number"),
        (b'{"color_temp":1e999}', "a number too large to be finite"),
        (b'{"color":"red"}', "color is not an object"),
        (b"[1,2]", "expected a JSON object, got an array"),
        (b"ON", "payload is not valid JSON"),
    ],
)
def test_a_bad_report_is_an_error_and_leaves_the_state(payload: bytes, reason: str) -> None:
    driver = light()
    driver.receive("zigbee2mqtt/ceiling", b'{"state":"ON","brightness":127}')
    reception = driver.receive("zigbee2mqtt/ceiling", payload)
    assert reception is not None and reception.kind == "error"
    assert reception.data["error"].startswith(f"zigbee2mqtt/ceiling: {reason}")
    assert driver.state == {"on": True, "level": 127 / 254}


# --------------------------------------------------------------------------- availability


def test_a_stopped_bridge_makes_the_light_offline_whatever_its_own_topic_says() -> None:
    driver = light()
    driver.receive("zigbee2mqtt/ceiling/availability", b'{"state":"online"}')
    assert driver.availability is Availability.ONLINE
    reception = driver.receive("zigbee2mqtt/bridge/state", b'{"state":"offline"}')
    assert reception == Reception("availability", {"available": "offline"})
    driver.receive("zigbee2mqtt/bridge/state", b"online")  # 1.x form
    assert driver.availability is Availability.ONLINE


def test_a_running_bridge_does_not_make_an_unheard_light_online() -> None:
    driver = light()
    driver.receive("zigbee2mqtt/bridge/state", b'{"state":"online"}')
    assert driver.availability is Availability.UNKNOWN
