"""BLS tappers and light bars on our bls/<id> convention (DEVICE_PROTOCOLS.md)."""

from __future__ import annotations

import pytest

from controller.drivers import BlsCommand, Outgoing, Reception
from controller.drivers.mqtt_bls import MqttBls
from tests.drivers.devices import device


def tappers() -> MqttBls:
    return MqttBls(device("mqtt-bls", topic="tappers", mode="tactile"))


def lightbar() -> MqttBls:
    return MqttBls(device("mqtt-bls", topic="lightbar", mode="visual"))


def test_a_full_set_sends_every_key() -> None:
    target = BlsCommand(
        running=True, speed_hz=1.2, intensity=0.6, passes=24, duration_s=60.0, colour="#3366FF"
    )
    assert lightbar().command(target) == [
        Outgoing(
            "bls/lightbar/set",
            '{"running":true,"mode":"visual","speed_hz":1.2,"intensity":60,"passes":24,'
            '"duration_s":60.0,"colour":"#3366FF"}',
        )
    ]


def test_unset_limits_go_as_null_so_an_earlier_limit_never_lingers() -> None:
    assert tappers().command(BlsCommand(running=True)) == [
        Outgoing(
            "bls/tappers/set", '{"running":true,"mode":"tactile","passes":null,"duration_s":null}'
        )
    ]


@pytest.mark.parametrize(("intensity", "percent"), [(0.0, 0), (1.0, 100), (0.805, 80), (0.29, 29)])
def test_intensity_becomes_percent(intensity: float, percent: int) -> None:
    (message,) = tappers().command(BlsCommand(running=True, intensity=intensity))
    assert f'"intensity":{percent},' in message.payload


def test_stop_is_running_false_alone() -> None:
    stop = BlsCommand(running=False, speed_hz=1.0, passes=3)
    assert tappers().command(stop) == [Outgoing("bls/tappers/set", '{"running":false}')]


def test_a_mode_the_device_does_not_render_is_refused() -> None:
    with pytest.raises(ValueError, match="renders tactile, not visual"):
        tappers().command(BlsCommand(running=True, mode="visual"))


def test_the_device_state_is_read() -> None:
    driver = tappers()
    assert driver.receive(
        "bls/tappers/state", b'{"running":true,"pass":3,"speed_hz":1.0}'
    ) == Reception("state", {"running": True, "pass": 3, "speed_hz": 1.0})
    assert driver.receive("bls/tappers/state", b'{"running":false}') == Reception(
        "state", {"running": False}
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"pass":3}', 'BLS state has no "running"'),
        (b'{"running":"yes"}', "running is a string, not true or false"),
        (b'{"running":true,"pass":true}', "pass is a boolean, not a number"),
        (b'{"running":true,"pass":-1}', "pass -1 is outside 0–1000000"),
        (b'{"running":true,"pass":1.5}', "pass 1.5 is not a whole number"),
        (b'{"running":true,"speed_hz":5}', "speed_hz 5 is outside 0–2"),
    ],
)
def test_a_bad_state_is_an_error_and_leaves_the_state(payload: bytes, reason: str) -> None:
    driver = tappers()
    driver.receive("bls/tappers/state", b'{"running":true,"pass":1}')
    reception = driver.receive("bls/tappers/state", payload)
    assert reception == Reception("error", {"error": f"bls/tappers/state: {reason}"})
    assert driver.state == {"running": True, "pass": 1}
