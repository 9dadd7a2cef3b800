"""What every driver shares: command validation, availability forms, size limit, make_driver."""

from __future__ import annotations

import json
import math
import sys

import pytest

from controller.drivers import (
    Availability,
    BlsCommand,
    Driver,
    LightCommand,
    LightDriver,
    Outgoing,
    Reception,
    VrCommand,
    make_driver,
)
from controller.drivers.conversions import (
    clamp_kelvin,
    kelvin_from_mireds,
    mireds,
    round_half_up,
    tenths_of_seconds,
    to_scale,
)
from controller.drivers.mqtt_bls import MqttBls
from controller.drivers.mqtt_vitals import MqttVitals
from controller.drivers.mqtt_vr import MqttVr
from controller.drivers.payloads import MAX_PAYLOAD_BYTES
from controller.drivers.shelly import ShellyLight
from controller.drivers.tasmota import TasmotaLight
from controller.drivers.wled import WledLight
from controller.drivers.zigbee2mqtt import Zigbee2MqttLight
from tests.drivers.devices import device

ALL_DRIVERS = ["zigbee2mqtt", "tasmota", "wled", "shelly", "mqtt-vr", "mqtt-bls", "mqtt-vitals"]


def driver_for(name: str) -> Driver:
    return make_driver(device(name))


# --------------------------------------------------------------------------- commands


@pytest.mark.parametrize(
    "fields",
    [
        {"level": -0.01},
        {"level": 1.01},
        {"level": math.nan},
        {"level": math.inf},
        {"level": True},
        {"kelvin": 0},
        {"kelvin": 2700.0},
        {"kelvin": True},
        {"rgb": (256, 0, 0)},
        {"rgb": (1, 2)},
        {"rgb": (1.0, 2, 3)},
        {"kelvin": 2700, "rgb": (1, 2, 3)},
        {"transition_s": -1.0},
        {"transition_s": math.nan},
        {"transition_s": math.inf},
    ],
)
def test_a_light_command_out_of_its_units_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LightCommand(**fields)  # type: ignore[arg-type]


def test_a_light_command_accepts_the_boundaries() -> None:
    LightCommand(level=0.0)
    LightCommand(level=1.0, kelvin=1, transition_s=0)
    LightCommand(rgb=(0, 255, 0))


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "play"},
        {"action": "play", "content": ""},
        {"action": "pause", "volume": 0.5},
        {"action": "stop", "content": "forest"},
        {"action": "brightness"},
        {"action": "play", "content": "forest", "level": 0.5},
        {"action": "play", "content": "forest", "volume": 1.5},
        {"action": "brightness", "level": math.nan},
        {"action": "rewind"},
    ],
)
def test_a_vr_command_that_does_not_fit_its_action_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        VrCommand(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"mode": "audio"},
        {"speed_hz": 0},
        {"speed_hz": math.nan},
        {"speed_hz": math.inf},
        {"intensity": 1.2},
        {"passes": 0},
        {"passes": True},
        {"duration_s": -5},
        {"colour": "red"},
        {"colour": "#12345"},
    ],
)
def test_a_bls_command_out_of_its_units_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BlsCommand(running=True, **fields)  # type: ignore[arg-type]


def test_an_outgoing_message_has_a_real_qos_and_is_not_retained_by_default() -> None:
    assert Outgoing("t", "p") == Outgoing("t", "p", retain=False, qos=1)
    with pytest.raises(ValueError):
        Outgoing("t", "p", qos=3)


# --------------------------------------------------------------------------- make_driver


@pytest.mark.parametrize(
    ("name", "driver_class"),
    [
        ("zigbee2mqtt", Zigbee2MqttLight),
        ("tasmota", TasmotaLight),
        ("wled", WledLight),
        ("shelly", ShellyLight),
        ("mqtt-vr", MqttVr),
        ("mqtt-bls", MqttBls),
        ("mqtt-vitals", MqttVitals),
    ],
)
def test_make_driver_picks_the_protocol_of_the_device(name: str, driver_class: type) -> None:
    built = driver_for(name)
    assert type(built) is driver_class
    assert built.device.driver == name


