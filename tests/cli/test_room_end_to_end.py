"""An operator runs the room: `sessionroom run` + `sessionroom sim` on Mosquitto, driven by `ctl`.

Everything here is a real process talking MQTT: the engine, the simulated devices, the
`ctl` commands and an independent subscriber that records the wire.
"""

from __future__ import annotations

import json
import time

import pytest

from controller.journal import list_sessions
from tests.support.room import Operator, sessionroom, until

pytestmark = pytest.mark.mosquitto


def test_a_rehearsal_runs_through_all_phases_survives_crashes_and_outages(
    operator: Operator,
) -> None:
    wire = operator.watch()
    operator.bring_up(wire)

    started = operator.ctl("start", "plan=rehearsal", "participant=P042")
    assert (started.returncode, started.stdout.strip()) == (0, "ok")
    refused = operator.ctl("goto", "phase=centering")
    assert refused.returncode == 1
    assert "already in centering" in refused.stderr

    # The simulated Zigbee2MQTT ceiling light reaches the centering scene (30 % of 254 = 76).
    until(
        lambda: '"brightness":76' in (wire.last("zigbee2mqtt/ceiling_light") or ""),
        "the simulated ceiling light reports the centering level",
    )
    until(lambda: wire.phase(operator.room) == "peak", "auto-advance to peak", timeout=20)
    until(
        lambda: '"idle"' in (wire.last("vr/headset/state") or ""),
        "headset stopped",
    )

    # SIGKILL during peak: the will says offline, and a restart resumes in peak with no command.
    operator.ctl("hold")
    operator.kill_engine()
    until(lambda: wire.last(f"sessionroom/{operator.room}/status") == "offline", "engine will")
    operator.start_engine()
    until(lambda: wire.last(f"sessionroom/{operator.room}/status") == "online", "engine back")
    state = operator.state()
    assert (state["phase"]["name"], state["phase"]["held"]) == ("peak", True)

    # Mosquitto stops and starts: engine and devices come back on their own.
    operator.broker.stop()
    time.sleep(1.0)
    operator.broker.start()
    wire = operator.watch()
    until(
        lambda: operator.ctl("release").returncode == 0,
        "engine answers after the outage",
        timeout=20,
    )
    until(
        lambda: operator.state()["phase"]["name"] == "integration",
        "return, then integration",
        timeout=30,
    )
    assert operator.ctl("end").returncode == 0

    [info] = list_sessions(operator.data_dir)
    assert info.ended_cleanly and info.resumed
    assert info.phases == ("centering", "peak", "return", "integration")
    exported = sessionroom("export", str(info.path), "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    kinds = {json.loads(line)["kind"] for line in exported.stdout.splitlines()}
    assert {
        "session",
        "phase",
        "scene",
        "command",
        "state",
        "availability",
        "operator",
        "broker",
        "resume",
    } <= kinds
