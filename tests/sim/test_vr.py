"""A simulated VR headset on our vr/<id> convention, stepped on an injected clock."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from controller.sim.vr import VrHeadset
from tests.sim.support import json_of, make_device

STATE = "vr/headset/state"


@pytest.fixture
def headset() -> VrHeadset:
    return VrHeadset(make_device("mqtt-vr", "headset"))


def act(headset: VrHeadset, payload: bytes, now: float) -> list[dict[str, Any]]:
    return json_of(headset.handle("vr/headset/set", payload, now), STATE)


def test_speaks_the_vr_convention(headset: VrHeadset) -> None:
    assert (headset.availability.topic, headset.availability.online) == (
        "vr/headset/availability",
        "online",
    )
    assert headset.subscriptions() == ["vr/headset/set"]
    (announced,) = headset.connected(0.0)
    assert announced.retain
    assert json_of([announced], STATE) == [{"status": "idle", "content": None, "position_s": 0.0}]


def test_play_pause_resume_stop_and_the_position(headset: VrHeadset) -> None:
    assert act(headset, b'{"action":"play","content":"forest","volume":40}', 10.0) == [
        {"status": "playing", "content": "forest", "position_s": 0.0}
    ]
    assert [s["position_s"] for s in json_of(headset.tick(11.0), STATE)] == [1.0]
    assert headset.tick(11.5) == []
    assert act(headset, b'{"action":"pause"}', 12.5)[0] == {
        "status": "paused",
        "content": "forest",
        "position_s": 2.5,
    }
    assert headset.tick(20.0) == []  # paused: no position to report
    assert act(headset, b'{"action":"resume"}', 30.0)[0]["position_s"] == 2.5
    assert headset.position_s(32.0) == 4.5
    assert act(headset, b'{"action":"stop"}', 33.0)[0] == {
        "status": "idle",
        "content": None,
        "position_s": 0.0,
    }


def test_volume_and_brightness_are_clamped(headset: VrHeadset) -> None:
    act(headset, b'{"action":"play","content":"sea","volume":250}', 0.0)
    act(headset, b'{"action":"brightness","level":-20}', 1.0)
    assert (headset.volume, headset.brightness) == (100, 0)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"action":"play"}',
        b'{"action":"resume"}',
        b'{"action":"pause"}',
        b'{"action":"dance"}',
        b'{"action":"brightness","level":"max"}',
        b'{"action":"brightness","level":NaN}',
        b'{"action":"volume","volume":1' + b"0" * 400 + b"}",  # an integer no float holds
        b"garbage",
        b"\xff",
        b"[]",
    ],
)
def test_commands_that_do_not_apply_are_ignored_and_logged(
    headset: VrHeadset, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "controller.sim"):
        assert act(headset, payload, 0.0) == []
    assert headset.status == "idle"
    assert "headset ignores" in caplog.text
