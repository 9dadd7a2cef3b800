"""VR headsets on our vr/<id> convention (DEVICE_PROTOCOLS.md, "Our own conventions")."""

from __future__ import annotations

import pytest

from controller.drivers import Outgoing, Reception, VrCommand
from controller.drivers.mqtt_vr import MqttVr
from tests.drivers.devices import device


def headset() -> MqttVr:
    return MqttVr(device("mqtt-vr", topic="headset"))


@pytest.mark.parametrize(
    ("target", "payload"),
    [
        (
            VrCommand("play", content="forest-01", volume=0.4),
            '{"action":"play","content":"forest-01","volume":40}',
        ),
        (VrCommand("play", content="forest-01"), '{"action":"play","content":"forest-01"}'),
        (VrCommand("play", content="x", volume=0.0), '{"action":"play","content":"x","volume":0}'),
        (
            VrCommand("play", content="x", volume=1.0),
            '{"action":"play","content":"x","volume":100}',
        ),
        (VrCommand("pause"), '{"action":"pause"}'),
        (VrCommand("resume"), '{"action":"resume"}'),
        (VrCommand("stop"), '{"action":"stop"}'),
        (VrCommand("brightness", level=0.255), '{"action":"brightness","level":26}'),
    ],
)
def test_each_action_has_its_exact_payload(target: VrCommand, payload: str) -> None:
    assert headset().command(target) == [Outgoing("vr/headset/set", payload)]


def test_the_convention_has_no_read_request() -> None:
    assert headset().query() == []


def test_a_state_snapshot_replaces_the_last_one() -> None:
    driver = headset()
    driver.receive(
        "vr/headset/state", b'{"status":"playing","content":"forest-01","position_s":12.5}'
    )
    assert driver.receive("vr/headset/state", b'{"status":"idle","content":null}') == Reception(
        "state", {"status": "idle"}
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"content":"x"}', 'VR state has no "status"'),
        (b'{"status":"buffering"}', "status 'buffering' is not idle, playing or paused"),
        (b'{"status":3}', "status is a number, not a string"),
        (b'{"status":"playing","position_s":-1}', "position_s -1 is outside 0–86400"),
        (b'{"status":"playing","position_s":Infinity}', "JSON constant Infinity is not a number"),
        (b'{"status":"playing","content":["a"]}', "content is an array, not a string"),
    ],
)
def test_a_bad_state_is_an_error_and_leaves_the_state(payload: bytes, reason: str) -> None:
    driver = headset()
    driver.receive("vr/headset/state", b'{"status":"paused","content":"c"}')
    reception = driver.receive("vr/headset/state", payload)
    assert reception == Reception("error", {"error": f"vr/headset/state: {reason}"})
    assert driver.state == {"status": "paused", "content": "c"}
