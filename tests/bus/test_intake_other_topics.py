"""A topic read on the intake connection that is no device report (Home Assistant's status,
kept off the commands' connection) never shows that the reports come in.

While the intake's login is refused, the engine's connection reads the intake's filters in
its place, and the bus says the reports come in there once one of them does
(docs/robustness.md#a-flood-of-device-reports). A message on another topic read there is no
such sign: with an ACL that keeps the reports from the engine's login, the alert must stay
"not coming in". Against a real Mosquitto with a facility's two logins
(`tests/bus/test_auth.py`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.bus import ReportsChange
from tests.bus.support import Recorder, eventually, publish_from_outside
from tests.bus.test_auth import (
    engine_with_refused_intake,
    room_logins_mosquitto,  # noqa: F401 - the fixture, used by name
)
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto


async def test_a_message_on_another_intake_topic_does_not_show_the_reports_come_in(
    room_logins_mosquitto: Mosquitto,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The engine's login may read `room/cmd` (standing for Home Assistant's status) but not
    the vitals; the intake's login is refused. A message on `room/cmd` comes in on the
    engine's connection and is handled, and the bus still says the reports do not come in."""
    broker = room_logins_mosquitto
    reports, others = Recorder(), Recorder()
    bus, told = engine_with_refused_intake(broker, tmp_path / "room", monkeypatch)
    async with bus:
        bus.subscribe("room/vitals/+", reports, intake=True)
        bus.subscribe("room/cmd", others, intake=True, report=False)
        assert await bus.wait_connected(timeout=5)
        await eventually(lambda: len(told) == 1)
        failure = told[0].failure
        assert failure is not None
        await publish_from_outside(broker.host, broker.port, "room/cmd", "online")
        await eventually(lambda: others.payloads == ["online"])
        assert told == [ReportsChange(failure)]  # not read_by_first: no report came in
        assert reports.payloads == []
