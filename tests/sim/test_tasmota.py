"""A simulated Tasmota RGBCCT light, stepped tick by tick on an injected clock."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from controller.sim.tasmota import TasmotaLight
from tests.sim.support import json_of, make_device, only

RESULT = "stat/lamp/RESULT"


@pytest.fixture
def lamp() -> TasmotaLight:
    device = make_device("tasmota", "lamp", kelvin_range=(2000, 6500), rgb=True)
    return TasmotaLight(device, unix_offset=1_700_000_000.0)


def command(
    lamp: TasmotaLight, name: str, value: str | bytes, now: float = 0.0
) -> list[dict[str, Any]]:
    payload = value if isinstance(value, bytes) else value.encode()
    return json_of(lamp.handle(f"cmnd/lamp/{name}", payload, now), RESULT)


def test_speaks_tasmota_topics(lamp: TasmotaLight) -> None:
    assert (lamp.availability.topic, lamp.availability.online) == ("tele/lamp/LWT", "Online")
    assert lamp.availability.offline == "Offline"
    assert lamp.subscriptions() == ["cmnd/lamp/+"]


def test_dimmer_answers_the_whole_light_state(lamp: TasmotaLight) -> None:
    assert command(lamp, "Dimmer", "40") == [
        {
            "POWER": "ON",
            "Dimmer": 40,
            "Color": "0000006600",
            "HSBColor": "0,0,0",
            "White": 40,
            "CT": 153,
            "Channel": [0, 0, 0, 40, 0],
        }
    ]


@pytest.mark.parametrize("value", ["150", "101", "abc", "", "?", "\udcff"])
def test_a_dimmer_out_of_range_changes_nothing_and_repeats_the_value(
    lamp: TasmotaLight, value: str
) -> None:
    command(lamp, "Dimmer", "40")
    assert command(lamp, "Dimmer", value.encode("utf-8", "surrogateescape")) == [{"Dimmer": 40}]


def test_dimmer_steps_and_zero_switches_off(lamp: TasmotaLight) -> None:
    command(lamp, "Dimmer", "40")
    assert command(lamp, "Dimmer", "+")[0]["Dimmer"] == 50
    assert command(lamp, "Dimmer", "-5")[0]["Dimmer"] == 45
    assert command(lamp, "dimmer", "0")[0]["POWER"] == "OFF"


def test_ct_sets_white_and_out_of_range_repeats_it(lamp: TasmotaLight) -> None:
    state = command(lamp, "CT", "500")[0]
    assert (state["CT"], state["Color"], state["Channel"]) == (500, "00000000FF", [0, 0, 0, 0, 100])
    assert command(lamp, "CT", "600") == [{"CT": 500}]


@pytest.mark.parametrize(
    ("value", "dimmer", "colour", "hsb"),
    [
        ("#FF0000", 100, "FF00000000", "0,100,100"),
        ("FF0000", 100, "FF00000000", "0,100,100"),
        ("255,128,0", 100, "FF80000000", "30,100,100"),
        ("#800000", 50, "8000000000", "0,100,50"),
        ("000000FF00", 100, "000000FF00", "0,0,0"),
    ],
)
def test_color_in_hex_or_decimal(
    lamp: TasmotaLight, value: str, dimmer: int, colour: str, hsb: str
) -> None:
    state = command(lamp, "Color", value)[0]
    assert (state["Dimmer"], state["Color"], state["HSBColor"]) == (dimmer, colour, hsb)


def test_an_unreadable_color_repeats_the_current_one(lamp: TasmotaLight) -> None:
    command(lamp, "Color", "#FF0000")
    assert command(lamp, "Color", "xy") == [{"Color": "FF00000000"}]


def test_hsbcolor_sets_colour_and_clamps_out_of_range_parts(lamp: TasmotaLight) -> None:
    green = command(lamp, "HsbColor", "120,100,50")[0]
    assert (green["HSBColor"], green["Color"], green["Dimmer"]) == ("120,100,50", "0080000000", 50)
    clamped = command(lamp, "HsbColor", "400,150,100")[0]
    assert clamped["HSBColor"] == "0,100,100"
    assert command(lamp, "HsbColor2", "50")[0]["HSBColor"] == "0,50,100"


def test_fade_with_speed_4_takes_2_s_full_scale(lamp: TasmotaLight) -> None:
    assert command(lamp, "Fade", "1") == [{"Fade": "ON"}]
    assert command(lamp, "Speed", "4") == [{"Speed": 4}]
    answered = command(lamp, "Dimmer", "100", now=10.0)
    assert answered[0]["Dimmer"] == 100  # the target, at once
    cold = [lamp.output.at(t)[3] for t in (10.0, 10.5, 11.0, 11.5, 12.0, 13.0)]
    assert cold == [0.0, 63.75, 127.5, 191.25, 255.0, 255.0]


def test_a_smaller_change_fades_for_proportionally_less(lamp: TasmotaLight) -> None:
    command(lamp, "Dimmer", "100")
    command(lamp, "Backlog0", "Fade 1; Speed 4")
    command(lamp, "Dimmer", "50", now=20.0)  # 255 → 128: 127/255 of the 2 s
    assert lamp.output.ends == pytest.approx(20.0 + 2.0 * 127 / 255)
    assert lamp.output.at(lamp.output.ends)[3] == 128.0


def test_a_change_mid_fade_goes_on_from_where_the_output_is_at_the_same_speed(
    lamp: TasmotaLight,
) -> None:
    command(lamp, "Backlog0", "Fade 1; Speed 4")
    command(lamp, "Dimmer", "100", now=0.0)  # 0 → 255 in 2 s
    command(lamp, "Dimmer", "0", now=0.5)  # from 63.75: a quarter of the full-scale 2 s
    assert lamp.output.at(0.5)[3] == 63.75
    assert lamp.output.ends == pytest.approx(1.0)


def test_setoption117_fades_every_change_over_the_speeds_whole_time(lamp: TasmotaLight) -> None:
    assert command(lamp, "SetOption117", "") == [{"SetOption117": "OFF"}]  # Tasmota's default
    assert command(lamp, "SetOption117", "1") == [{"SetOption117": "ON"}]
    command(lamp, "Dimmer", "100")
    command(lamp, "Backlog0", "Fade 1; Speed 4")
    command(lamp, "Dimmer", "50", now=20.0)  # 255 → 128 in 2 s, not 127/255 of it
    assert lamp.output.ends == pytest.approx(22.0)
    command(lamp, "Dimmer", "100", now=21.0)  # from halfway (191.5), again 2 s
    assert lamp.output.at(21.0)[3] == pytest.approx(191.5)
    assert lamp.output.ends == pytest.approx(23.0)
    assert lamp.output.at(22.0)[3] == pytest.approx((191.5 + 255) / 2)


def test_setoption117_with_speed2_fades_once_for_half_seconds(lamp: TasmotaLight) -> None:
    answers = command(
        lamp, "Backlog", "NoDelay;SetOption117 1;NoDelay;Speed2 3;NoDelay;Dimmer 10", now=1.0
    )
    assert answers[:2] == [{"SetOption117": "ON"}, {"Speed2": 3}]
    assert lamp.output.ends == pytest.approx(2.5)  # 0 → 26: 1.5 s
    command(lamp, "Dimmer", "20", now=5.0)
    assert lamp.output.at(5.0)[3] == 51.0  # Fade is off: at once


def test_setoption117_keeps_its_value_when_given_another(
    lamp: TasmotaLight, caplog: pytest.LogCaptureFixture
) -> None:
    command(lamp, "SetOption117", "1")
    with caplog.at_level(logging.WARNING, "controller.sim"):
        assert command(lamp, "SetOption117", "5") == [{"SetOption117": "ON"}]
        assert command(lamp, "SetOption20", "1") == []
    assert "SetOption117" in caplog.text and "SetOption20 (not simulated)" in caplog.text


def test_without_fade_the_output_jumps(lamp: TasmotaLight) -> None:
    command(lamp, "Dimmer", "100", now=5.0)
    assert lamp.output.at(5.0)[3] == 255.0


def test_speed2_fades_once_then_speed_applies_again(lamp: TasmotaLight) -> None:
    assert command(lamp, "Speed2", "2") == [{"Speed2": 2}]
    command(lamp, "Dimmer", "100", now=0.0)
    assert lamp.output.at(0.5)[3] == 127.5  # 1 s full scale
    command(lamp, "Dimmer", "0", now=5.0)
    assert lamp.output.at(5.0)[3] == 0.0  # Fade is off again


def test_power_answers_on_result_and_power_topics(lamp: TasmotaLight) -> None:
    published = lamp.handle("cmnd/lamp/Power", b"ON", 0.0)
    assert json_of(published, RESULT) == [{"POWER": "ON"}]
    assert only(published, "stat/lamp/POWER") == ["ON"]
    assert command(lamp, "POWER", "toggle") == [{"POWER": "OFF"}]
    assert command(lamp, "Power", "") == [{"POWER": "OFF"}]


def test_power_blink_is_not_simulated(lamp: TasmotaLight, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "controller.sim"):
        assert command(lamp, "Power", "BLINK") == [{"POWER": "OFF"}]
    assert "BLINK" in caplog.text


def test_backlog_runs_its_commands_200_ms_apart(lamp: TasmotaLight) -> None:
    first = command(lamp, "Backlog", "Dimmer 30; CT 300 ;Power OFF", now=1.0)
    assert [answer["Dimmer"] for answer in first] == [30]
    assert lamp.tick(1.1) == []
    assert [s["CT"] for s in json_of(lamp.tick(1.2), RESULT)] == [300]
    assert lamp.tick(1.3) == []
    assert json_of(lamp.tick(1.4), RESULT) == [{"POWER": "OFF"}]


def test_no_delay_runs_the_next_backlog_command_at_once(lamp: TasmotaLight) -> None:
    answers = command(lamp, "Backlog", "NoDelay;Fade 1;NoDelay;CT 300;NoDelay;Dimmer 40", now=1.0)
    assert answers == [{"Fade": "ON"}, answers[1], answers[2]]
    assert (answers[1]["CT"], answers[2]["Dimmer"]) == (300, 40)
    assert all("Command" not in answer for answer in answers)


def test_commands_run_at_once_change_the_light_in_one_fade_at_their_speed2(
    lamp: TasmotaLight,
) -> None:
    """Tasmota's light driver starts a fade between loop passes (`LightAnimate`), not in a
    command: the colour and the level of one `NoDelay` Backlog fade together, over the
    `Speed2` before them. Faded one command at a time, the `Speed2` went to the first (the
    colour) and the level faded at the saved `Speed`."""
    command(lamp, "Dimmer", "10", now=0.0)
    sent = "NoDelay;Fade 1;NoDelay;SetOption117 1;NoDelay;Speed2 6;NoDelay;CT 250;NoDelay;Dimmer 80"
    command(lamp, "Backlog", sent, now=1.0)
    assert (lamp.output.begins, lamp.output.ends) == (1.0, pytest.approx(4.0))
    assert lamp.output.target == tuple(float(level) for level in lamp.levels())


def test_an_unknown_command_says_so(lamp: TasmotaLight) -> None:
    assert command(lamp, "Frobnicate", "1") == [{"Command": "Unknown"}]
    assert command(lamp, "Power2", "ON") == [{"Command": "Unknown"}]


def test_state_and_telemetry_carry_time_uptime_and_the_light(lamp: TasmotaLight) -> None:
    connected = json_of(lamp.connected(100.0), "tele/lamp/STATE")[0]
    assert (connected["Time"], connected["Uptime"], connected["MqttCount"]) == (
        "2023-11-14T22:15:00",
        "0T00:00:00",
        1,
    )
    command(lamp, "Dimmer", "60", now=150.0)
    assert lamp.tick(399.0) == []
    tele = json_of(lamp.tick(400.0), "tele/lamp/STATE")[0]
    assert (tele["UptimeSec"], tele["Dimmer"], tele["Fade"], tele["Speed"]) == (300, 60, "OFF", 1)
    assert command(lamp, "State", "", now=401.0)[0]["Uptime"] == "0T00:05:01"


def test_teleperiod_changes_how_often_state_is_sent(lamp: TasmotaLight) -> None:
    lamp.connected(0.0)
    assert command(lamp, "TelePeriod", "10") == [{"TelePeriod": 10}]
    assert lamp.tick(9.9) == []
    assert len(json_of(lamp.tick(10.0), "tele/lamp/STATE")) == 1
    assert command(lamp, "TelePeriod", "5") == [{"TelePeriod": 10}]


def test_a_single_channel_light_has_no_colour() -> None:
    dimmer = TasmotaLight(make_device("tasmota", "lamp"))
    assert json_of(dimmer.handle("cmnd/lamp/Dimmer", b"50", 0.0), RESULT) == [
        {"POWER": "ON", "Dimmer": 50}
    ]
    assert json.loads(dimmer.handle("cmnd/lamp/Color", b"#FF0000", 0.0)[0].payload) == {
        "Command": "Unknown"
    }
    assert dimmer.handle("cmnd/lamp/CT", b"300", 0.0) == []
