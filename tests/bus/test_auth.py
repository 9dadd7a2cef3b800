"""Username and password from a file against a Mosquitto that requires them."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.bus import Bus
from controller.config.settings import BrokerSettings
from tests.bus.support import FAST_RETRY, ConnectionLog, Recorder, eventually
from tests.support.mosquitto import Mosquitto
from tests.support.requirements import missing, mosquitto_binary

pytestmark = pytest.mark.mosquitto


def set_password(password_file: Path, username: str, password: str) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        missing("mosquitto_passwd", "apt-get install mosquitto")
    create = [] if password_file.exists() else ["-c"]
    subprocess.run([tool, "-b", *create, str(password_file), username, password], check=True)


@pytest.fixture
def password_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto that admits only `engine` with the password `right horse`."""
    password_file = tmp_path / "mosquitto.passwd"
    set_password(password_file, "engine", "right horse")
    broker = Mosquitto(
        mosquitto_binary(),
        tmp_path,
        extra_config=f"user root\nallow_anonymous false\npassword_file {password_file}\n",
    )
    broker.start()
    yield broker
    broker.stop()


def room_with_password(root: Path, password: str) -> Path:
    (root / "secrets").mkdir(parents=True)
    (root / "secrets" / "broker-password").write_text(password + "\n")
    return root


async def test_a_password_from_a_file_opens_the_broker(
    password_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    root = room_with_password(tmp_path / "room", "right horse")
    settings = BrokerSettings(
        mode="external",
        host=password_mosquitto.host,
        port=password_mosquitto.port,
        username="engine",
        password_file="secrets/broker-password",
    )
    received = Recorder()
    async with Bus(settings, client_id="authenticated", root=root) as bus:
        bus.subscribe("room/echo", received)
        await bus.publish("room/echo", "hello")
        await eventually(lambda: received.payloads == ["hello"])


async def test_a_wrong_password_is_reported_and_retried_until_the_broker_accepts_it(
    password_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    root = room_with_password(tmp_path / "room", "wrong horse")
    settings = BrokerSettings(
        mode="external",
        host=password_mosquitto.host,
        port=password_mosquitto.port,
        username="engine",
        password_file="secrets/broker-password",
    )
    connections = ConnectionLog()
    bus = Bus(settings, client_id="refused", root=root, **FAST_RETRY)
    bus.on_connection(connections)
    async with bus:
        await eventually(lambda: connections.states == [False])
        reason = connections.changes[0].reason
        assert reason is not None and "not authori" in reason.lower()
        assert not await bus.wait_connected(timeout=0.3)

        set_password(tmp_path / "mosquitto.passwd", "engine", "wrong horse")
        password_mosquitto.restart()
        assert await bus.wait_connected(timeout=5)
    assert connections.states[:2] == [False, True]
