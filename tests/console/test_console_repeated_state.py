"""The same state heard again is no news: a state the engine made a minute ago stays stale
however often it is published again (by a client replaying it, or a bridge to the room's
broker passing its retained copy on at every reconnect), on the real Mosquitto."""

from __future__ import annotations

import pytest

from controller.console.link import Endpoint, LinkUpdate, StateMessage
from tests.console import sample_states as states
from tests.console.harness import clock_after, console_showing
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine

pytestmark = pytest.mark.mosquitto


async def test_a_stale_state_published_again_unchanged_stays_stale(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.live_state(room)
    clock = clock_after(state)
    async with console_showing(engine, endpoint, state, clock=clock) as (app, pilot):
        assert not app.view.stale
        clock.advance(60)
        await eventually(lambda: app.view.stale, what="the state shown as stale")
        heard: list[LinkUpdate] = []
        on_update = app.link._on_update

        def hear(update: LinkUpdate) -> None:  # what the link tells the console, counted
            heard.append(update)
            on_update(update)

        app.link._on_update = hear
        await engine.publish_state(state)
        await eventually(
            lambda: any(isinstance(update, StateMessage) for update in heard),
            what="the state heard again",
        )
        app._age()
        await pilot.pause()

        assert app.view.stale
        assert app.view.age_s is not None and app.view.age_s >= 60
        assert "STALE" in screen_text(app)


async def test_a_new_state_after_a_stale_one_is_fresh(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    """(What the repeats must not break: a state the engine made since is news.)"""
    state = states.live_state(room)
    clock = clock_after(state)
    async with console_showing(engine, endpoint, state, clock=clock) as (app, _pilot):
        clock.advance(60)
        await eventually(lambda: app.view.stale, what="the state shown as stale")

        newer = states.with_vitals(state, 60, hr=80)
        await engine.publish_state(newer)

        await eventually(lambda: app.view.state == newer and not app.view.stale)
