"""`sessionroom run` and the logins its broker settings name: a missing password file is a
plain error before anything starts, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.room import copy_room, sessionroom

pytestmark = pytest.mark.mosquitto


def test_an_intake_password_file_that_is_missing_stops_the_engine_with_a_plain_error(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """`facility init --update-configs` wrote config.yaml, and the room PC's `facility/`
    folder was not brought along: the intake login's password file is not there."""
    room = copy_room(tmp_path / "room", "room-logins")
    (room / "engine.password").write_text("secret\n")
    config = room / "config.yaml"
    broker = (
        "broker:\n"
        "  mode: external\n"
        f"  host: {mosquitto.host}\n"
        f"  port: {mosquitto.port}\n"
        "  credentials:\n"
        "    engine: {username: engine.room-logins, password_file: engine.password}\n"
        "    intake: {username: intake.room-logins, password_file: facility/intake.password}\n"
    )
    config.write_text(re.sub(r"(?ms)^broker:.*?(?=^\S)", broker, config.read_text(), count=1))
    result = sessionroom("run", "--config", str(config), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "intake.password" in result.stderr
    assert "Traceback" not in result.stderr
