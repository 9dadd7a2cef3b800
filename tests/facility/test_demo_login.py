"""`sessionroom demo` on a facility broker: its console logs in with the room's console login
(docs/facility.md, Roles), as `sessionroom console` and `ctl` do; its engine and simulated
devices with theirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.facility.support import Facility
from tests.support.room import sessionroom

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


def test_the_demo_on_a_facility_broker_logs_in_as_the_room_console(
    facility: Facility, tmp_path: Path
) -> None:
    """It logged in with no user, which the facility broker refuses: the demo waited for an
    engine it could never reach and said the engine did not start."""
    config = str(facility.rooms["room-a"] / "config.yaml")
    demo = ["demo", "--headless", "--config", config, "--data-dir", str(tmp_path / "data")]
    result = sessionroom(*demo, "--time-scale", "1000", timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Rehearsal complete" in result.stdout, result.stdout
    external = f"on the external broker at mqtts://127.0.0.1:{facility.port}"
    assert f"Room room-a: engine and simulated devices {external};" in result.stdout
    logins = facility.broker.log_file.read_text().splitlines()
    demo_logins = [line for line in logins if " as sessionroom-demo-" in line]
    assert demo_logins and all("u'console.room-a'" in line for line in demo_logins), demo_logins
