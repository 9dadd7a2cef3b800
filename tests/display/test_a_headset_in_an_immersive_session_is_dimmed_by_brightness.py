"""A headset showing a 360° video in an immersive (WebXR) session dims it as it is told.

The page darkens its picture by the brightness command (smoothed) and by its fade to black.
In the headset the sphere followed the fade alone: told to dim to 20 %, the person wearing
it went on seeing the video at full light while the flat page, and the engine, had it
dimmed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.display.server import THREE_JS
from tests.display.lone_screen import AUTOPLAY, browser, lone_screen, open_page
from tests.display.screen_room import CLIP
from tests.display.test_screens_in_browser import (
    EMULATED_HEADSET,
    HEADSET_WINDOW,
    IWER_JS,
    SHOWN,
    enter_the_headset,
    record,
)
from tests.support.mosquitto import Mosquitto
from tests.support.requirements import missing
from tests.support.room import until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

DIMMED = 20
"""The brightness the headset is told, in %."""
FRAMES = 20
"""Frames of the headset measured once the page's picture has settled at that brightness."""


def test_a_360_video_in_the_headset_dims_with_a_brightness_command(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    if not THREE_JS.is_file():
        missing("three.js for the displays' WebXR", "make install (with npm)")
    if not IWER_JS.is_file():
        missing("IWER, the WebXR emulator for the tests", "make test (with npm)")
    with (
        lone_screen(private_mosquitto, tmp_path, "headset") as screen,
        browser(tmp_path / "profile", *AUTOPLAY, HEADSET_WINDOW) as page,
    ):
        emulator = IWER_JS.read_text() + EMULATED_HEADSET
        page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": emulator})
        open_page(page, screen)
        screen.publish({"action": "play", "content": f"{CLIP}:360", "volume": 0})
        shown = enter_the_headset(page, frames_seen=30)
        full = max(s["light"] for s in shown)
        assert full > 100, "the video shows in the headset"

        screen.publish({"action": "brightness", "level": DIMMED})

        def settled() -> bool:
            drawn = [f["light"] for f in record(page)["frames"] if f["k"] == "video"]
            return drawn[-1] == pytest.approx(DIMMED / 100)

        until(settled, "the page's picture has dimmed")
        count = len(page.execute_script(SHOWN))
        until(lambda: len(page.execute_script(SHOWN)) >= count + FRAMES, "frames since")
        lightest = max(s["light"] for s in page.execute_script(SHOWN)[count:])
        print(f"\nfull light {full}/255; dimmed to {DIMMED} %, the headset shows {lightest}/255")
        assert lightest <= full * DIMMED / 100 + 8  # within the rounding of the sphere's colour
