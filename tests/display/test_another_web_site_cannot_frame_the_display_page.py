"""Another web site cannot show the display's page inside its own (an iframe).

A page in a frame is served by the display, so its WebSocket comes from the display's own
origin and passes the origin check: any web site opened in any browser that reaches the
display could open pages on it, hidden in its own. Each holds the device `online`, the
first one open reports the device's state (a hidden frame draws no frames: its light bar
never counts a pass), and eight of them shut the real screen out (a ninth page is refused).
The page is served so that browsers refuse to show it in a frame.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.display.lone_screen import browser, lone_screen
from tests.support.mosquitto import Mosquitto
from tests.support.room import seen_within, until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

FRAMES = 3


@contextmanager
def foreign_site(display_url: str) -> Iterator[str]:
    """A web site of its own (another origin on the loopback) whose page frames the display."""
    frames = "".join(f'<iframe src="{display_url}" width="300" height="200"></iframe>' * FRAMES)
    body = f"<!doctype html><title>elsewhere</title>{frames}".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_page_of_another_site_framing_the_display_opens_no_page_on_it(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with (
        lone_screen(private_mosquitto, tmp_path, "lightbar") as screen,
        foreign_site(screen.url) as site,
        browser(tmp_path / "profile") as page,
    ):
        page.get(site)
        loaded = "return document.readyState === 'complete'"
        until(lambda: page.execute_script(loaded), "the other site's page has loaded")
        opened = seen_within(3.0, lambda: screen.availability() == "online")
        assert opened is None, "a page framed by another web site holds the device online"
        assert screen.state() is None, "a page framed by another web site reports its state"
