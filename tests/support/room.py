"""A room run as real processes on a real Mosquitto, for end-to-end tests.

`sessionroom run` (the engine), `sessionroom sim` (the room's devices) and `sessionroom ctl`
(the operator's commands) are separate processes talking MQTT; `Wire` is an independent
subscriber to `#` that records every message with its arrival time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import EXAMPLE_CONFIG, REPO
from tests.support.mosquitto import Mosquitto

DEADLINE_S = 15.0
"""How long a test waits for something that should happen (real seconds)."""

SCALE = 10.0
"""The engine's time scale unless a test asks for another."""

T = TypeVar("T")


def child_env() -> dict[str, str]:
    """The environment of every spawned `sessionroom`: this checkout's `controller` first."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


def sessionroom(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run `sessionroom ARGS...` to the end."""
    return subprocess.run(
        [sys.executable, "-m", "controller.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=child_env(),
    )


def spawn(*args: str, output: Path | None = None) -> subprocess.Popen[bytes]:
    """Start `sessionroom ARGS...` in the background; its stdout and stderr go to `output`,
    for a failing test to show, or nowhere."""
    with open(output or os.devnull, "wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "controller.cli", *args],
            stdout=sink,
            stderr=sink,
            cwd=REPO,
            env=child_env(),
        )


@contextmanager
def running(*commands: tuple[str, ...]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`sessionroom` with each of `commands`, spawned in turn, for as long as the block runs;
    each is terminated and waited for after it."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            processes.append(spawn(*command))
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def seen_within(seconds: float, check: Callable[[], T | None]) -> T | None:
    """Poll `check` for `seconds`: the first true thing it gives, or None if none came.

    Also for asserting that something does *not* happen within a bounded time.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    return check() or None


def until(check: Callable[[], T | None], what: str, timeout: float = DEADLINE_S) -> T:
    """Poll `check` until it gives something true, and return that; fail after `timeout`."""
    result = seen_within(timeout, check)
    if result is None:
        raise AssertionError(f"not within {timeout} s: {what}")
    return result


class Received(NamedTuple):
    at: float
    """time.monotonic() when the recorder got it."""
    topic: str
    payload: str


class Wire:
    """Every message on the broker, as an independent client receives it."""

    def __init__(self, broker: Mosquitto) -> None:
        self._messages: list[Received] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"w-{uuid.uuid4().hex}")
        self.client.on_message = lambda _c, _u, m: self._messages.append(
            Received(time.monotonic(), m.topic, m.payload.decode("utf-8", "replace"))
        )
        self.client.connect(broker.host, broker.port)
        self.client.subscribe("#")
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    @property
    def messages(self) -> list[Received]:
        """What arrived so far, in order (a copy: the recorder thread keeps appending)."""
        return list(self._messages)

    def on(self, topic: str, *, after: float = float("-inf")) -> list[Received]:
        """The messages on `topic` that arrived after the monotonic time `after`."""
        return [m for m in self.messages if m.topic == topic and m.at > after]

    def last(self, topic: str) -> str | None:
        received = self.on(topic)
        return received[-1].payload if received else None

    def phase(self, room: str) -> str | None:
        """The phase in the engine's latest retained state, as any console would read it."""
        state = self.last(f"sessionroom/{room}/state")
        phase = json.loads(state)["phase"] if state else None
        return phase["name"] if phase else None

    def events(self, room: str, *, after: float = float("-inf")) -> list[dict[str, Any]]:
        """The engine's public events (`sessionroom/<room>/events`), decoded."""
        return [json.loads(m.payload) for m in self.on(f"sessionroom/{room}/events", after=after)]

    def sent(self, room: str, action: str) -> Received:
        """The last `action` command on the room's command topic (as a client sent it)."""
        commands = until(
            lambda: [
                m
                for m in self.on(f"sessionroom/{room}/cmd")
                if json.loads(m.payload)["action"] == action
            ],
            f"the {action} command on the wire",
        )
        return commands[-1]

    def replies(self, room: str, action: str) -> list[dict[str, Any]]:
        """The engine's replies to every `action` command sent to the room, in order."""
        ids = [
            command["id"]
            for command in (json.loads(m.payload) for m in self.on(f"sessionroom/{room}/cmd"))
            if command.get("action") == action
        ]
        replies = {}
        for message in self.messages:
            if message.topic.startswith(f"sessionroom/{room}/reply/"):
                reply = json.loads(message.payload)
                replies[reply["id"]] = reply
        return [replies[i] for i in ids if i in replies]


class Operator:
    """The room under test, its processes, and the `ctl` commands an operator types."""

    def __init__(self, broker: Mosquitto, data_dir: Path, config: Path = EXAMPLE_CONFIG) -> None:
        self.broker = broker
        self.room = f"r{uuid.uuid4().hex[:8]}"
        self.data_dir = data_dir
        self.common = [
            "--config",
            str(config),
            "--broker",
            broker.url,
            "--room",
            self.room,
        ]
        self.engine: subprocess.Popen[bytes] | None = None
        self.simulator: subprocess.Popen[bytes] | None = None
        self._wires: list[Wire] = []

    @property
    def topics(self) -> str:
        return f"sessionroom/{self.room}"

    def watch(self) -> Wire:
        """A new recorder of the wire (closed with the room)."""
        wire = Wire(self.broker)
        self._wires.append(wire)
        return wire

    def start_simulator(self) -> None:
        self.simulator = spawn("sim", *self.common)

    def start_engine(self, scale: float = SCALE) -> None:
        self.engine = spawn(
            "run", *self.common, "--data-dir", str(self.data_dir), "--time-scale", str(scale)
        )

    def bring_up(self, wire: Wire, scale: float = SCALE) -> None:
        """Simulated devices online, then the engine online at `scale` and settled."""
        until(
            lambda: wire.last("zigbee2mqtt/ceiling_light/availability") == '{"state":"online"}',
            "sim up",
        )
        self.start_engine(scale)
        self.until_settled(wire)

    def until_settled(self, wire: Wire) -> None:
        """The engine online and the room in its first scene, which waits for the gate to
        have seen a flash window (docs/safety.md#flash-rate)."""
        until(lambda: wire.last(f"{self.topics}/status") == "online", "engine online")
        until(lambda: _scene(wire.last(f"{self.topics}/state")) is not None, "engine settled")

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

    def close(self) -> None:
        for process in (self.engine, self.simulator):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        for wire in self._wires:
            wire.close()


@contextmanager
def room_on(broker: Mosquitto, data_dir: Path, config: Path = EXAMPLE_CONFIG) -> Iterator[Operator]:
    """A room whose simulated devices run on `broker`; its engine starts when a test says."""
    room = Operator(broker, data_dir, config)
    room.start_simulator()
    try:
        yield room
    finally:
        room.close()


def copy_room(destination: Path, room_id: str, topic_prefix: str = "") -> Path:
    """A copy of the example room under `destination` with its own id and device topics
    (with `topic_prefix`, its Zigbee lights on their own Zigbee2MQTT base topic too)."""
    destination.mkdir(parents=True)
    for part in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / part, destination / part)
    config = (REPO / "config.yaml").read_text()
    (destination / "config.yaml").write_text(config.replace("room: room-a", f"room: {room_id}"))
    if topic_prefix:
        for path in (destination / "devices").glob("*.yaml"):
            text = re.sub(r"(\btopic: )(\S+)", rf"\g<1>{topic_prefix}\g<2>", path.read_text())
            text = re.sub(
                r"^( +)driver: zigbee2mqtt$",
                rf"\g<0>\n\g<1>base_topic: {topic_prefix}zigbee2mqtt",
                text,
                flags=re.MULTILINE,
            )
            path.write_text(text)
    return destination


def next_phase(config: Path) -> None:
    """`sessionroom ctl next` for the room of `config`, again while the engine's guard against
    double presses (2 s after the session's start) refuses it."""
    until(
        lambda: sessionroom("ctl", "--config", str(config), "next").returncode == 0,
        "the next phase accepted",
    )


def _scene(state: str | None) -> object:
    """The scene a retained state names (None before the first, or without a state)."""
    return None if state is None else json.loads(state).get("scene")
