"""Simulated vital-signs sensors: believable random walks on an injected clock."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from controller.sim.vitals import CUFF_INTERVAL_S, CUFF_MEASURING_S, VitalsSensor
from tests.sim.support import json_of, make_device


def readings(sensor: VitalsSensor, seconds: int, step: float = 1.0) -> list[dict[str, Any]]:
    found = json_of(sensor.connected(0.0), sensor.topic)
    for tick in range(1, int(seconds / step) + 1):
        found += json_of(sensor.tick(tick * step), sensor.topic)
    return found


def test_an_oximeter_reports_heart_rate_and_spo2_every_second_in_range() -> None:
    oximeter = VitalsSensor(
        make_device("mqtt-vitals", "oximeter"), unix_offset=1_700_000_000.0, rng=random.Random(7)
    )
    found = readings(oximeter, 600)
    assert len(found) == 601
    assert {tuple(sorted(r)) for r in found} == {("hr", "spo2", "ts")}
    assert all(60 <= r["hr"] <= 90 and 95 <= r["spo2"] <= 99 for r in found)
    assert len({r["hr"] for r in found}) > 5, "the heart rate should wander"
    assert [r["ts"] for r in found[:2]] == [1_700_000_000.0, 1_700_000_001.0]
    assert max(abs(a["hr"] - b["hr"]) for a, b in itertools.pairwise(found)) <= 8


def test_a_cuff_reports_blood_pressure_less_often() -> None:
    cuff = VitalsSensor(
        make_device("mqtt-vitals", "bp-cuff", label="Blood-pressure cuff"), rng=random.Random(3)
    )
    found = readings(cuff, 300)
    assert len(found) == 1 + 300 / CUFF_INTERVAL_S
    assert {tuple(sorted(r)) for r in found} == {("dia", "hr", "sys", "ts")}
    assert all(110 <= r["sys"] <= 130 and 70 <= r["dia"] <= 85 for r in found)


def test_any_subset_of_readings_can_be_chosen() -> None:
    sensor = VitalsSensor(make_device("mqtt-vitals", "spot"), readings=("spo2",), interval_s=5)
    assert [sorted(r) for r in readings(sensor, 10)] == [["spo2", "ts"]] * 3
    with pytest.raises(ValueError, match="temperature"):
        VitalsSensor(make_device("mqtt-vitals", "spot"), readings=("temperature",))


def test_a_sensor_takes_no_commands() -> None:
    sensor = VitalsSensor(make_device("mqtt-vitals", "oximeter"))
    assert sensor.subscriptions() == []
    assert sensor.handle("vitals/oximeter/set", b"{}", 0.0) == []
    assert sensor.availability.topic == "vitals/oximeter/availability"
    assert not sensor.connected(0.0)[0].retain


def on_demand_cuff(time_scale: float = 1.0) -> VitalsSensor:
    device = make_device(
        "mqtt-vitals", "bp-cuff", label="Blood-pressure cuff", measure_command=True
    )
    return VitalsSensor(device, rng=random.Random(5), time_scale=time_scale)


def test_a_cuff_that_measures_on_demand_answers_after_its_measuring_time() -> None:
    cuff = on_demand_cuff()
    assert cuff.subscriptions() == ["vitals/bp-cuff/set"]
    assert len(json_of(cuff.connected(0.0), cuff.topic)) == 1
    assert cuff.tick(600.0) == [], "no reading unless asked"
    assert cuff.handle("vitals/bp-cuff/set", b'{"measure":true}', 600.0) == []
    assert cuff.tick(600.0 + CUFF_MEASURING_S - 0.1) == []
    [reading] = json_of(cuff.tick(600.0 + CUFF_MEASURING_S), cuff.topic)
    assert sorted(reading) == ["dia", "hr", "sys", "ts"]
    assert cuff.tick(700.0) == [], "one reading per request"


def test_a_busy_cuff_ignores_a_second_request_and_garbage() -> None:
    cuff = on_demand_cuff()
    cuff.handle("vitals/bp-cuff/set", b'{"measure":true}', 0.0)
    cuff.handle("vitals/bp-cuff/set", b'{"measure":true}', 20.0)
    assert len(json_of(cuff.tick(CUFF_MEASURING_S), cuff.topic)) == 1
    assert cuff.tick(20.0 + CUFF_MEASURING_S) == []
    for garbage in (b"measure", b'{"measure":1}', b"[]", b"\xff"):
        cuff.handle("vitals/bp-cuff/set", garbage, 100.0)
    assert cuff.tick(1000.0) == []


def test_in_a_rehearsal_the_cuff_measures_as_much_faster() -> None:
    cuff = on_demand_cuff(time_scale=60.0)
    cuff.handle("vitals/bp-cuff/set", b'{"measure":true}', 0.0)
    assert len(json_of(cuff.tick(CUFF_MEASURING_S / 60), cuff.topic)) == 1
