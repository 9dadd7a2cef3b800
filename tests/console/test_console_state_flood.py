"""A flood of large states on the room's `state` topic (another client on the broker, or an
engine gone wrong) holds up neither the console's keys nor its emergency.

The flood comes from a process of its own (`mosquitto_pub`, repeating one large state that
`RoomState` reads) on the real Mosquitto, so the console's loop is not the one publishing;
the emergency is timed by another (`mosquitto_sub`), as the broker passes it on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import eventually
from tests.console.standin_engine import StandInEngine
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

DEVICES = 4000
"""Of each: some 700 KB of state, well inside what a console reads (1 MiB)."""
EMERGENCY_WITHIN_S = 1.0
RECEIVED = ("-F", "%U %p")


def many_devices(data: dict[str, Any]) -> None:
    device = next(iter(data["devices"].values()))
    data["devices"] = {f"lamp-{i:05d}": dict(device, label=f"lamp {i}") for i in range(DEVICES)}


def many_alerts_phases_and_checks(data: dict[str, Any]) -> None:
    alert = {"kind": "device", "level": "warning", "since": data["updated"]}
    data["alerts"] = [
        {**alert, "key": f"device:lamp-{i}", "message": f"lamp {i} is offline"}
        for i in range(DEVICES // 2)
    ]
    data["plan_phases"] = [dict(data["plan_phases"][0], name=f"p{i}") for i in range(DEVICES // 2)]
    check = {"label": "BP", "interval_s": 60.0, "due_t": 0.0, "due": True}
    data["checks"]["timed"] = [{**check, "sensor": f"cuff-{i}"} for i in range(DEVICES // 2)]


def large_state(room: str, fill: Callable[[dict[str, Any]], None]) -> bytes:
    data = json.loads(states.live_state(room).model_dump_json())
    fill(data)
    data["name"] = "flooded"
    return json.dumps(data).encode()


@pytest.mark.parametrize("fill", [many_devices, many_alerts_phases_and_checks])
async def test_an_emergency_pressed_during_a_flood_of_large_states_is_sent_at_once(
    engine: StandInEngine,
    endpoint: Endpoint,
    room: str,
    mosquitto: Mosquitto,
    tmp_path: Path,
    fill: Callable[[dict[str, Any]], None],
) -> None:
    """Timed to the command's arrival at a process of its own subscribed to the room's `cmd`
    (the stand-in engine shares the console's loop, and would be held up with it)."""
    payload = tmp_path / "state.json"
    payload.write_bytes(large_state(room, fill))
    broker = ["-h", mosquitto.host, "-p", str(mosquitto.port)]
    good = states.live_state(room)
    async with console_showing(engine, endpoint, good) as (app, pilot):
        commands = subprocess.Popen(
            # prints the time it received the command (Unix seconds), then the command
            ["mosquitto_sub", *broker, "-t", engine.topics.cmd, "-q", "1", "-C", "1", *RECEIVED],
            stdout=subprocess.PIPE,
            text=True,
        )
        flood = subprocess.Popen(  # a process group of its own: the pipe's parts end with it
            [
                "sh",
                "-c",
                # one publisher, a state every 0.02 s or so: reading one takes a tenth of a
                # second, drawing its devices as long again, so a console reading and
                # drawing each in turn is never done
                'while :; do cat "$0"; echo; sleep 0.02; done | mosquitto_pub "$@" -l -q 1',
                str(payload),
                *broker,
                "-t",
                engine.topics.state,
            ],
            start_new_session=True,
        )
        try:
            await eventually(
                lambda: app.view.state is not None and app.view.state.name == "flooded",
                timeout=30,
                what="the console heard the flood",
            )
            flooding_at_press = flood.poll() is None
            pressed = time.time()
            await pilot.press(DEFAULT_KEYMAP.key("emergency"))
            await eventually(
                lambda: commands.poll() is not None, timeout=60, what="the emergency sent"
            )
            output, _ = commands.communicate(timeout=10)
        finally:
            os.killpg(flood.pid, signal.SIGKILL)
            flood.wait(timeout=10)
            commands.kill()
            commands.wait(timeout=10)
    received, sent = output.split(" ", 1)
    assert json.loads(sent)["action"] == "emergency"
    took = float(received) - pressed
    assert flooding_at_press, "the flood was over before the emergency was pressed: no test"
    assert took < EMERGENCY_WITHIN_S, f"the emergency reached the broker {took:.1f} s after"
