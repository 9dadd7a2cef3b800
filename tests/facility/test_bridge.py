"""A room on a broker of its own, bridged to the facility broker (`facility init --bridge`).

Room A's engine and simulated devices are processes on its room-local Mosquitto; the
facility Mosquitto and room A's run with the generated files (room B's is not started). The
facility's logins see and steer the room across the bridge; with the facility broker gone,
the room runs on; when it is back, the facility sees the room's current state again.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.facility.setup import MESSAGE_SIZE_LIMIT
from tests.facility.support import ACCEPTED, QUIET_S, Facility, Login, make_facility
from tests.support.mosquitto import Mosquitto
from tests.support.room import next_phase, sessionroom, spawn, until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

ROOM = "room-a"


@dataclass
class BridgedRoom:
    facility: Facility
    local: Mosquitto
    config: Path

    def login(self, name: str) -> Login:
        """A facility-wide login (`overview`, `frontdesk`, `homeassistant`) on the facility."""
        made = Login(self.facility, name, self.facility.password(None, f"{name}.password"),
                     self.facility.port)  # fmt: skip
        made.open()
        return made

    def console(self) -> Login:
        password = self.facility.password(ROOM, "console.password")
        made = Login(self.facility, f"console.{ROOM}", password, self.facility.port)
        made.open()
        return made

    def phase(self) -> str | None:
        """The phase as the room's own ctl sees it (on the room-local broker)."""
        result = sessionroom("ctl", "--config", str(self.config), "--timeout", "2", "state")
        if result.returncode != 0:
            return None
        phase = json.loads(result.stdout)["phase"]
        return phase["name"] if phase else "idle"


@pytest.fixture
def bridged(tmp_path: Path) -> Iterator[BridgedRoom]:
    facility = make_facility(tmp_path, bridged=True)
    local = facility.room_broker(ROOM)
    config = facility.rooms[ROOM] / "config.yaml"
    processes: list[subprocess.Popen[bytes]] = []
    facility.broker.start()
    local.start()
    try:
        processes.append(spawn("sim", "--config", str(config)))
        # At the real pace no phase of the rehearsal ends by itself while the test runs.
        processes.append(spawn("run", "--config", str(config), "--time-scale", "1"))
        yield BridgedRoom(facility, local, config)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        local.stop()
        facility.broker.stop()


def test_the_room_runs_on_without_the_facility_and_is_seen_again_after(
    bridged: BridgedRoom,
) -> None:
    overview = bridged.login("overview")
    overview.subscribe(f"sessionroom/{ROOM}/#")
    until(lambda: "online" in overview.received(f"sessionroom/{ROOM}/status"), "room seen")
    start = {"id": "s1", "action": "start", "plan": "rehearsal", "participant": "P014"}
    assert bridged.console().publish(f"sessionroom/{ROOM}/cmd", json.dumps(start)) == ACCEPTED
    until(lambda: bridged.phase() == "centering", "started from the facility, across the bridge")

    bridged.facility.broker.stop()
    next_phase(bridged.config)
    until(lambda: bridged.phase() == "peak", "the session goes on without the facility")

    bridged.facility.broker.start()
    again = bridged.login("overview")
    again.subscribe(f"sessionroom/{ROOM}/state")

    def facility_sees_peak() -> bool:
        states = [json.loads(p) for p in again.received(f"sessionroom/{ROOM}/state")]
        return any((s.get("phase") or {}).get("name") == "peak" for s in states)

    until(facility_sees_peak, "the facility sees the room's current phase again")


def test_a_room_whose_broker_is_cut_off_is_shown_unreachable(bridged: BridgedRoom) -> None:
    desk = bridged.login("frontdesk")
    desk.subscribe(f"sessionroom/{ROOM}/bridge")
    until(lambda: "1" in desk.received(f"sessionroom/{ROOM}/bridge"), "the bridge up")
    bridged.local.stop()
    until(lambda: desk.received(f"sessionroom/{ROOM}/bridge")[-1:] == ["0"], "bridge's will")
    bridged.local.start()
    until(lambda: desk.received(f"sessionroom/{ROOM}/bridge")[-1:] == ["1"], "the bridge back")


def test_a_message_too_large_for_the_facility_stays_in_the_room(bridged: BridgedRoom) -> None:
    """The facility broker cuts off a login that sends more than MESSAGE_SIZE_LIMIT: the
    room's bridge must not carry such a message there (it would be cut off, and send it
    again at every reconnect), and what comes after it still crosses."""
    desk = bridged.login("frontdesk")
    desk.subscribe(f"sessionroom/{ROOM}/bridge")
    desk.subscribe(f"sessionroom/{ROOM}/events")
    until(lambda: "1" in desk.received(f"sessionroom/{ROOM}/bridge"), "the bridge up")
    local = Login(bridged.facility, None, None, bridged.local.port, tls=False)
    local.open()
    huge = "x" * (MESSAGE_SIZE_LIMIT + 1)
    assert local.publish(f"sessionroom/{ROOM}/events", huge) == ACCEPTED
    assert local.publish(f"sessionroom/{ROOM}/events", '"after"') == ACCEPTED
    local.close()
    until(lambda: '"after"' in desk.received(f"sessionroom/{ROOM}/events"), "what came after")
    time.sleep(QUIET_S)  # a bridge cut off for it would say 0 (its will) by now
    assert "0" not in desk.received(f"sessionroom/{ROOM}/bridge")
    assert [len(p) for p in desk.received(f"sessionroom/{ROOM}/events") if len(p) > 1000] == []
