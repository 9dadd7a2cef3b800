"""The room's alerts (`AlertBoard`): offline devices, vitals, the broker, the journal, safety.

Each alert has a stable key while it stands and keeps the time it was first raised; a vitals
alert states the reading and the threshold it crossed (docs/safety.md#vitals-alerts), and
the board says which vitals alerts were raised, renewed or cleared.
"""

from __future__ import annotations

import pytest

from controller.api.state import Alert
from controller.config import Room
from controller.engine.alerts import AlertBoard, VitalsChange
from controller.engine.record import iso_wall
from tests.engine.room_parts import example_room

WALL_NS = 1_795_000_000_000_000_000
LATER_NS = WALL_NS + 60_000_000_000
HR_HIGH = "Heart rate 130 bpm is above the alert threshold of 120 bpm."


@pytest.fixture(scope="module")
def room() -> Room:
    return example_room()


def alert(key: str, kind: str, level: str, message: str, wall_ns: int = WALL_NS) -> Alert:
    return Alert.model_validate(
        {"key": key, "kind": kind, "level": level, "message": message, "since": iso_wall(wall_ns)}
    )


@pytest.mark.parametrize(
    ("device_id", "level", "message"),
    [
        ("ceiling", "critical", "Ceiling light is offline"),  # essential
        ("strip", "warning", "LED strip behind the couch is offline"),
    ],
)
def test_a_device_offline_is_critical_when_essential_and_a_warning_otherwise(
    room: Room, device_id: str, level: str, message: str
) -> None:
    board = AlertBoard()
    board.device(device_id, room.devices[device_id], "offline", WALL_NS)
    assert board.values() == [alert(f"device:{device_id}", "device", level, message)]


@pytest.mark.parametrize("available", ["online", "unknown"])
def test_a_device_no_longer_offline_clears_its_alert(room: Room, available: str) -> None:
    board = AlertBoard()
    board.device("ceiling", room.devices["ceiling"], "offline", WALL_NS)
    board.device("ceiling", room.devices["ceiling"], available, LATER_NS)
    assert board.values() == []


def test_an_unconfigured_device_offline_is_a_warning_by_its_id() -> None:
    board = AlertBoard()
    board.device("mystery", None, "offline", WALL_NS)
    assert board.values() == [alert("device:mystery", "device", "warning", "mystery is offline")]


def test_an_alert_keeps_its_since_while_it_stands_and_starts_anew_after(room: Room) -> None:
    board = AlertBoard()
    board.device("strip", room.devices["strip"], "offline", WALL_NS)
    board.device("strip", room.devices["strip"], "offline", LATER_NS)
    assert board.alerts["device:strip"].since == iso_wall(WALL_NS)
    board.device("strip", room.devices["strip"], "online", LATER_NS)
    board.device("strip", room.devices["strip"], "offline", LATER_NS + 1_000)
    assert board.alerts["device:strip"].since == iso_wall(LATER_NS + 1_000)


def test_vitals_beyond_a_threshold_raise_renew_and_clear(room: Room) -> None:
    board = AlertBoard()
    thresholds = room.settings.safety.vitals
    key = "vitals:oximeter:hr"
    raised = board.vitals("oximeter", {"hr": 130, "spo2": 97}, thresholds, WALL_NS)
    assert raised == [VitalsChange(key, HR_HIGH)]
    assert board.values() == [alert(key, "vitals", "critical", HR_HIGH)]
    assert board.vitals("oximeter", {"hr": 130}, thresholds, LATER_NS) == []
    higher = "Heart rate 135 bpm is above the alert threshold of 120 bpm."
    assert board.vitals("oximeter", {"hr": 135}, thresholds, LATER_NS) == [
        VitalsChange(key, higher)
    ]
    assert board.values() == [alert(key, "vitals", "critical", higher)]  # since kept
    assert board.vitals("oximeter", {"spo2": 97}, thresholds, LATER_NS) == []  # hr not measured
    assert board.vitals("oximeter", {"hr": 80}, thresholds, LATER_NS) == [VitalsChange(key, None)]
    assert board.values() == []


def test_a_blood_pressure_alert_clears_on_either_pressure(room: Room) -> None:
    board = AlertBoard()
    thresholds = room.settings.safety.vitals
    key = "vitals:bp-cuff:bp"
    message = "Blood pressure 165/90 mmHg is at or above the alert threshold of 160/100 mmHg."
    assert board.vitals("bp-cuff", {"sys": 165, "dia": 90}, thresholds, WALL_NS) == [
        VitalsChange(key, message)
    ]
    assert board.vitals("bp-cuff", {"dia": 80}, thresholds, LATER_NS) == [VitalsChange(key, None)]


def test_the_vitals_of_one_device_leave_anothers_alerts_alone(room: Room) -> None:
    board = AlertBoard()
    thresholds = room.settings.safety.vitals
    board.vitals("oximeter", {"hr": 130}, thresholds, WALL_NS)
    assert board.vitals("bp-cuff", {"hr": 80}, thresholds, LATER_NS) == []
    assert list(board.alerts) == ["vitals:oximeter:hr"]


def test_the_broker_lost_is_critical_until_it_is_back() -> None:
    board = AlertBoard()
    board.broker(False, "connection refused", WALL_NS)
    message = "broker connection lost: connection refused"
    assert board.values() == [alert("broker", "broker", "critical", message)]
    board.broker(True, None, LATER_NS)
    assert board.values() == []


def test_a_journal_that_cannot_write_is_critical_until_it_writes_again() -> None:
    board = AlertBoard()
    board.journal("data: no space left on device", WALL_NS)
    message = "data: no space left on device"
    assert board.values() == [alert("journal", "journal", "critical", message)]
    board.journal(None, LATER_NS)
    assert board.values() == []


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("ceiling: level 150 % is outside 0–100 %", "ceiling: level 150 % is outside 0–100 %"),
        (None, "safety limit"),
    ],
)
def test_a_safety_verdict_is_a_warning_on_its_device(reason: str | None, message: str) -> None:
    board = AlertBoard()
    board.safety("ceiling", reason, WALL_NS)
    assert board.values() == [alert("safety:ceiling", "safety", "warning", message)]
