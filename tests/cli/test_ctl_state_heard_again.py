"""`sessionroom ctl state`: the engine's retained state heard again unchanged (a bridge
passing it on at a reconnect, a client replaying it) is no sign that the engine runs: an
engine that died unseen (its `online` status still kept) is still said to publish nothing,
exit 3. Real processes on a Mosquitto of the test's own, no engine."""

from __future__ import annotations

import subprocess
import threading

import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.room import sessionroom

pytestmark = pytest.mark.mosquitto

UNREACHABLE = 3
ROOM = "r-heard-again"
STATE = '{"room": "r-heard-again", "updated": "2026-12-07T10:00:00.000000Z"}'
REPEATS = 30


def test_a_retained_state_published_again_unchanged_is_not_taken_for_a_live_engine(
    private_mosquitto: Mosquitto,
) -> None:
    publish = ["mosquitto_pub", "-h", private_mosquitto.host, "-p", str(private_mosquitto.port)]
    topic = f"sessionroom/{ROOM}"
    subprocess.run([*publish, "-r", "-t", f"{topic}/status", "-m", "online"], check=True)
    subprocess.run([*publish, "-r", "-t", f"{topic}/state", "-m", STATE], check=True)
    done = threading.Event()

    def again() -> None:  # the same state, not retained, every 0.2 s while ctl waits
        for _ in range(REPEATS):
            if done.wait(0.2):
                return
            subprocess.run([*publish, "-t", f"{topic}/state", "-m", STATE], check=True)

    repeating = threading.Thread(target=again)
    repeating.start()
    try:
        result = sessionroom(
            "ctl", "--broker", private_mosquitto.url, "--room", ROOM, "--timeout", "5", "state"
        )
    finally:
        done.set()
        repeating.join(timeout=10)

    assert result.returncode == UNREACHABLE, result.stderr
    assert "published no state" in result.stderr
