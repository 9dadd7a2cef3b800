"""WLED: the JSON API on wled/<id>/api with tt in 100 ms units; state from /g and /c."""

from __future__ import annotations

from typing import Any

import pytest

from controller.drivers import LightCommand, Reception
from controller.drivers.wled import MAX_TRANSITION_S, WledLight
from tests.drivers.devices import device


def strip(**fields: object) -> WledLight:
    return WledLight(device("wled", topic="wled-strip", **fields))


def api_payload(target: LightCommand, **fields: object) -> str:
    (message,) = strip(**fields).command(target)
    assert message.topic == "wled/wled-strip/api"
    assert message.retain is False
    return message.payload


def test_a_level_with_a_fade_is_on_bri_solid_and_tt() -> None:
    assert api_payload(LightCommand(level=0.5, transition_s=5)) == (
        '{"on":true,"bri":128,"seg":[{"fx":0}],"tt":50}'
    )


@pytest.mark.parametrize(("level", "bri"), [(1.0, 255), (0.002, 1), (0.3, 77)])
def test_level_becomes_bri_0_to_255(level: float, bri: int) -> None:
    assert api_payload(LightCommand(level=level)) == (
        f'{{"on":true,"bri":{bri},"seg":[{{"fx":0}}],"tt":0}}'
    )


@pytest.mark.parametrize(
    "target",
    [
        LightCommand(on=False, level=0.9, transition_s=1.5),
        LightCommand(level=0.001, transition_s=1.5),
    ],
)
def test_off_and_a_level_that_rounds_to_zero_are_on_false(target: LightCommand) -> None:
    # {"on":true,"bri":0} would make WLED restore its last brightness (json.cpp toggleOnOff).
    assert api_payload(target) == '{"on":false,"tt":15}'


def test_rgb_goes_to_segment_0_as_col() -> None:
    assert api_payload(LightCommand(level=0.2, rgb=(255, 160, 0), transition_s=0.25), rgb=True) == (
        '{"on":true,"bri":51,"seg":[{"fx":0,"col":[[255,160,0]]}],"tt":3}'
    )


@pytest.mark.parametrize(
    ("kelvin_range", "kelvin", "cct"),
    [
        ((2000, 6500), 2700, 2700),
        ((2000, 6500), 9000, 6500),
        ((1000, 20000), 1200, 1900),
        ((1000, 20000), 12000, 10091),
    ],
)
def test_kelvin_goes_as_cct_within_the_light_and_wled(
    kelvin_range: tuple[int, int], kelvin: int, cct: int
) -> None:
    assert api_payload(LightCommand(kelvin=kelvin), kelvin_range=kelvin_range) == (
        f'{{"on":true,"seg":[{{"fx":0,"cct":{cct}}}],"tt":0}}'
    )


def test_tt_stops_at_655_because_wled_keeps_milliseconds_in_16_bits() -> None:
    assert strip().native_fade_s() == MAX_TRANSITION_S == 65.5
    assert api_payload(LightCommand(level=1.0, transition_s=600)) == (
        '{"on":true,"bri":255,"seg":[{"fx":0}],"tt":655}'
    )


def test_wled_has_no_read_request() -> None:
    assert strip().query() == []


def test_it_listens_to_status_brightness_and_colour() -> None:
    assert strip().subscriptions() == [
        "wled/wled-strip/status",
        "wled/wled-strip/g",
        "wled/wled-strip/c",
    ]


# --------------------------------------------------------------------------- state


def test_brightness_on_g_is_level_and_zero_is_off() -> None:
    driver = strip()
    assert driver.receive("wled/wled-strip/g", b"128") == Reception(
        "state", {"on": True, "level": 128 / 255}
    )
    assert driver.receive("wled/wled-strip/g", b"0") == Reception(
        "state", {"on": False, "level": 128 / 255}
    )


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        (b"#FFA000", {"rgb": [255, 160, 0]}),
        (b"#00FFA000", {"rgb": [255, 160, 0]}),
        (b"#10FFA000", {"rgb": [255, 176, 16]}),  # an RGBW strip's white channel lights too
        (b"#FF000000", {"rgb": [255, 255, 255]}),
    ],
)
def test_colour_on_c_is_rgb_with_or_without_white(payload: bytes, state: dict[str, Any]) -> None:
    driver = strip(rgb=True)
    assert driver.receive("wled/wled-strip/c", payload) == Reception("state", state)


def test_colour_of_a_light_without_rgb_is_not_state() -> None:
    assert strip().receive("wled/wled-strip/c", b"#FFA000") is None


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("wled/wled-strip/g", b"256", "brightness '256' is not a number 0–255"),
        ("wled/wled-strip/g", b"-1", "brightness '-1' is not a number 0–255"),
        ("wled/wled-strip/g", b"1e3", "brightness '1e3' is not a number 0–255"),
        ("wled/wled-strip/g", "１２".encode(), "brightness '１２' is not a number 0–255"),
        ("wled/wled-strip/c", b"#FFA0", "colour '#FFA0' is not #RRGGBB or #WWRRGGBB"),
        ("wled/wled-strip/c", b"orange", "colour 'orange' is not a hex colour"),
    ],
)
def test_a_bad_report_is_an_error_and_leaves_the_state(
    topic: str, payload: bytes, reason: str
) -> None:
    driver = strip(rgb=True)
    driver.receive("wled/wled-strip/g", b"64")
    reception = driver.receive(topic, payload)
    assert reception == Reception("error", {"error": f"{topic}: {reason}"})
    assert driver.state == {"on": True, "level": 64 / 255}
