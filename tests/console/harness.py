"""Running the console against the stand-in engine on the real Mosquitto, as the pilot tests do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from textual.pilot import Pilot

from controller.api.state import RoomState
from controller.console.app import ConsoleApp
from controller.console.formatting import parse_wall
from controller.console.keymap import DEFAULT_KEYMAP, Keymap
from controller.console.link import Endpoint
from tests.console.conftest import FixedClock
from tests.console.polling import eventually
from tests.console.standin_engine import StandInEngine

SIZE = (100, 36)


def clock_after(state: RoomState, seconds: float = 1.0) -> FixedClock:
    """A clock standing `seconds` after the state was made, so it reads as fresh."""
    made = parse_wall(state.updated)
    assert made is not None
    return FixedClock(made.timestamp() + seconds)


@asynccontextmanager
async def console_showing(
    engine: StandInEngine,
    endpoint: Endpoint,
    state: RoomState,
    *,
    keymap: Keymap = DEFAULT_KEYMAP,
    clock: FixedClock | None = None,
    size: tuple[int, int] = SIZE,
    notifications: bool = False,
) -> AsyncIterator[tuple[ConsoleApp, Pilot[None]]]:
    """The console, running, once it shows `state` from an online engine (with its
    notifications drawn when asked)."""
    await engine.publish_state(state)
    app = ConsoleApp(
        endpoint,
        engine.topics.room,
        keymap=keymap,
        default_plan="standard",
        clock=clock or clock_after(state),
    )
    async with app.run_test(size=size, notifications=notifications) as pilot:
        await eventually(
            lambda: app.view.state == state and app.view.engine == "online",
            what="the console shows the engine's state",
        )
        await pilot.pause()
        yield app, pilot
