"""Two rooms run sessions side by side on one facility broker, each seeing only its own devices.

Every part is a real process logging in with the credentials `facility init` wrote into its
room's folder (`sessionroom run`, `sim`, `ctl`, `export`, all started from the repository's
folder, so the relative password and certificate files must resolve from the room's folder).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.facility.conftest import LoginFactory
from tests.facility.support import Facility
from tests.support.room import next_phase, running, sessionroom, spawn, until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

ROOMS = ("room-a", "room-b")


def config(facility: Facility, room: str) -> str:
    return str(facility.rooms[room] / "config.yaml")


def state(facility: Facility, room: str) -> dict[str, Any] | None:
    result = sessionroom("ctl", "--config", config(facility, room), "--timeout", "2", "state")
    return json.loads(result.stdout) if result.returncode == 0 else None


@pytest.fixture
def rooms_running(facility: Facility) -> Iterator[None]:
    # At the real pace no phase ends by itself while the test runs.
    with running(
        *(
            command
            for room in ROOMS
            for command in (
                ("sim", "--config", config(facility, room)),
                ("run", "--config", config(facility, room), "--time-scale", "1"),
            )
        )
    ):
        yield


def every_device_online(facility: Facility, room: str) -> dict[str, Any] | None:
    current = state(facility, room)
    if current is None:
        return None
    devices = current["devices"]
    return current if all(d["available"] == "online" for d in devices.values()) else None


def in_phase(facility: Facility, room: str, phase: str) -> bool:
    current = state(facility, room)
    return current is not None and (current["phase"] or {}).get("name") == phase


def device_topics_in_journal(facility: Facility, room: str, session: str) -> set[str]:
    result = sessionroom("export", "--config", config(facility, room), session, "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return {r["topic"] for r in records if r["topic"] and not r["topic"].startswith("sessionroom/")}


@pytest.mark.usefixtures("rooms_running")
def test_two_rooms_run_sessions_side_by_side_without_seeing_each_others_devices(
    facility: Facility,
) -> None:
    for room in ROOMS:
        until(lambda room=room: every_device_online(facility, room), f"{room}: devices online")
        started = sessionroom(
            "ctl", "--config", config(facility, room), "start", "plan=rehearsal", "participant=P014"
        )
        assert started.returncode == 0, started.stderr
    sessions = {}
    for room in ROOMS:
        current = until(
            lambda room=room: (s := state(facility, room)) and s["phase"] and s, f"{room} in phase"
        )
        assert current["session"]["participant"] == "P014"
        sessions[room] = current["session"]["id"]
    for room in ROOMS:
        next_phase(facility.rooms[room] / "config.yaml")
        until(lambda room=room: in_phase(facility, room, "peak"), f"{room} in peak")
    topics_a = device_topics_in_journal(facility, "room-a", sessions["room-a"])
    topics_b = device_topics_in_journal(facility, "room-b", sessions["room-b"])
    assert "zigbee2mqtt/ceiling_light/set" in topics_a
    assert "b-zigbee2mqtt/b-ceiling_light/set" in topics_b
    assert not [t for t in topics_a if "b-" in t]
    assert all("b-" in t for t in topics_b)


def test_a_second_engine_of_a_room_neither_starts_nor_cuts_the_running_one_off(
    facility: Facility, login: LoginFactory, tmp_path: Path
) -> None:
    """Room B's engine started on a second computer (here: another data_dir, which the room's
    lock does not see) would take the running engine's connection, and it its own back, over
    and over. It looks for the running one first, with the replay's login: with the engine's,
    the look alone would cut the running engine off (one login, one connection)."""
    first = spawn("run", "--config", config(facility, "room-b"), "--time-scale", "1")
    try:
        until(lambda: state(facility, "room-b"), "room B's engine online")
        overview = login(None, "overview")
        overview.subscribe("sessionroom/room-b/status")

        second = sessionroom(
            "run", "--config", config(facility, "room-b"), "--data-dir", str(tmp_path / "other")
        )

        assert second.returncode == 1, second.stderr
        assert "room room-b already has an engine online on the broker" in second.stderr
        assert overview.received("sessionroom/room-b/status") == ["online"]
        assert state(facility, "room-b") is not None
    finally:
        first.terminate()
        first.wait(timeout=30)
