"""Shared fixtures: a real Mosquitto on a free loopback port, and the shipped example room."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto
from tests.support.requirements import mosquitto_binary

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO / "config.yaml"


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One Mosquitto for the whole run; tests use unique topics so they do not meet."""
    broker = Mosquitto(mosquitto_binary(), tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto of this test's own, for tests that stop and restart the broker."""
    broker = Mosquitto(mosquitto_binary(), tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def example_config() -> Path:
    return EXAMPLE_CONFIG
