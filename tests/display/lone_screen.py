"""One screen of the screen room on its own: its `sessionroom display` process and a
Chromium showing its page, commands published straight onto the device's topic (as any
client of the broker may), no engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.display.screen_room import write_screen_room
from tests.support.browser import chromium
from tests.support.mosquitto import Mosquitto, port_accepts
from tests.support.room import Operator, Wire, running, until

AUTOPLAY = ("--autoplay-policy=no-user-gesture-required",)


@dataclass
class Screen:
    topic: str
    """The device's base topic (`vr/headset`, `bls/lightbar`)."""
    url: str
    wire: Wire

    def publish(self, command: dict[str, Any] | str) -> None:
        """A command straight onto the device's `set` topic, on the broker when this returns."""
        payload = command if isinstance(command, str) else json.dumps(command)
        self.wire.client.publish(f"{self.topic}/set", payload, qos=1).wait_for_publish(5)

    def state(self) -> dict[str, Any] | None:
        payload = self.wire.last(f"{self.topic}/state")
        return json.loads(payload) if payload else None

    def availability(self) -> str | None:
        return self.wire.last(f"{self.topic}/availability")


def display_port(config: Path, device: str) -> int:
    listed = yaml.safe_load((config.parent / "devices" / "screens.yaml").read_text())["devices"]
    return int(next(d for d in listed if d["id"] == device)["display"]["port"])


@contextmanager
def lone_screen(broker: Mosquitto, folder: Path, device: str) -> Iterator[Screen]:
    """The screen room's `device` ("headset" or "lightbar") served by its own process."""
    config = write_screen_room(folder / "room")
    room = Operator(broker, folder / "data", config)
    try:
        wire = room.watch()
        topic = "vr/headset" if device == "headset" else "bls/lightbar"
        port = display_port(config, device)
        with running(("display", *room.common, "--device", device)):
            until(lambda: port_accepts(port), f"the {device} display serves its page")
            until(lambda: wire.last(f"{topic}/availability") == "offline", f"{device} offline")
            yield Screen(topic, f"http://127.0.0.1:{port}/", wire)
    finally:
        room.close()


@contextmanager
def browser(profile: Path, *flags: str) -> Iterator[Any]:
    """A headless Chromium (quit at the end)."""
    driver = chromium(profile, flags)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver: Any, screen: Screen) -> None:
    """Show `screen`'s page in `driver`, once the device says it is online."""
    driver.get(screen.url)
    until(lambda: screen.availability() == "online", f"{screen.topic} online with its page")
