"""A video told to pause while the browser is still starting it stays paused.

The browser answers a start (`video.play()`) cut short by a pause with an AbortError. The
page took every refusal for the browser's refusal of sound before a touch and started the
video again, muted: it ran on the screen while the device reported it paused, with "Touch
the screen for sound" shown to the person in the room.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.display.lone_screen import AUTOPLAY, browser, lone_screen, open_page
from tests.display.screen_room import CLIP
from tests.support.mosquitto import Mosquitto
from tests.support.room import seen_within, until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

VIDEO = "const v = document.getElementById('video'); return [v.paused, v.currentTime, v.muted]"
NOTICE = "const n = document.getElementById('notice'); return n.hidden ? '' : n.textContent"


def test_a_video_paused_as_it_starts_does_not_play_on(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with (
        lone_screen(private_mosquitto, tmp_path, "headset") as screen,
        browser(tmp_path / "profile", *AUTOPLAY) as page,
    ):
        open_page(page, screen)
        # Back to back, as a scene's play and the operator's pause a moment later can come:
        # the page has the pause before the browser has loaded enough of the file to start.
        play = json.dumps({"action": "play", "content": CLIP, "volume": 0})
        screen.wire.client.publish(f"{screen.topic}/set", play, qos=1)  # not waited for
        screen.publish({"action": "pause"})
        until(
            lambda: screen.state() == {"status": "paused", "content": CLIP, "position_s": 0},
            "the device reports the video paused",
        )
        played = seen_within(2.0, lambda: (shown := page.execute_script(VIDEO))[1] > 0.2 and shown)
        assert played is None, f"the video plays on while paused (paused, time, muted: {played})"
        assert page.execute_script(VIDEO)[0] is True
        assert page.execute_script(NOTICE) == ""