@pytest.mark.parametrize(("name", "kind"), [("vlc", "music"), ("tones", "bls")])
def test_make_driver_refuses_devices_rendered_on_the_room_pc(name: str, kind: str) -> None:
    from controller.config.models import Device

    local = Device(id="local", kind=kind, driver=name)
    with pytest.raises(ValueError, match="rendered on the room PC"):
        make_driver(local)


def test_a_shelly_light_with_a_colour_temperature_range_is_refused() -> None:
    with pytest.raises(ValueError, match="no colour temperature"):
        make_driver(device("shelly", kelvin_range=(2700, 6500)))


# --------------------------------------------------------------------------- availability

AVAILABILITY_FORMS = [
    (b'{"state":"online"}', Availability.ONLINE),  # Zigbee2MQTT 2.x
    (b'{"state":"offline"}', Availability.OFFLINE),
    (b"online", Availability.ONLINE),  # Zigbee2MQTT 1.x, WLED, ours
    (b"offline", Availability.OFFLINE),
    (b"Online", Availability.ONLINE),  # Tasmota LWT
    (b"Offline", Availability.OFFLINE),
    (b"true", Availability.ONLINE),  # Shelly Gen2
    (b"false", Availability.OFFLINE),
    (b" ONLINE\n", Availability.ONLINE),
    (b'"offline"', Availability.OFFLINE),
    (b"", Availability.UNKNOWN),  # a cleared retained message
]


@pytest.mark.parametrize("name", ALL_DRIVERS)
def test_a_device_without_an_availability_message_is_unknown_never_online(name: str) -> None:
    assert driver_for(name).availability is Availability.UNKNOWN


@pytest.mark.parametrize("name", ALL_DRIVERS)
@pytest.mark.parametrize(("payload", "expected"), AVAILABILITY_FORMS)
def test_every_availability_form_is_understood(
    name: str, payload: bytes, expected: Availability
) -> None:
    driver = driver_for(name)
    if expected is Availability.UNKNOWN:
        driver.receive(driver.availability_topic(), b"online")
    reception = driver.receive(driver.availability_topic(), payload)
    assert reception == Reception("availability", {"available": expected.value})
    assert driver.availability is expected


@pytest.mark.parametrize("name", ALL_DRIVERS)
@pytest.mark.parametrize(
    "payload",
    [b"maybe", b"1", b'{"status":"online"}', b'{"state":true}', b"[1]", b"\xff\xfe", b"{"],
)
def test_an_unreadable_availability_is_an_error_and_changes_nothing(
    name: str, payload: bytes
) -> None:
    driver = driver_for(name)
    driver.receive(driver.availability_topic(), b"online")
    reception = driver.receive(driver.availability_topic(), payload)
    assert reception is not None and reception.kind == "error"
    assert reception.data["error"].startswith(driver.availability_topic() + ": ")
    assert driver.availability is Availability.ONLINE


# --------------------------------------------------------------------------- receive


@pytest.mark.parametrize("name", ALL_DRIVERS)
def test_a_message_on_another_topic_is_not_for_this_driver(name: str) -> None:
    driver = driver_for(name)
    assert driver.receive("someone/else/state", b'{"state":"ON"}') is None
    assert driver.state == {}


@pytest.mark.parametrize("name", ALL_DRIVERS)
def test_a_payload_over_64_kib_is_refused_unread(name: str) -> None:
    driver = driver_for(name)
    topic = driver.state_topics()[0]
    reception = driver.receive(topic, b" " * (MAX_PAYLOAD_BYTES + 1))
    assert reception == Reception(
        "error", {"error": f"{topic}: payload of 65537 bytes is larger than 64 KiB"}
    )


