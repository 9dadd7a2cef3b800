"""Tasmota: one Backlog per change, fades of a fixed duration (SetOption117), stat/ and tele/."""

from __future__ import annotations

import pytest

from controller.drivers import LightCommand, Outgoing, Reception
from controller.drivers.tasmota import TasmotaLight
from tests.drivers.devices import device


def lamp(**fields: object) -> TasmotaLight:
    return TasmotaLight(device("tasmota", topic="floorlamp", **fields))


def backlog(driver: TasmotaLight, target: LightCommand) -> str:
    (message,) = driver.command(target)
    assert message.topic == "cmnd/floorlamp/Backlog"
    assert message.retain is False
    return message.payload


def reported(driver: TasmotaLight, payload: bytes) -> None:
    assert driver.receive("stat/floorlamp/RESULT", payload) is not None


# --------------------------------------------------------------------------- fades


FADE = "NoDelay;Fade 1;NoDelay;SetOption117 1;NoDelay;Speed2"


@pytest.mark.parametrize(
    ("transition_s", "speed"),
    [
        (2.0, 4),
        (0.1, 1),  # at least half a second
        (0.74, 1),  # to the nearest half second
        (0.75, 2),
        (7.3, 15),
        (20.0, 40),
        (25.0, 40),  # at most 20 s: the engine steps longer fades
        (1e300, 40),
    ],
)
def test_every_fade_takes_speed2_half_seconds_at_a_fixed_duration(
    transition_s: float, speed: int
) -> None:
    assert backlog(lamp(), LightCommand(level=0.4, transition_s=transition_s)) == (
        f"{FADE} {speed};NoDelay;Dimmer 40"
    )


@pytest.mark.parametrize(
    ("report", "target"),
    [
        (b'{"POWER":"ON","Dimmer":10}', LightCommand(level=0.5, transition_s=2)),
        (b'{"POWER":"ON","Dimmer":45}', LightCommand(level=0.5, transition_s=2)),
        (b'{"POWER":"OFF","Dimmer":90}', LightCommand(level=0.5, transition_s=2)),
        (b'{"POWER":"ON","Dimmer":100}', LightCommand(on=False, transition_s=2)),
    ],
)
def test_the_speed_does_not_depend_on_where_the_light_is(
    report: bytes, target: LightCommand
) -> None:
    driver = lamp()
    reported(driver, report)
    assert backlog(driver, target).startswith(f"{FADE} 4;")


def test_a_colour_change_fades_in_the_same_time() -> None:
    driver = lamp(kelvin_range=(2000, 6500))
    reported(driver, b'{"POWER":"ON","Dimmer":80,"CT":250}')
    payload = backlog(driver, LightCommand(level=0.8, kelvin=2700, transition_s=4))
    assert payload == f"{FADE} 8;NoDelay;CT 370;NoDelay;Dimmer 80"


def test_the_native_fade_lasts_at_most_20_s() -> None:
    assert lamp().native_fade_s() == 20.0


def test_no_transition_turns_fading_off() -> None:
    assert backlog(lamp(), LightCommand(level=0.4)) == "NoDelay;Fade 0;NoDelay;Dimmer 40"


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(("level", "dimmer"), [(1.0, 100), (0.005, 1), (0.555, 56)])
def test_level_becomes_dimmer_0_to_100(level: float, dimmer: int) -> None:
    assert backlog(lamp(), LightCommand(level=level)).endswith(f"NoDelay;Dimmer {dimmer}")


@pytest.mark.parametrize("target", [LightCommand(on=False, level=0.7), LightCommand(level=0.004)])
def test_off_and_a_level_that_rounds_to_zero_send_power_off(target: LightCommand) -> None:
    assert backlog(lamp(), target) == "NoDelay;Fade 0;NoDelay;Power OFF"


@pytest.mark.parametrize(
    ("kelvin_range", "kelvin", "ct"),
    [
        ((2000, 6500), 2700, 370),
        ((2000, 6500), 8000, 154),
        ((2000, 6500), 1000, 500),
        ((1000, 20000), 1500, 500),  # Tasmota's CT stops at 500
        ((1000, 20000), 10000, 153),  # ... and at 153
    ],
)
def test_kelvin_becomes_ct_within_the_light_and_153_to_500(
    kelvin_range: tuple[int, int], kelvin: int, ct: int
) -> None:
    driver = lamp(kelvin_range=kelvin_range)
    assert backlog(driver, LightCommand(level=0.5, kelvin=kelvin)) == (
        f"NoDelay;Fade 0;NoDelay;CT {ct};NoDelay;Dimmer 50"
    )


def test_rgb_goes_as_color2_so_the_dimmer_keeps_the_brightness() -> None:
    assert backlog(lamp(rgb=True), LightCommand(level=0.3, rgb=(255, 128, 0))) == (
        "NoDelay;Fade 0;NoDelay;Color2 255,128,0;NoDelay;Dimmer 30"
    )


def test_a_colour_without_a_level_switches_the_light_on() -> None:
    assert backlog(lamp(rgb=True), LightCommand(rgb=(0, 0, 255))) == (
        "NoDelay;Fade 0;NoDelay;Color2 0,0,255;NoDelay;Power ON"
    )


