"""What devices send, kept within bounds: only validated data enters the engine's state, a
device's rate is capped, and dropped messages are journaled once per device a minute
(docs/robustness.md#devices). Driven tick by tick on a manual clock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from controller.bus.inbox import FULL
from controller.engine.intake import BURST, RATE_PER_S, REPORT_EVERY_S, DeviceIntake, Drops
from tests.engine.test_engine import Room

VR_STATE = "vr/headset/state"


@pytest.fixture
def room(tmp_path: Path) -> Room:
    return Room(tmp_path)


def errors(room: Room) -> list[dict[str, Any]]:
    return [event for event in room.engine.take_events() if event["kind"] == "error"]


# --------------------------------------------------------------------------- the bookkeeping


def test_a_device_may_burst_then_send_at_its_rate() -> None:
    intake = DeviceIntake(rate_per_s=10, burst=5)
    assert [intake.admit("strip", 0.0) for _ in range(6)] == [True] * 5 + [False]
    assert intake.admit("strip", 0.1) is True  # one token back after 1/10 s
    assert intake.admit("strip", 0.1) is False
    assert intake.admit("lamp", 0.1) is True  # each device has its own


def test_drops_are_reported_once_then_summed_up_each_interval_until_quiet() -> None:
    intake = DeviceIntake(report_every_s=60)
    assert intake.dropped("strip", "bad 1", 0.0, flooding=False) == Drops(
        "strip", 1, "bad 1", False
    )
    assert intake.dropped("strip", "bad 2", 1.0, flooding=True) is None
    assert intake.dropped("strip", "bad 3", 2.0, flooding=False) is None
    assert intake.due(59.0) == []
    assert intake.due(60.0) == [Drops("strip", 2, "bad 3", True)]
    assert intake.due(120.0) == [Drops("strip", 0, "bad 3", False)]  # quiet for a minute
    assert intake.due(180.0) == []
    assert intake.dropped("strip", "bad 4", 181.0, flooding=False) == Drops(
        "strip", 1, "bad 4", False
    )


# --------------------------------------------------------------------------- the engine


def test_vr_content_with_a_lone_surrogate_never_enters_the_state(room: Room) -> None:
    """Once stored, such a string made the retained state unserialisable
    (PydanticSerializationError in every tick)."""
    room.device(VR_STATE, '{"status":"playing","content":"meadow"}')
    room.device(VR_STATE, b'{"status":"playing","content":"a\\ud800b"}')
    assert room.engine.drivers["headset"].state == {"status": "playing", "content": "meadow"}
    (error,) = errors(room)
    assert error["device"] == "headset"
    assert "lone UTF-16 surrogate" in error["payload"]["error"]
    room.engine.snapshot().model_dump_json()  # the state still serialises


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("x" * 65_000, "longer than 256"),
        ("x" * 257, "content of 257 characters is longer than 256"),
        ("line\nbreak", "holds a control character"),
    ],
)
def test_vr_content_must_be_a_short_printable_name(room: Room, content: str, reason: str) -> None:
    room.device(VR_STATE, json.dumps({"status": "playing", "content": content}))
    assert room.engine.drivers["headset"].state == {}
    (error,) = errors(room)
    assert reason in error["payload"]["error"]


def test_garbage_from_a_device_is_journaled_once_a_minute_not_once_a_message(room: Room) -> None:
    errors(room)  # the start-up events
    for _ in range(500):
        room.device(VR_STATE, b"\xff garbage")
        room.tick(0.05)  # 20 a second: within the rate
    (first,) = errors(room)
    assert first["payload"] == {"error": "vr/headset/state: payload is not UTF-8 text (byte 0)"}
    room.tick(REPORT_EVERY_S - 25.0)
    (summary,) = errors(room)
    assert summary["payload"]["dropped"] == 499
    assert "499 more messages dropped" in room.engine.recorder.timeline[-1].text


def test_a_flooding_device_is_cut_to_its_rate_with_one_error_and_a_warning(room: Room) -> None:
    errors(room)
    for index in range(1000):  # all at one instant
        room.device(VR_STATE, json.dumps({"status": "playing", "position_s": index}))
    states = room.engine.drivers["headset"].state
    assert states["position_s"] == BURST - 1  # the rest was dropped unread
    (error,) = errors(room)
    assert f"more than {RATE_PER_S:g} messages a second" in error["payload"]["error"]
    alerts = {alert.key: alert for alert in room.engine.snapshot().alerts}
    assert alerts["input:headset"].level == "warning"
    room.tick(REPORT_EVERY_S)
    (summary,) = errors(room)
    assert summary["payload"]["dropped"] == 1000 - BURST - 1
    room.tick(REPORT_EVERY_S)
    assert "input:headset" not in {alert.key for alert in room.engine.snapshot().alerts}
    assert errors(room) == []


def test_reports_on_the_engine_s_connection_with_a_device_flooding_it_are_critical(
    room: Room,
) -> None:
    """docs/robustness.md#a-flood-of-device-reports: read on the engine's own connection
    while theirs is down, a device's flood stands in front of every command: the `intake`
    alert is critical while the device's `input:` alert stands, a warning again after."""

    def intake_level() -> str:
        return {a.key: a.level for a in room.engine.snapshot().alerts}["intake"]

    room.engine.reports_changed("not authorised", shared=True)
    assert intake_level() == "warning"
    for index in range(1000):  # all at one instant
        room.device(VR_STATE, json.dumps({"status": "playing", "position_s": index}))
    assert intake_level() == "critical"
    room.tick(REPORT_EVERY_S)
    room.tick(REPORT_EVERY_S)
    assert "input:headset" not in {alert.key for alert in room.engine.snapshot().alerts}
    assert intake_level() == "warning"


