"""`sessionroom ctl state`: the engine's state, said to be stale once the engine is not online.

The broker keeps the engine's last state retained after the engine stops (and its `offline`
status): printed as if current, it would tell a technician checking a room that all is well
in a room nobody runs. Real processes on a Mosquitto of each test's own: the simulated
room's retained device states would meet other tests on the session's.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.room import room_on, sessionroom, until

pytestmark = pytest.mark.mosquitto

UNREACHABLE = 3


def test_the_state_of_an_engine_gone_offline_is_printed_as_its_last_and_exits_3(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with room_on(private_mosquitto, tmp_path / "data") as room:
        wire = room.watch()
        room.bring_up(wire)
        online = room.ctl("state")
        assert online.returncode == 0, online.stderr
        assert online.stderr == ""
        assert room.engine is not None
        room.engine.terminate()
        room.engine.wait(timeout=30)
        until(lambda: wire.last(f"{room.topics}/status") == "offline", "engine offline")

        offline = room.ctl("state")

    assert offline.returncode == UNREACHABLE
    assert json.loads(offline.stdout)["room"] == json.loads(online.stdout)["room"]
    assert offline.stderr == (
        f"error: the engine of room {room.room} is offline: this is the last state it "
        "published, not the room's now\n"
    )


def ctl_state_beside(
    broker: Mosquitto, status: str | None, state: str = '{"room": "x"}'
) -> subprocess.CompletedProcess[str]:
    """`ctl state` of a room whose broker keeps `state` and `status` (None: no status), with
    no engine running (the broker is the test's own)."""
    room = "r-noengine"
    publish = ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-r"]
    retained = {"state": state} | ({} if status is None else {"status": status})
    for topic, payload in retained.items():
        subprocess.run([*publish, "-t", f"sessionroom/{room}/{topic}", "-m", payload], check=True)
    return sessionroom("ctl", "--broker", broker.url, "--room", room, "--timeout", "2", "state")


def test_a_state_left_without_a_status_is_said_to_be_no_engine_s_now(
    private_mosquitto: Mosquitto,
) -> None:
    """A state retained with no status beside it (its status cleared by hand, say)."""
    result = ctl_state_beside(private_mosquitto, None)

    assert result.returncode == UNREACHABLE
    assert json.loads(result.stdout) == {"room": "x"}
    assert "has never been online on this broker" in result.stderr


def test_a_state_left_beside_an_online_status_with_no_engine_publishing_exits_3(
    private_mosquitto: Mosquitto,
) -> None:
    """An engine that died unseen (power cut, cable pulled, its loop stuck): the broker keeps
    its `online` status until the keepalive runs out (up to 45 s with the default 30 s), and
    its last state. A running engine publishes its state every second; none comes, so the
    retained one is no room's now (as `engine.service.engine_running` judges it)."""
    result = ctl_state_beside(private_mosquitto, "online")

    assert result.returncode == UNREACHABLE, result.stderr
    assert json.loads(result.stdout) == {"room": "x"}
    assert "published no state" in result.stderr


def test_a_state_beside_a_status_no_engine_writes_is_not_said_to_be_never_online(
    private_mosquitto: Mosquitto,
) -> None:
    """A status of arbitrary bytes (a terminal escape among them) is neither echoed nor taken
    for no status at all."""
    result = ctl_state_beside(private_mosquitto, "\x1b[2Jonline\n")

    assert result.returncode == UNREACHABLE
    assert "has a status no engine writes" in result.stderr
    assert "\x1b" not in result.stderr


@pytest.mark.parametrize(
    "state",
    [
        "[1, 2]",
        "not json",
        '{"room": "\\ud800"}',
        '{"level": NaN}',
        "[" * 40 + "]" * 40,
        "1" * 5000,
    ],
)
def test_a_hostile_retained_state_is_unreadable_not_a_traceback(
    private_mosquitto: Mosquitto, state: str
) -> None:
    """Anyone who may publish there can leave any state retained (docs/robustness.md)."""
    result = ctl_state_beside(private_mosquitto, "offline", state)

    assert result.returncode == UNREACHABLE
    assert "the engine's state is unreadable" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