def test_a_payload_of_exactly_64_kib_is_still_read() -> None:
    driver = driver_for("mqtt-vitals")
    reading = json.dumps({"hr": 61}).encode()
    payload = reading + b" " * (MAX_PAYLOAD_BYTES - len(reading))
    assert len(payload) == MAX_PAYLOAD_BYTES
    assert driver.receive(driver.state_topics()[0], payload) == Reception("state", {"hr": 61.0})


def test_the_state_in_a_reception_is_a_copy() -> None:
    driver = make_driver(device("zigbee2mqtt", rgb=True))
    reception = driver.receive(
        driver.state_topics()[0], b'{"state":"ON","color":{"r":1,"g":2,"b":3}}'
    )
    assert reception is not None
    reception.data["on"] = False
    reception.data["rgb"][0] = 99
    assert driver.state == {"on": True, "rgb": [1, 2, 3]}


def test_subscriptions_are_the_availability_then_the_state_topics() -> None:
    driver = driver_for("mqtt-vr")
    assert driver.subscriptions() == [
        f"vr/{driver.topic}/availability",
        f"vr/{driver.topic}/state",
    ]


# --------------------------------------------------------------------------- conversions


@pytest.mark.parametrize(("value", "expected"), [(2.5, 3), (3.5, 4), (2.49, 2), (0.0, 0)])
def test_halves_round_up_not_to_even(value: float, expected: int) -> None:
    assert round_half_up(value) == expected


@pytest.mark.parametrize(
    ("level", "top", "expected"),
    [(0.0, 254, 0), (1.0, 254, 254), (0.5, 255, 128), (0.25, 254, 64), (1.0, 100, 100)],
)
def test_a_level_lands_on_the_device_scale(level: float, top: int, expected: int) -> None:
    assert to_scale(level, top) == expected


def test_mireds_are_a_million_over_kelvin_clamped_to_the_light() -> None:
    assert mireds(2700, (2000, 6500)) == 370
    assert mireds(1500, (2000, 6500)) == 500
    assert mireds(10000, (2000, 6500)) == 154
    assert mireds(10000, (1000, 20000), (153, 500)) == 153
    assert kelvin_from_mireds(325) == 3077


def test_kelvin_is_clamped_to_the_light_and_the_protocol() -> None:
    assert clamp_kelvin(1500, (1000, 20000), (1900, 10091)) == 1900
    assert clamp_kelvin(12000, (2000, 6500), None) == 6500
    assert clamp_kelvin(3000, (2000, 6500), (1900, 10091)) == 3000


def test_fade_seconds_go_to_tenths_under_a_cap() -> None:
    assert tenths_of_seconds(2.25, 60) == 2.3
    assert tenths_of_seconds(0, 60) == 0.0
    assert tenths_of_seconds(100, 65.5) == 65.5
    assert tenths_of_seconds(math.inf, 60) == 60.0


def test_a_fade_too_long_for_tenths_is_kept_as_it_is() -> None:
    longest = sys.float_info.max
    assert tenths_of_seconds(longest, math.inf) == longest
    assert tenths_of_seconds(1e15, math.inf) == 1e15
    assert tenths_of_seconds(123456.25, math.inf) == 123456.3


@pytest.mark.parametrize("name", ["zigbee2mqtt", "tasmota", "wled", "shelly"])
def test_the_longest_fade_a_light_command_takes_is_sent(name: str) -> None:
    driver = make_driver(device(name))
    assert isinstance(driver, LightDriver)
    (message,) = driver.command(LightCommand(level=0.5, transition_s=sys.float_info.max))
    assert message.payload


def test_a_tasmota_fade_over_a_tiny_change_gets_the_slowest_speed() -> None:
    driver = make_driver(device("tasmota"))
    assert isinstance(driver, TasmotaLight)
    driver.receive(f"stat/{driver.topic}/RESULT", b'{"POWER":"ON","Dimmer":50}')
    (message,) = driver.command(LightCommand(level=0.5 + 1e-16, transition_s=1e300))
    assert "Speed2 40;" in message.payload
