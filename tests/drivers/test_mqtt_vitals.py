"""Vital-sign sensors on our vitals/<id> convention (DEVICE_PROTOCOLS.md, "Our own conventions")."""

from __future__ import annotations

import pytest

from controller.drivers import Reception
from controller.drivers.mqtt_vitals import MqttVitals
from tests.drivers.devices import device


def oximeter() -> MqttVitals:
    return MqttVitals(device("mqtt-vitals", topic="oximeter"))


def test_it_listens_to_its_readings_and_availability_and_sends_nothing() -> None:
    driver = oximeter()
    assert driver.subscriptions() == ["vitals/oximeter/availability", "vitals/oximeter"]
    assert driver.query() == []


def test_each_reading_replaces_the_last() -> None:
    driver = oximeter()
    driver.receive("vitals/oximeter", b'{"hr":72,"spo2":98,"ts":1718000000}')
    reception = driver.receive(
        "vitals/oximeter", b'{"sys":128,"dia":84,"ts":1718000060,"cuff":"L"}'
    )
    assert reception == Reception("state", {"sys": 128.0, "dia": 84.0, "ts": 1718000060.0})


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{}", "the reading has none of hr, spo2, sys, dia, ts"),
        (b'{"temp":36.6}', "the reading has none of hr, spo2, sys, dia, ts"),
        (b'{"hr":"72"}', "hr is a string, not a number"),
        (b'{"hr":true}', "hr is a boolean, not a number"),
        (b'{"spo2":101}', "spo2 101 is outside 0–100"),
        (b'{"hr":-5}', "hr -5 is outside 0–300"),
        (b'{"ts":' + b"9" * 400 + b"}", "an integer of more than 20 digits"),
        (b'{"ts":' + b"9" * 20 + b"}", "ts 99999999999999999999 is outside 0–4102444800"),
        (b'{"hr":NaN}', "JSON constant NaN is not a number"),
        (b'{"hr":' + b"9" * 5000 + b"}", "an integer of more than 20 digits"),
    ],
)
def test_a_bad_reading_is_an_error_and_keeps_the_last_one(payload: bytes, reason: str) -> None:
    driver = oximeter()
    driver.receive("vitals/oximeter", b'{"hr":64}')
    reception = driver.receive("vitals/oximeter", payload)
    assert reception is not None and reception.kind == "error"
    assert reception.data["error"].startswith(f"vitals/oximeter: {reason}")
    assert driver.state == {"hr": 64.0}


def test_a_cuff_that_measures_on_demand_is_asked_on_its_set_topic() -> None:
    cuff = MqttVitals(device("mqtt-vitals", topic="bp-cuff", measure_command=True))
    assert [(m.topic, m.payload, m.retain) for m in cuff.measure()] == [
        ("vitals/bp-cuff/set", '{"measure":true}', False)
    ]
    assert oximeter().measure() == []
