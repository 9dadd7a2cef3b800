"""Waiting for something with a deadline, and reading what a Textual app shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot

DEADLINE_S = 5.0


async def eventually(
    predicate: Callable[[], object], timeout: float = DEADLINE_S, what: str = ""
) -> None:
    """Poll `predicate` until it is true; fail with `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or predicate}")
        await asyncio.sleep(0.02)


async def confirm_baseline(app: App[object], pilot: Pilot[object]) -> None:
    """Answer the baseline question a start asks (the readings are fine: no reason typed)."""
    await eventually(lambda: "Confirm the baseline" in screen_text(app), what="baseline asked")
    await pilot.press("enter")


def screen_text(app: App[object]) -> str:
    """The characters on the app's screen, line by line (read as Textual's screenshots do)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)
