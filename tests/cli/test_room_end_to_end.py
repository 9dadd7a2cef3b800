"""An operator runs the room: `sessionroom run` + `sessionroom sim` on Mosquitto, driven by `ctl`.

Everything here is a real process talking MQTT: the engine, the simulated devices, the
`ctl` commands and an independent subscriber that records the wire.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from controller.journal import list_sessions
from tests.conftest import REPO
from tests.support.mosquitto import Mosquitto

DEADLINE_S = 15.0
SCALE = 10.0


def sessionroom(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "controller.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def until(check: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


class Wire:
    def __init__(self, broker: Mosquitto) -> None:
        self.messages: list[tuple[float, str, str]] = []
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"w-{uuid.uuid4().hex}"
        )
        self.client.on_message = lambda _c, _u, m: self.messages.append(
            (time.monotonic(), m.topic, m.payload.decode("utf-8", "replace"))
        )
        self.client.connect(broker.host, broker.port)
        self.client.subscribe("#")
        self.client.loop_start()

    def last(self, topic: str) -> str | None:
        payloads = [p for _, t, p in self.messages if t == topic]
        return payloads[-1] if payloads else None

    def phase(self, room: str) -> str | None:
        """The phase in the engine's latest retained state, as any console would read it."""
        state = self.last(f"sessionroom/{room}/state")
        phase = json.loads(state)["phase"] if state else None
        return phase["name"] if phase else None


class Operator:
    """The room under test and the `ctl` commands an operator types."""

    def __init__(self, broker: Mosquitto, data_dir: Path) -> None:
        self.broker = broker
        self.room = f"r{uuid.uuid4().hex[:8]}"
        self.data_dir = data_dir
        self.common = [
            "--config",
            str(REPO / "config.yaml"),
            "--broker",
            broker.url,
            "--room",
            self.room,
        ]
        self.engine: subprocess.Popen[bytes] | None = None

    def start_engine(self) -> None:
        self.engine = spawn(
            "run", *self.common, "--data-dir", str(self.data_dir), "--time-scale", str(SCALE)
        )

    def kill_engine(self) -> None:
        assert self.engine is not None
        self.engine.send_signal(signal.SIGKILL)
        self.engine.wait()

    def ctl(self, action: str, *params: str) -> subprocess.CompletedProcess[str]:
        return sessionroom("ctl", *self.common, "--data-dir", str(self.data_dir), action, *params)

    def state(self) -> dict[str, Any]:
        result = self.ctl("state")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def operator(private_mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Operator]:
    room = Operator(private_mosquitto, tmp_path)
    simulator = spawn("sim", *room.common)
    yield room
    for process in (room.engine, simulator):
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def test_a_rehearsal_runs_through_all_phases_survives_crashes_and_outages(
    operator: Operator,
) -> None:
    wire = Wire(operator.broker)
    until(
        lambda: wire.last("zigbee2mqtt/ceiling_light/availability") == '{"state":"online"}',
        "sim up",
    )
    operator.start_engine()
    until(lambda: wire.last(f"sessionroom/{operator.room}/status") == "online", "engine online")

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
        lambda: wire.last("vr/headset/state") and '"idle"' in wire.last("vr/headset/state"),
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
    wire = Wire(operator.broker)
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
