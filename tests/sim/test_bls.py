"""A simulated BLS device on our bls/<id> convention, stepped on an injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from controller.sim.bls import BlsDevice
from tests.sim.support import json_of, make_device

STATE = "bls/tappers/state"


@pytest.fixture
def tappers() -> BlsDevice:
    return BlsDevice(make_device("mqtt-bls", "tappers", mode="tactile"))


def start(tappers: BlsDevice, payload: bytes, now: float) -> list[dict[str, Any]]:
    return json_of(tappers.handle("bls/tappers/set", payload, now), STATE)


def test_speaks_the_bls_convention(tappers: BlsDevice) -> None:
    assert tappers.availability.topic == "bls/tappers/availability"
    assert tappers.subscriptions() == ["bls/tappers/set"]
    (state,) = tappers.connected(0.0)
    assert state.retain
    assert json_of([state], STATE) == [{"running": False, "pass": 0, "speed_hz": 1.0}]


def test_passes_count_up_at_speed_and_the_set_ends_by_itself(tappers: BlsDevice) -> None:
    assert start(tappers, b'{"running":true,"speed_hz":2,"passes":3}', 100.0) == [
        {"running": True, "pass": 0, "speed_hz": 2.0}
    ]
    assert tappers.tick(100.4) == []
    reports = [json_of(tappers.tick(t), STATE) for t in (100.5, 101.0, 101.4, 101.5, 102.0)]
    assert reports == [
        [{"running": True, "pass": 1, "speed_hz": 2.0}],
        [{"running": True, "pass": 2, "speed_hz": 2.0}],
        [],
        [{"running": False, "pass": 3, "speed_hz": 2.0}],
        [],
    ]


def test_a_set_by_duration_ends_after_its_seconds(tappers: BlsDevice) -> None:
    start(tappers, b'{"running":true,"speed_hz":1,"duration_s":2.5}', 0.0)
    assert [s["pass"] for s in json_of(tappers.tick(2.0), STATE)] == [2]
    assert json_of(tappers.tick(2.5), STATE) == [{"running": False, "pass": 2, "speed_hz": 1.0}]


def test_running_false_stops_at_once_mid_pass(tappers: BlsDevice) -> None:
    start(tappers, b'{"running":true,"speed_hz":0.5}', 0.0)
    assert start(tappers, b'{"running":false}', 3.0) == [
        {"running": False, "pass": 1, "speed_hz": 0.5}
    ]
    assert tappers.tick(10.0) == []


def test_without_passes_or_duration_it_runs_until_stopped(tappers: BlsDevice) -> None:
    start(tappers, b'{"running":true,"speed_hz":1,"passes":null,"duration_s":null}', 0.0)
    assert json_of(tappers.tick(600.0), STATE)[0] == {"running": True, "pass": 600, "speed_hz": 1.0}


def test_speed_and_intensity_are_clamped_to_the_hardware(tappers: BlsDevice) -> None:
    assert (
        start(tappers, b'{"running":true,"speed_hz":5,"intensity":100}', 0.0)[0]["speed_hz"] == 2.0
    )
    assert tappers.intensity == 80  # tactile motors stop at 80 %
    start(tappers, b'{"running":true,"speed_hz":0.01}', 1.0)
    assert tappers.speed_hz == 0.2


def test_a_light_bar_goes_to_full_intensity() -> None:
    bar = BlsDevice(make_device("mqtt-bls", "bar", mode="visual"))
    bar.handle("bls/bar/set", b'{"running":true,"intensity":100,"colour":"#00FF00"}', 0.0)
    assert (bar.intensity, bar.colour) == (100, "#00FF00")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"running":true,"mode":"visual"}',
        b'{"running":true,"passes":-2}',
        b'{"running":true,"passes":2.5}',
        b'{"running":true,"duration_s":0}',
        b'{"running":true,"speed_hz":"fast"}',
        b'{"running":"yes"}',
        b'{"speed_hz":1}',
        b"\x00\xff",
    ],
)
def test_sets_it_cannot_run_are_refused(tappers: BlsDevice, payload: bytes) -> None:
    assert start(tappers, payload, 0.0) == []
    assert not tappers.running
