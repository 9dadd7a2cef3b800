"""A simulated WLED strip, stepped tick by tick on an injected clock."""

from __future__ import annotations

import pytest

from controller.sim.wled import WledLight
from tests.sim.support import make_device, only

BASE = "wled/strip"


@pytest.fixture
def strip() -> WledLight:
    return WledLight(make_device("wled", "strip", rgb=True, label="Strip"))


def send(strip: WledLight, topic: str, payload: str, now: float) -> dict[str, list[str | bytes]]:
    published = strip.handle(topic, payload.encode(), now)
    return {name: only(published, f"{BASE}/{name}") for name in ("g", "c")}


def test_speaks_wled_topics(strip: WledLight) -> None:
    assert (strip.availability.topic, strip.availability.online) == (f"{BASE}/status", "online")
    assert strip.availability.offline == "offline"
    assert strip.subscriptions() == [BASE, f"{BASE}/col", f"{BASE}/api"]
    published = strip.connected(0.0)
    assert only(published, f"{BASE}/g") == ["128"]
    assert only(published, f"{BASE}/c") == ["#FFA000"]
    assert only(published, f"{BASE}/v") == [
        '<?xml version="1.0" ?><vs><ac>128</ac><cl>255</cl><cl>160</cl><cl>0</cl>'
        "<ds>Strip</ds></vs>"
    ]


@pytest.mark.parametrize(
    ("payload", "brightness"),
    [("200", "200"), ("300", "44"), ("OFF", "0"), ("hello", "0"), ("0x20", "0")],
)
def test_plain_topic_reads_a_byte_like_strtoul(
    strip: WledLight, payload: str, brightness: str
) -> None:
    assert send(strip, BASE, payload, now=5.0)["g"] == [brightness]


def test_on_brings_back_the_last_brightness_and_t_toggles(strip: WledLight) -> None:
    send(strip, BASE, "200", now=0.0)
    assert send(strip, BASE, "OFF", now=2.0)["g"] == ["0"]
    assert send(strip, BASE, "ON", now=4.0)["g"] == ["200"]
    assert send(strip, BASE, "T", now=6.0)["g"] == ["0"]
    assert send(strip, BASE, "text", now=8.0)["g"] == ["200"]  # a "t" toggles
    assert send(strip, BASE, "true", now=10.0)["g"] == []  # already on: no change, no publish


def test_changes_within_a_second_are_published_once_merged(strip: WledLight) -> None:
    assert send(strip, BASE, "50", now=10.0)["g"] == ["50"]
    assert send(strip, BASE, "60", now=10.3)["g"] == []
    assert send(strip, BASE, "70", now=10.6)["g"] == []
    assert strip.tick(10.9) == []
    assert only(strip.tick(11.0), f"{BASE}/g") == ["70"]
    assert strip.tick(12.5) == []


@pytest.mark.parametrize(
    ("payload", "colour"),
    [
        ("#FF0000", "#FF0000"),
        ("#80FF0000", "#80FF0000"),
        ("h00FF00", "#00FF00"),
        ("255", "#0000FF"),
    ],
)
def test_col_takes_hex_after_a_hash_and_decimal_otherwise(
    strip: WledLight, payload: str, colour: str
) -> None:
    assert send(strip, f"{BASE}/col", payload, now=5.0)["c"] == [colour]


def test_api_tt_fades_this_change_only(strip: WledLight) -> None:
    published = send(strip, f"{BASE}/api", '{"on":true,"bri":50,"tt":20}', now=0.0)
    assert published["g"] == ["50"]
    assert [strip.output.at(t)[0] for t in (0.0, 1.0, 2.0)] == [128.0, 89.0, 50.0]
    send(strip, f"{BASE}/api", '{"bri":150}', now=5.0)
    assert strip.output.ends == pytest.approx(5.75)  # the default 0.75 s again


def test_api_transition_is_kept_for_later_changes(strip: WledLight) -> None:
    send(strip, f"{BASE}/api", '{"transition":30}', now=0.0)
    send(strip, BASE, "228", now=1.0)
    assert strip.output.at(2.5)[0] == 178.0  # halfway from 128 to 228 over 3 s


def test_api_brightness_out_of_a_byte_becomes_0_and_negative_is_ignored(strip: WledLight) -> None:
    assert send(strip, f"{BASE}/api", '{"bri":-5}', now=0.0)["g"] == []
    assert send(strip, f"{BASE}/api", '{"bri":300}', now=2.0)["g"] == ["0"]
    assert send(strip, f"{BASE}/api", '{"on":"t"}', now=4.0)["g"] == ["128"]


@pytest.mark.parametrize(
    ("api", "colour"),
    [
        ('{"seg":[{"col":[[0,0,255]]}]}', "#0000FF"),
        ('{"seg":{"col":["00FF00"]}}', "#00FF00"),
        ('{"seg":[{"col":[{"r":10}]}]}', "#0AA000"),
        ('{"seg":[{"col":[[1,2,3,4]]}]}', "#4010203"),
        ('{"seg":[{"col":["#00FF00"]}]}', "#FFA000"),
    ],
)
def test_api_segment_colours(strip: WledLight, api: str, colour: str) -> None:
    send(strip, f"{BASE}/api", api, now=5.0)
    assert only(strip.connected(10.0), f"{BASE}/c") == [colour]


def test_cct_is_per_segment_and_a_root_cct_is_ignored(strip: WledLight) -> None:
    send(strip, f"{BASE}/api", '{"cct":10}', now=0.0)
    assert strip.cct == 127
    send(strip, f"{BASE}/api", '{"seg":[{"cct":6500}]}', now=1.0)
    assert strip.cct == (6500 - 1900) >> 5


def test_a_segment_switched_off_goes_dark_but_keeps_its_brightness(strip: WledLight) -> None:
    send(strip, f"{BASE}/api", '{"seg":[{"on":false}],"tt":0}', now=0.0)
    assert strip.output.at(0.0)[0] == 0.0
    assert only(strip.connected(5.0), f"{BASE}/g") == ["128"]


@pytest.mark.parametrize("payload", ["{oops", "[1,2]", "A=128&T=1", ""])
def test_unreadable_api_requests_change_nothing(strip: WledLight, payload: str) -> None:
    assert strip.handle(f"{BASE}/api", payload.encode(), 5.0) == []
    assert (strip.bri, strip.colour) == (128, (255, 160, 0, 0))