def test_query_sends_an_empty_state_command() -> None:
    assert lamp().query() == [Outgoing("cmnd/floorlamp/State", "")]


def test_it_listens_to_lwt_result_power_and_telemetry() -> None:
    assert lamp().subscriptions() == [
        "tele/floorlamp/LWT",
        "stat/floorlamp/RESULT",
        "stat/floorlamp/POWER",
        "tele/floorlamp/STATE",
    ]


# --------------------------------------------------------------------------- state


def test_the_result_of_a_dimmer_command_is_read() -> None:
    driver = lamp(rgb=True)
    # tasmota/docs Berry.md, tasmota.cmd("Dimmer 50") example.
    payload = (
        b'{"POWER":"ON","Dimmer":50,"Color":"808080","HSBColor":"0,0,50","Channel":[50,50,50]}'
    )
    assert driver.receive("stat/floorlamp/RESULT", payload) == Reception(
        "state", {"on": True, "level": 0.5, "rgb": [255, 255, 255]}
    )


def test_telemetry_with_ct_is_read() -> None:
    driver = lamp(kelvin_range=(2000, 6500))
    # home-assistant/core tests/components/tasmota/test_light.py (test_transition).
    payload = b'{"POWER":"ON","Dimmer":50, "CT":153, "White":50}'
    assert driver.receive("tele/floorlamp/STATE", payload) == Reception(
        "state", {"on": True, "level": 0.5, "kelvin": 6536}
    )


def test_stat_power_is_plain_on_or_off() -> None:
    driver = lamp()
    driver.receive("stat/floorlamp/RESULT", b'{"POWER":"ON","Dimmer":70}')
    assert driver.receive("stat/floorlamp/POWER", b"OFF") == Reception(
        "state", {"on": False, "level": 0.7}
    )


@pytest.mark.parametrize(
    ("color", "rgb"),
    [
        ("FF0000", [255, 0, 0]),
        ("800000", [255, 0, 0]),  # dimmed red is still red
        ("1A0D00FF00", [255, 128, 0]),  # RGBCW: the RGB part
        ("255,128,0", [255, 128, 0]),  # SetOption17 decimal
        ("#00FF00", [0, 255, 0]),
    ],
)
def test_color_is_read_as_the_hue_at_full_brightness(color: str, rgb: list[int]) -> None:
    driver = lamp(rgb=True)
    driver.receive("stat/floorlamp/RESULT", f'{{"Color":"{color}"}}'.encode())
    assert driver.state == {"rgb": rgb}


@pytest.mark.parametrize("color", ["000000FF62", "FF80", "0,0,0,255,98"])
def test_a_white_only_colour_reports_no_rgb(color: str) -> None:
    assert (
        lamp(rgb=True).receive("stat/floorlamp/RESULT", f'{{"Color":"{color}"}}'.encode()) is None
    )


def test_results_of_other_commands_are_ignored() -> None:
    assert lamp().receive("stat/floorlamp/RESULT", b'{"Fade":"ON"}') is None
    assert lamp().receive("stat/floorlamp/RESULT", b'{"Speed2":4}') is None


def test_an_unknown_command_reply_is_an_error() -> None:
    reception = lamp().receive("stat/floorlamp/RESULT", b'{"Command":"Unknown"}')
    assert reception == Reception(
        "error",
        {"error": "stat/floorlamp/RESULT: the device did not take a command (Command 'Unknown')"},
    )


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("stat/floorlamp/RESULT", b'{"Dimmer":150}', "Dimmer 150 is outside 0–100"),
        ("stat/floorlamp/RESULT", b'{"Dimmer":"50"}', "Dimmer is a string, not a number"),
        ("stat/floorlamp/RESULT", b'{"CT":100}', "CT 100 is outside 153–500"),
        ("stat/floorlamp/RESULT", b'{"POWER":"MAYBE"}', "POWER 'MAYBE' is not ON or OFF"),
        ("stat/floorlamp/RESULT", b'{"Color":"XYZ"}', "Color 'XYZ' is not a hex colour"),
        (
            "stat/floorlamp/RESULT",
            b'{"Color":"300,0,0"}',
            "Color '300,0,0' has a channel above 255",
        ),
        ("stat/floorlamp/RESULT", b'{"Color":"1,2,x"}', "Color '1,2,x' is not decimal channels"),
        ("tele/floorlamp/STATE", b'{"POWER":"ON"', "payload is not valid JSON"),
        ("stat/floorlamp/POWER", b"2", "POWER '2' is not ON or OFF"),
    ],
)
def test_a_bad_report_is_an_error_and_leaves_the_state(
    topic: str, payload: bytes, reason: str
) -> None:
    driver = lamp(rgb=True, kelvin_range=(2000, 6500))
    driver.receive("stat/floorlamp/RESULT", b'{"POWER":"ON","Dimmer":40}')
    reception = driver.receive(topic, payload)
    assert reception is not None and reception.kind == "error"
    assert reception.data["error"].startswith(f"{topic}: {reason}")
    assert driver.state == {"on": True, "level": 0.4}
