"""Console test fixtures: a room of its own on the real Mosquitto, a stand-in engine, a clock."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from controller.console.link import Endpoint
from tests.console.standin_engine import StandInEngine
from tests.support.mosquitto import Mosquitto


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Wall times read the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def room() -> str:
    """A room of this test's own, so retained messages of other tests never reach it."""
    return f"console-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def endpoint(mosquitto: Mosquitto) -> Endpoint:
    return Endpoint(host=mosquitto.host, port=mosquitto.port)


@pytest.fixture
async def engine(mosquitto: Mosquitto, room: str) -> AsyncIterator[StandInEngine]:
    async with StandInEngine(mosquitto.host, mosquitto.port, room) as stand_in:
        yield stand_in


class FixedClock:
    """A clock that stands still unless a test moves it."""

    def __init__(self, wall: float) -> None:
        self._wall = wall
        self._monotonic = 1000.0

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._monotonic += seconds
