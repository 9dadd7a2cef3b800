"""Shelly Gen2: Light.Set / RGB.Set JSON-RPC on <prefix>/rpc, status and RPC replies."""

from __future__ import annotations

import json

import pytest

from controller.drivers import LightCommand, Outgoing, Reception
from controller.drivers.shelly import ShellyLight
from tests.drivers.devices import device


def dimmer(**fields: object) -> ShellyLight:
    return ShellyLight(device("shelly", topic="shellyplus-a1", **fields))


def rpc(driver: ShellyLight, target: LightCommand) -> dict[str, object]:
    (message,) = driver.command(target)
    assert message.topic == "shellyplus-a1/rpc"
    assert message.retain is False
    frame: dict[str, object] = json.loads(message.payload)
    return frame


def test_light_set_carries_on_brightness_percent_and_transition_seconds() -> None:
    (message,) = dimmer().command(LightCommand(level=0.35, transition_s=8))
    assert message.payload == (
        '{"id":1,"src":"shellyplus-a1/sessionroom","method":"Light.Set",'
        '"params":{"id":0,"on":true,"brightness":35,"transition_duration":8.0}}'
    )


def test_each_request_has_the_next_id() -> None:
    driver = dimmer()
    ids = [rpc(driver, LightCommand(level=0.5))["id"] for _ in range(3)]
    assert ids == [1, 2, 3]


@pytest.mark.parametrize(("level", "brightness"), [(1.0, 100), (0.005, 1), (0.555, 56)])
def test_level_becomes_brightness_percent(level: float, brightness: int) -> None:
    assert rpc(dimmer(), LightCommand(level=level))["params"] == {
        "id": 0,
        "on": True,
        "brightness": brightness,
        "transition_duration": 0.0,
    }


@pytest.mark.parametrize("target", [LightCommand(on=False, level=0.5), LightCommand(level=0.004)])
def test_off_and_a_level_that_rounds_to_zero_are_on_false(target: LightCommand) -> None:
    assert rpc(dimmer(), target)["params"] == {"id": 0, "on": False, "transition_duration": 0.0}


def test_an_rgb_light_uses_rgb_set_with_rgb() -> None:
    frame = rpc(dimmer(rgb=True), LightCommand(level=0.5, rgb=(255, 0, 128), transition_s=2.25))
    assert frame["method"] == "RGB.Set"
    assert frame["params"] == {
        "id": 0,
        "on": True,
        "brightness": 50,
        "rgb": [255, 0, 128],
        "transition_duration": 2.3,
    }


def test_long_fades_are_left_to_the_device() -> None:
    assert dimmer().native_fade_s() == float("inf")
    assert rpc(dimmer(), LightCommand(level=1.0, transition_s=1800))["params"] == {
        "id": 0,
        "on": True,
        "brightness": 100,
        "transition_duration": 1800.0,
    }


def test_query_asks_for_the_component_status() -> None:
    assert dimmer().query() == [
        Outgoing(
            "shellyplus-a1/rpc",
            '{"id":1,"src":"shellyplus-a1/sessionroom","method":"Light.GetStatus","params":{"id":0}}',
        )
    ]


def test_it_listens_to_online_the_component_status_and_its_replies() -> None:
    assert dimmer().subscriptions() == [
        "shellyplus-a1/online",
        "shellyplus-a1/status/light:0",
        "shellyplus-a1/sessionroom/rpc",
    ]
    assert dimmer(rgb=True).subscriptions()[1] == "shellyplus-a1/status/rgb:0"


# --------------------------------------------------------------------------- state


def test_a_status_update_is_read() -> None:
    driver = dimmer()
    # Shaped after the Light component's status section: id, source, output, brightness.
    payload = b'{"id":0,"source":"WS_in","output":true,"brightness":42,"temperature":{"tC":41.2}}'
    assert driver.receive("shellyplus-a1/status/light:0", payload) == Reception(
        "state", {"on": True, "level": 0.42}
    )


def test_an_rgb_status_carries_the_colour() -> None:
    driver = dimmer(rgb=True)
    payload = b'{"id":0,"source":"init","output":false,"rgb":[255,100,0],"brightness":80}'
    assert driver.receive("shellyplus-a1/status/rgb:0", payload) == Reception(
        "state", {"on": False, "level": 0.8, "rgb": [255, 100, 0]}
    )


def test_a_get_status_reply_is_read_as_state() -> None:
    reply = (
        b'{"id":1,"src":"shellyplus-a1","dst":"shellyplus-a1/sessionroom",'
        b'"result":{"id":0,"output":true,"brightness":10}}'
    )
    assert dimmer().receive("shellyplus-a1/sessionroom/rpc", reply) == Reception(
        "state", {"on": True, "level": 0.1}
    )


def test_a_set_acknowledgement_carries_no_state() -> None:
    reply = b'{"id":2,"src":"shellyplus-a1","dst":"shellyplus-a1/sessionroom","result":null}'
    assert dimmer().receive("shellyplus-a1/sessionroom/rpc", reply) is None


def test_a_refused_request_is_reported_as_an_error() -> None:
    reply = (
        b'{"id":7,"src":"shellyplus-a1","dst":"shellyplus-a1/sessionroom",'
        b'"error":{"code":-103,"message":"Invalid argument \'brightness\'"}}'
    )
    assert dimmer().receive("shellyplus-a1/sessionroom/rpc", reply) == Reception(
        "error",
        {
            "error": "shellyplus-a1/sessionroom/rpc: the device refused request 7: "
            "\"Invalid argument 'brightness'\""
        },
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"output":"yes"}', "output is a string, not true or false"),
        (b'{"brightness":101}', "brightness 101 is outside 0–100"),
        (b'{"brightness":null}', "brightness is null, not a number"),
        (b'{"rgb":[1,2]}', "rgb is not an array of three numbers"),
        (b'{"rgb":[1,2,300]}', "rgb 300 is outside 0–255"),
        (b"true", "expected a JSON object, got a boolean"),
    ],
)
def test_a_bad_status_is_an_error_and_leaves_the_state(payload: bytes, reason: str) -> None:
    driver = dimmer(rgb=True)
    driver.receive("shellyplus-a1/status/rgb:0", b'{"output":true,"brightness":20}')
    reception = driver.receive("shellyplus-a1/status/rgb:0", payload)
    assert reception == Reception("error", {"error": f"shellyplus-a1/status/rgb:0: {reason}"})
    assert driver.state == {"on": True, "level": 0.2}
