"""Shared fixtures: a real Mosquitto on a free loopback port, and the shipped example room."""

from __future__ import annotations

import contextlib
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


@pytest.fixture(autouse=True)
def journals_closed_after_each_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A session journal a test leaves open (an engine it never ends) is closed when the test
    ends. Each open journal keeps its writer's thread and its files: left open over the whole
    run, hundreds of them pushed the test process's file descriptors past 1023, where paho's
    network loop (`select()`) can use none, and later tests' MQTT logins failed."""
    from controller.journal.journal import Journal

    opened: list[Journal] = []
    open_journal = Journal.__init__

    def recorded(journal: Journal, *args: object, **kwargs: object) -> None:
        open_journal(journal, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(journal)

    monkeypatch.setattr(Journal, "__init__", recorded)
    yield
    for journal in opened:
        if journal._writer._thread.is_alive():
            with contextlib.suppress(Exception):
                journal.close(ended_cleanly=False, timeout_s=0.5)
