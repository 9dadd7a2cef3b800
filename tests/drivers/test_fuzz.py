"""Fuzzing every driver: receive() answers only None or a Reception, never raises, and the state
stays valid; every light command stays inside the device's ranges and carries no effect.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.drivers import Driver, LightCommand, LightDriver, Reception, make_driver
from controller.drivers.mqtt_bls import MqttBls
from controller.drivers.mqtt_vitals import MEASURABLE, MqttVitals
from controller.drivers.mqtt_vr import STATUSES, MqttVr
from tests.drivers import strategies
from tests.drivers.devices import device

FUZZ_MESSAGES = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FUZZ_COMMANDS = settings(max_examples=40, deadline=None)

DEVICES: list[tuple[str, dict[str, Any]]] = [
    ("zigbee2mqtt", {"kelvin_range": (2000, 6500), "rgb": True}),
    ("tasmota", {"kelvin_range": (2000, 6500), "rgb": True}),
    ("wled", {"kelvin_range": (2700, 6500), "rgb": True}),
    ("shelly", {"rgb": True}),
    ("shelly", {}),
    ("mqtt-vr", {}),
    ("mqtt-bls", {}),
    ("mqtt-vitals", {}),
]
LIGHTS = [
    (name, fields)
    for name, fields in DEVICES
    if name in ("zigbee2mqtt", "tasmota", "wled", "shelly")
]

VOCABULARY = [
    # keys the drivers read, so fuzzed objects reach the parsers' value checks
    "state", "brightness", "color_temp", "color", "r", "g", "b", "x", "y",
    "POWER", "Dimmer", "CT", "Color", "Command",
    "id", "output", "rgb", "result", "error", "message",
    "status", "content", "position_s", "running", "pass", "speed_hz",
    "hr", "spo2", "sys", "dia", "ts",
]  # fmt: skip
WORDS = [
    b"", b"online", b"offline", b"Online", b"true", b"false", b"ON", b"OFF", b"0", b"128",
    b"255", b"256", b"#FFA000", b"#10FFA000", b"NaN", b"Infinity", b"-0", b"1e999", b"{}", b"[]",
    b'{"state":null}', b'{"result":{"output":true,"brightness":1e308}}', b"[" * 5000,
]  # fmt: skip

scalars = strategies.scalars()
json_values = strategies.json_values(scalars, VOCABULARY)
protocol_objects = st.dictionaries(
    st.sampled_from(VOCABULARY), scalars | json_values, min_size=1, max_size=6
)
payloads = st.one_of(
    st.binary(max_size=80),
    json_values.map(lambda value: json.dumps(value).encode()),
    protocol_objects.map(lambda value: json.dumps(value).encode()),
    st.sampled_from(WORDS),
)


def assert_valid_state(driver: Driver) -> None:
    state = driver.state
    if isinstance(driver, LightDriver):
        assert set(state) <= {"on", "level", "kelvin", "rgb"}
        assert isinstance(state.get("on", True), bool)
        if "level" in state:
            assert isinstance(state["level"], float) and 0.0 <= state["level"] <= 1.0
        if "kelvin" in state:
            assert type(state["kelvin"]) is int and 1000 <= state["kelvin"] <= 20000
        if "rgb" in state:
            rgb = state["rgb"]
            assert len(rgb) == 3 and all(type(c) is int and 0 <= c <= 255 for c in rgb)
    elif isinstance(driver, MqttVr):
        if state:
            assert state["status"] in STATUSES
            assert isinstance(state.get("content", ""), str)
            assert 0 <= state.get("position_s", 0) <= 86400
    elif isinstance(driver, MqttBls):
        if state:
            assert isinstance(state["running"], bool)
            assert type(state.get("pass", 0)) is int and state.get("pass", 0) >= 0
            assert 0 <= state.get("speed_hz", 0) <= 2.0
    else:
        assert isinstance(driver, MqttVitals)
        for key, value in state.items():
            low, high = MEASURABLE[key]
            assert isinstance(value, float) and math.isfinite(value) and low <= value <= high


@pytest.mark.parametrize(("name", "fields"), DEVICES)
@FUZZ_MESSAGES
@given(data=st.data())
def test_receive_answers_none_or_a_reception_and_keeps_a_valid_state(
    name: str, fields: dict[str, Any], data: st.DataObject
) -> None:
    driver = make_driver(device(name, **fields))
    topics = st.sampled_from([*driver.subscriptions(), "unrelated/topic"])
    messages = data.draw(st.lists(st.tuples(topics, payloads), min_size=1, max_size=6))
    for topic, payload in messages:
        state_before = copy.deepcopy(driver.state)
        availability_before = driver.availability
        reception = driver.receive(topic, payload)
        if reception is None or reception.kind == "error":
            assert driver.state == state_before
            assert driver.availability is availability_before
        if reception is not None:
            assert isinstance(reception, Reception)
            if reception.kind == "error":
                assert list(reception.data) == ["error"]
                assert reception.data["error"].startswith(f"{topic}: ")
            elif reception.kind == "state":
                assert reception.data == driver.state
            else:
                assert reception.data == {"available": driver.availability.value}
        assert_valid_state(driver)


# --------------------------------------------------------------------------- commands

kelvin_commands = st.builds(
    LightCommand,
    on=st.booleans(),
    level=st.none() | st.floats(0, 1),
    kelvin=st.none() | st.integers(1, 100_000),
    transition_s=st.floats(0, 1e7),
)
rgb_commands = st.builds(
    LightCommand,
    on=st.booleans(),
    level=st.none() | st.floats(0, 1),
    rgb=st.tuples(*[st.integers(0, 255)] * 3),
    transition_s=st.floats(0, 1e7),
)

TASMOTA_COMMAND = re.compile(
    r"Fade [01]|SetOption117 1|Speed2 (\d+)|Power (ON|OFF)|Dimmer (\d+)|CT (\d+)"
    r"|Color2 (\d+),(\d+),(\d+)"
)


def assert_in_device_ranges(name: str, payload: str) -> None:
    if name == "tasmota":
        parts = payload.split(";")
        assert parts[0::2] == ["NoDelay"] * (len(parts) // 2)
        for command in parts[1::2]:
            match = TASMOTA_COMMAND.fullmatch(command)
            assert match, command
            speed, _, dimmer, ct = match.group(1, 2, 3, 4)
            assert speed is None or 1 <= int(speed) <= 40
            assert dimmer is None or 1 <= int(dimmer) <= 100
            assert ct is None or 154 <= int(ct) <= 500
        return
    message = json.loads(payload)
    if name == "zigbee2mqtt":
        assert set(message) <= {"state", "brightness", "color_temp", "color", "transition"}
        assert message["state"] in ("ON", "OFF")
        assert 1 <= message.get("brightness", 1) <= 254
        assert 154 <= message.get("color_temp", 154) <= 500
        assert 0 <= message["transition"] <= 6553.4
    elif name == "wled":
        assert set(message) <= {"on", "bri", "seg", "tt"}
        assert 1 <= message.get("bri", 1) <= 255
        assert 0 <= message["tt"] <= 655
        for segment in message.get("seg", []):
            assert set(segment) <= {"fx", "cct", "col"} and segment["fx"] == 0
            assert 2700 <= segment.get("cct", 2700) <= 6500
    else:
        params = message["params"]
        assert set(params) <= {"id", "on", "brightness", "rgb", "transition_duration"}
        assert 1 <= params.get("brightness", 1) <= 100
        assert params["transition_duration"] >= 0


@pytest.mark.parametrize(("name", "fields"), LIGHTS)
@FUZZ_COMMANDS
@given(targets=st.lists(kelvin_commands | rgb_commands, min_size=1, max_size=5))
def test_light_commands_stay_in_the_device_ranges_and_are_never_retained(
    name: str, fields: dict[str, Any], targets: list[LightCommand]
) -> None:
    driver = make_driver(device(name, **fields))
    assert isinstance(driver, LightDriver)
    for target in targets:
        if target.on and (
            (target.kelvin is not None and driver.device.kelvin_range is None)
            or (target.rgb is not None and not driver.device.rgb)
        ):
            continue  # refused with ValueError, tested in each driver's tests
        for message in driver.command(target):
            assert message.retain is False and message.qos == 1
            assert_in_device_ranges(name, message.payload)