def test_what_the_bus_dropped_on_arrival_is_counted_under_its_device_or_the_inbox(
    room: Room,
) -> None:
    errors(room)
    for _ in range(3):
        room.engine.message_dropped(VR_STATE, "payload of 70000 bytes is larger than 65536")
        room.engine.message_dropped("sessionroom/r/cmd", "the control inbox is full")
    headset, inbox = errors(room)
    assert (headset["device"], inbox["device"]) == ("headset", None)
    assert inbox["payload"] == {"error": "sessionroom/r/cmd: the control inbox is full"}
    alerts = {alert.key: alert.message for alert in room.engine.snapshot().alerts}
    assert alerts["input:inbox"] == "too many messages arrive; some are dropped unread"
    room.tick(REPORT_EVERY_S)
    assert [event["payload"]["dropped"] for event in errors(room)] == [2, 2]


def test_one_report_dropped_as_too_large_is_no_flood_in_front_of_the_commands(
    room: Room,
) -> None:
    """Read on the engine's own connection, one oversized report from a device (dropped on
    arrival, nothing queued) holds up no command: the `intake` alert stays a warning, and
    no `input:` alert says the device sends too many messages."""

    def levels() -> dict[str, str]:
        return {a.key: a.level for a in room.engine.snapshot().alerts}

    room.engine.reports_changed("not authorised", shared=True)
    reason = "payload of 70000 bytes is larger than 65536"
    room.engine.message_dropped(VR_STATE, reason, flooding=reason.endswith(FULL))

    assert "input:headset" not in levels()
    assert levels()["intake"] == "warning"
    (error,) = errors(room)  # still journaled
    assert error["device"] == "headset"


def test_a_flood_behind_an_unreadable_report_is_told_at_once(room: Room) -> None:
    """One unreadable report is journaled at once (no flood); a flood in the same minute is
    counted for the minute's summary, but stands in front of the commands now: its `input:`
    alert, and the `intake` alert's critical level, cannot wait for the summary."""

    def levels() -> dict[str, str]:
        return {a.key: a.level for a in room.engine.snapshot().alerts}

    room.engine.reports_changed("not authorised", shared=True)
    room.device(VR_STATE, b"not json")
    assert levels()["intake"] == "warning"
    for index in range(1000):  # all at one instant
        room.device(VR_STATE, json.dumps({"status": "playing", "position_s": index}))

    assert levels().get("input:headset") == "warning"
    assert levels()["intake"] == "critical"
    assert len(errors(room)) == 1  # the journal still waits for the minute's summary
