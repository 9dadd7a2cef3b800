"""The rooms measured: the shipped example room, and a generated room of many lights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.processes import REPO
from controller.cli.common import Overrides, apply_overrides
from controller.config import Room, load_room
from controller.config.models import Device
from controller.drivers.base import (
    BlsCommand,
    BlsDriver,
    LightCommand,
    LightDriver,
    Outgoing,
    VrCommand,
    VrDriver,
)
from controller.drivers.registry import make_driver
from tests.support.mosquitto import Mosquitto

FANOUT_SCENES = {"fanout-a": 50, "fanout-b": 56}
"""The two scenes the fan-out alternates, with the level (%) they give every light: apart by
less than the 10 % a flash needs, so the safety gate never holds one back."""
FANOUT_FADE_S = 1.0
FANOUT_PLAN = "fanout"


def on_broker(room: Room, broker: Mosquitto, room_id: str, workdir: Path) -> Room:
    """The room as the benchmark's engine runs it: its broker, its id, its own data folder."""
    return apply_overrides(
        room,
        Overrides(broker=broker.url, room_id=room_id, data_dir=workdir / f"data-{room_id}"),
    )


def example_room(broker: Mosquitto, room_id: str, workdir: Path) -> Room:
    """The shipped example room (config.yaml at the repository root)."""
    return on_broker(load_room(REPO / "config.yaml"), broker, room_id, workdir)


def command_topic(device: Device) -> str | None:
    """The topic the device's commands go to; None for a sensor or a device on the room PC."""
    if device.is_local:
        return None
    driver = make_driver(device)
    probe: list[Outgoing]
    if isinstance(driver, LightDriver):
        probe = driver.command(LightCommand(level=0.5))
    elif isinstance(driver, BlsDriver):
        probe = driver.command(BlsCommand(running=False))
    elif isinstance(driver, VrDriver):
        probe = driver.command(VrCommand("stop"))
    else:
        return None
    return probe[0].topic


def command_topics(room: Room, kind: str | None = None) -> dict[str, str]:
    """Device id → command topic, for every MQTT device of the room taking commands (of `kind`)."""
    topics = {}
    for device in room.devices.values():
        topic = command_topic(device)
        if topic is not None and kind in (None, device.kind):
            topics[device.id] = topic
    return topics


def light(number: int) -> dict[str, Any]:
    """Light `number`: Zigbee2MQTT and WLED in turn, as a room's inventory mixes them."""
    if number % 2:
        return {
            "id": f"bulb-{number:03d}",
            "kind": "light",
            "driver": "zigbee2mqtt",
            "topic": f"bulb_{number:03d}",
            "kelvin_range": [2000, 6500],
        }
    return {
        "id": f"strip-{number:03d}",
        "kind": "light",
        "driver": "wled",
        "topic": f"strip-{number:03d}",
        "rgb": True,
    }


def scene(level: int, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "fade_s": FANOUT_FADE_S,
        "lights": {"all": {"level": level}},
    }


def write_many_lights_room(folder: Path, room_id: str, lights: int) -> Path:
    """A room of `lights` lights with scenes addressing `all`; returns its config.yaml."""
    for sub in ("devices", "scenes/plans", "playlists"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    config = {
        "room": room_id,
        "name": f"Benchmark room with {lights} lights",
        "broker": {"mode": "external", "host": "127.0.0.1", "port": 1883},
        "idle_scene": "idle",
        "safe_scene": "lights-up",
        "default_plan": FANOUT_PLAN,
    }
    scenes = {
        "idle": scene(40, "Every light at 40 %."),
        "lights-up": scene(80, "Every light at 80 %."),
        **{
            name: scene(level, f"Every light at {level} %.")
            for name, level in FANOUT_SCENES.items()
        },
    }
    plan = {
        "title": "Benchmark: one long phase",
        "phases": [{"name": "centering", "scene": "idle", "duration": "60m", "advance": "manual"}],
    }
    dump(folder / "config.yaml", config)
    dump(folder / "devices" / "lights.yaml", {"devices": [light(n) for n in range(1, lights + 1)]})
    for name, content in scenes.items():
        dump(folder / "scenes" / f"{name}.yaml", content)
    dump(folder / "scenes" / "plans" / f"{FANOUT_PLAN}.yaml", plan)
    return folder / "config.yaml"


def many_lights_room(
    broker: Mosquitto, workdir: Path, lights: int, *, name: str = "bench-fanout"
) -> Room:
    """A generated room of `lights` simulated lights, loaded and validated like any room.

    Its id is `<name>-<lights>`: each part gets a room (and journal folder) of its own.
    """
    room_id = f"{name}-{lights}"
    config = write_many_lights_room(workdir / room_id, room_id, lights)
    return on_broker(load_room(config), broker, room_id, workdir)


def dump(path: Path, content: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(content, sort_keys=False))
