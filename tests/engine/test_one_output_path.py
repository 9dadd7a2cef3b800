"""Every message to a device leaves through the one output path (docs/safety.md#one-guarded-path).

Three locks, each tested: only `controller/engine/output.py` turns a driver's command into a
message to send (read from the source of the whole package); a `GatedMessage` cannot be
made anywhere else; and the bus refuses a device topic on its ordinary `publish`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from controller.bus.bus import Bus
from controller.config.settings import BrokerSettings
from controller.engine.output import GatedMessage
from tests.conftest import REPO

PACKAGE = REPO / "controller"
OUTPUT_PATH = PACKAGE / "engine" / "output.py"
TRANSLATORS = (PACKAGE / "drivers", PACKAGE / "sim")
"""Drivers build the messages (and call each other's helpers); the simulated devices are
devices, answering on their own topics."""


def calls_to_drivers(path: Path) -> list[str]:
    """`x.command(...)`, `x.query()` or `x.decode(...)` calls on something named a driver."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("command", "query")
            and "driver" in ast.unparse(node.func.value).lower()
        ):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node.func)}")
    return found


def gated_messages_made(path: Path) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("GatedMessage")
    ]


def modules() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != OUTPUT_PATH and not any(path.is_relative_to(t) for t in TRANSLATORS)
    ]


def test_only_the_output_path_turns_a_drivers_command_into_a_message() -> None:
    assert [found for path in modules() for found in calls_to_drivers(path)] == []
    assert calls_to_drivers(OUTPUT_PATH), "the rule reads the calls it is meant to find"


def test_only_the_output_path_makes_gated_messages() -> None:
    assert [found for path in modules() for found in gated_messages_made(path)] == []
    assert gated_messages_made(OUTPUT_PATH)


def test_a_gated_message_made_elsewhere_is_refused() -> None:
    with pytest.raises(TypeError, match="only through RoomOutput"):
        GatedMessage("zigbee2mqtt/ceiling_light/set", '{"state":"OFF"}')


async def test_the_bus_refuses_a_device_topic_on_its_ordinary_publish() -> None:
    settings = BrokerSettings(mode="external", host="127.0.0.1", port=1)
    bus = Bus(settings, client_id="t", device_topics=frozenset({"bls/tappers/set"}))
    with pytest.raises(ValueError, match="only the output path publishes there"):
        await bus.publish("bls/tappers/set", '{"running":true,"speed_hz":10}')
    await bus.publish("sessionroom/room-a/events", "{}")  # its own topics are fine
