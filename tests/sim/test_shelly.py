"""A simulated Shelly Gen2 light answering JSON-RPC over MQTT, stepped on an injected clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.sim.shelly import ShellyLight
from tests.sim.support import json_of, make_device

STATUS = "shellydimmer/status/light:0"


@pytest.fixture
def dimmer() -> ShellyLight:
    return ShellyLight(make_device("shelly", "shellydimmer"), unix_offset=1_700_000_000.0)


def call(shelly: ShellyLight, method: str, params: Any, now: float) -> dict[str, Any]:
    """The answer to one RPC request from `console`."""
    request = {"id": 7, "src": "console", "method": method, "params": params}
    replies = json_of(
        shelly.handle(f"{shelly.prefix}/rpc", json.dumps(request).encode(), now), "console/rpc"
    )
    assert len(replies) == 1
    reply: dict[str, Any] = replies[0]
    return reply


def test_speaks_shelly_topics(dimmer: ShellyLight) -> None:
    assert (dimmer.availability.topic, dimmer.availability.online) == (
        "shellydimmer/online",
        "true",
    )
    assert dimmer.availability.offline == "false"
    assert dimmer.subscriptions() == ["shellydimmer/rpc"]
    assert json_of(dimmer.connected(0.0), STATUS) == [
        {"id": 0, "source": "init", "output": False, "brightness": 50}
    ]


def test_light_set_answers_with_a_result_and_publishes_the_status(dimmer: ShellyLight) -> None:
    published = dimmer.handle(
        "shellydimmer/rpc",
        b'{"id":1,"src":"console","method":"Light.Set","params":{"id":0,"on":true,"brightness":80}}',
        0.0,
    )
    assert json_of(published, "console/rpc") == [
        {"id": 1, "src": "shellydimmer", "dst": "console", "result": None}
    ]
    assert json_of(published, STATUS) == [
        {"id": 0, "source": "MQTT", "output": True, "brightness": 80}
    ]


def test_a_transition_reports_progress_then_the_end(dimmer: ShellyLight) -> None:
    call(dimmer, "Light.Set", {"id": 0, "on": True, "brightness": 100}, now=0.0)
    call(dimmer, "Light.Set", {"id": 0, "brightness": 20, "transition_duration": 2}, now=10.0)
    started = dimmer.status(10.0)
    assert started["transition"] == {
        "target": {"output": True, "brightness": 20},
        "started_at": 1_700_000_010.0,
        "duration": 2.0,
    }
    levels = [
        [s["brightness"] for s in json_of(dimmer.tick(t), STATUS)] for t in (10.5, 11.0, 12.0)
    ]
    assert levels == [[80], [60], [20]]
    assert "transition" not in dimmer.status(12.0)


def test_off_with_a_transition_fades_out_then_switches_off(dimmer: ShellyLight) -> None:
    call(dimmer, "Light.Set", {"id": 0, "on": True, "brightness": 60}, now=0.0)
    call(dimmer, "Light.Set", {"id": 0, "on": False, "transition_duration": 1}, now=1.0)
    assert dimmer.status(1.5)["output"] is True and dimmer.status(1.5)["brightness"] == 30
    final = json_of(dimmer.tick(2.0), STATUS)
    assert (final[0]["output"], final[0]["brightness"]) == (False, 60)


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("Light.Sett", {"id": 0, "on": True}, 404),
        ("Light.Set", {"id": 1, "on": True}, -105),
        ("Light.Set", {"on": True}, -103),
        ("Light.Set", {"id": 0, "brightness": 150}, -103),
        ("Light.Set", {"id": 0, "on": "yes"}, -103),
        ("Light.Set", {"id": 0}, -103),
        ("Light.Set", {"id": 0, "on": True, "transition_duration": -1}, -103),
        ("Light.Set", [0, True], -103),
    ],
)
def test_bad_requests_get_a_json_rpc_error_and_change_nothing(
    dimmer: ShellyLight, method: str, params: Any, code: int
) -> None:
    answer = call(dimmer, method, params, now=0.0)
    assert answer["error"]["code"] == code
    assert "result" not in answer
    assert dimmer.status(0.0)["output"] is False


@pytest.mark.parametrize("payload", [b"not json", b"\xff", b"[]", b'{"id":1,"method":"Light.Set"}'])
def test_a_request_it_cannot_answer_is_dropped(dimmer: ShellyLight, payload: bytes) -> None:
    assert dimmer.handle("shellydimmer/rpc", payload, 0.0) == []


def test_get_status_and_toggle(dimmer: ShellyLight) -> None:
    assert call(dimmer, "Light.Toggle", {"id": 0}, now=0.0)["result"] is None
    assert call(dimmer, "Light.GetStatus", {"id": 0}, now=1.0)["result"]["output"] is True


def test_toggle_after_flips_the_output_back(dimmer: ShellyLight) -> None:
    call(dimmer, "Light.Set", {"id": 0, "on": True, "toggle_after": 5}, now=0.0)
    assert dimmer.tick(4.9) == []
    flipped = json_of(dimmer.tick(5.0), STATUS)
    assert (flipped[0]["output"], flipped[0]["source"]) == (False, "timer")


def test_an_rgb_controller_takes_rgb_set() -> None:
    rgb = ShellyLight(make_device("shelly", "shellyrgb", rgb=True))
    answer = call(rgb, "RGB.Set", {"id": 0, "on": True, "rgb": [255, 0, 0]}, now=0.0)
    assert answer["result"] is None
    assert rgb.status(0.0)["rgb"] == [255, 0, 0]
    assert rgb.state_topic == "shellyrgb/status/rgb:0"
    assert call(rgb, "RGB.Set", {"id": 0, "rgb": [300, 0, 0]}, now=1.0)["error"]["code"] == -103
