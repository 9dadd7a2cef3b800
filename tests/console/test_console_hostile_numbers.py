"""A state whose numbers or times no engine writes (another client on the broker wrote it):
the console goes on drawing, and its emergency key goes on sending.

Each state here is valid JSON that `RoomState` reads (a number beyond any session's, a
number given as a string such as `"NaN"`, a wall time at the edge of the calendar); the
stand-in engine publishes it on the room's retained `state` on the real Mosquitto.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from controller.api.state import RoomState
from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine

pytestmark = pytest.mark.mosquitto

Change = Callable[[dict[str, Any]], None]


def _set(path: str, value: object) -> Change:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


HOSTILE = {
    "session time NaN": _set("session.t", "NaN"),
    "session time infinite": _set("session.t", "-Infinity"),
    "phase elapsed NaN": _set("phase.elapsed_s", "nan"),
    "phase planned tiny": _set("phase.planned_s", 1e-300),
    "phase elapsed huge": _set("phase.elapsed_s", 1e300),
    "phase elapsed over planned overflows": lambda data: data["phase"].update(
        elapsed_s=1e300, planned_s=1e-300
    ),
    "phase elapsed below the lowest float": lambda data: data["phase"].update(
        elapsed_s=-1.7e308, planned_s=1.7e308
    ),
    "device level huge": lambda data: next(iter(data["devices"].values()))["state"].update(
        level=1e308
    ),
    "music volume huge": _set("music.volume", 1e308),
    "music position infinite": _set("music.position_s", "inf"),
    "timeline time NaN": _set("timeline.0.t", "NaN"),
    "updated before year 1 in UTC": _set("updated", "0001-01-01T00:00:00+01:00"),
    "updated after year 9999 in UTC": _set("updated", "9999-12-31T23:59:59-01:00"),
    "heart rate infinite": _set("vitals.oximeter.hr", "Infinity"),
    "timed check interval NaN": lambda data: data["checks"].update(
        timed=[{"sensor": "bp-cuff", "label": "BP", "interval_s": "NaN", "due_t": 0.0}]
    ),
}


def _timeline_wall(data: dict[str, Any]) -> None:
    data["timeline"][0]["t"] = None
    data["timeline"][0]["wall"] = "0001-01-01T00:00:00+01:00"


HOSTILE["timeline wall before year 1"] = _timeline_wall


async def drawn_after(
    engine: StandInEngine, endpoint: Endpoint, good: RoomState, change: Change
) -> str:
    """The console showing `good`, then `good` changed by `change`: it goes on drawing (in
    another size too) and sends its emergency. What it showed once it heard the change."""
    async with console_showing(engine, endpoint, good) as (app, pilot):
        data = json.loads(good.model_dump_json())
        change(data)
        await engine.publish_raw_state(json.dumps(data).encode())
        await eventually(
            lambda: app.view.state != good or app.view.state_problem is not None,
            what="the console heard the second state",
        )
        await pilot.pause()
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert app.is_running, "the console stopped"
        assert app._exception is None, f"the console failed: {app._exception!r}"
        shown = screen_text(app)
        await pilot.press(DEFAULT_KEYMAP.key("emergency"))
        await eventually(lambda: engine.actions() == ["emergency"], what="the emergency sent")
    return shown


@pytest.mark.parametrize("change", HOSTILE.values(), ids=HOSTILE.keys())
async def test_a_state_with_numbers_no_engine_writes_keeps_the_console_drawing_and_sending(
    engine: StandInEngine, endpoint: Endpoint, room: str, change: Change
) -> None:
    def in_this_room(data: dict[str, Any]) -> None:
        change(data)
        data["room"] = room

    shown = await drawn_after(engine, endpoint, states.live_state(room), in_this_room)
    assert shown.strip()


SETUP_HOSTILE = {
    "a threshold missing": lambda data: data["checks"]["baseline"]["thresholds"].pop("hr_low"),
    "a reading's age NaN": lambda data: data["checks"]["baseline"]["sensors"][0].update(
        age_s="NaN"
    ),
    "a reading's age huge": lambda data: data["checks"]["baseline"]["sensors"][0].update(
        age_s=1e308
    ),
}


@pytest.mark.parametrize("change", SETUP_HOSTILE.values(), ids=SETUP_HOSTILE.keys())
async def test_a_setup_state_with_thresholds_or_ages_no_engine_writes_leaves_the_setup_view_drawn(
    engine: StandInEngine, endpoint: Endpoint, room: str, change: Change
) -> None:
    good = states.setup_state(room)
    assert good.checks.baseline.sensors and good.checks.baseline.thresholds
    shown = await drawn_after(engine, endpoint, good, change)
    assert "participant" in shown.lower()
