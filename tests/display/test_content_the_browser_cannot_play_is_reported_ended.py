"""A file the browser cannot play is reported ended (idle), not playing for ever.

The display checks that a content file exists in the content folder, not that the browser
can decode it. The page reported such a file `playing` at position 0 until the next
command: the therapist saw the meditation content running while the screen stayed black.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.display.lone_screen import AUTOPLAY, browser, lone_screen, open_page
from tests.support.mosquitto import Mosquitto
from tests.support.room import until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

BROKEN = "broken.webm"


@pytest.mark.parametrize("start", ["play", "paused"])
def test_a_file_the_browser_cannot_decode_ends_as_idle(
    private_mosquitto: Mosquitto, tmp_path: Path, start: str
) -> None:
    with (
        lone_screen(private_mosquitto, tmp_path, "headset") as screen,
        browser(tmp_path / "profile", *AUTOPLAY) as page,
    ):
        (tmp_path / "room" / "content" / BROKEN).write_bytes(b"not a video\n" * 4096)
        open_page(page, screen)
        screen.publish({"action": "play", "content": BROKEN, "volume": 0})
        if start == "paused":
            screen.publish({"action": "pause"})
        until(lambda: page.execute_script(PLAYED), "the page has the play")
        until(
            lambda: screen.state() == IDLE and page.execute_script(VIDEO) == [True, ""],
            "the device reports the undecodable file ended, and the page lets go of it",
        )


IDLE = {"status": "idle", "content": None, "position_s": 0}
PLAYED = f"return window.sessionroomDisplay.events.some((e) => e.content === '{BROKEN}')"
VIDEO = "const v = document.getElementById('video'); return [v.paused, v.getAttribute('src') || '']"
