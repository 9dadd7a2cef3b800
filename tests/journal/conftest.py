"""Fixtures for the journal tests: a data directory, an alert log and a journal factory."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.journal import Event, Journal, JournalError
from controller.journal import writer as writer_module
from tests.journal.support import START_NS, AlertLog

JournalFactory = Callable[..., Journal]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def alert_log() -> AlertLog:
    return AlertLog()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry a refusing disk every few ms instead of backing off to seconds."""
    monkeypatch.setattr(writer_module, "RETRY_MAX_S", 0.01)


@pytest.fixture
def new_journal(data_dir: Path, alert_log: AlertLog) -> Iterator[JournalFactory]:
    """Create journals in `data_dir` (room-a, plan standard, participant P-017 by default);
    any left open are closed at the end of the test."""
    created: list[Journal] = []

    def create(**options: Any) -> Journal:
        settings: dict[str, Any] = {
            "room": "room-a",
            "plan": "standard",
            "participant": "P-017",
            "time_scale": 1.0,
            "wall_ns": START_NS,
            "on_alert": alert_log,
            **options,
        }
        journal = Journal.create(settings.pop("data_dir", data_dir), **settings)
        created.append(journal)
        return journal

    yield create
    for journal in created:
        # A test that left the disk refusing writes has nothing more to save.
        with contextlib.suppress(JournalError):
            journal.close(ended_cleanly=False, timeout_s=1.0)


MINUTE_NS = 60 * 10**9
DAY_NS = 24 * 60 * MINUTE_NS


@pytest.fixture
def three_sessions(new_journal: JournalFactory) -> dict[str, str]:
    """room-a ended cleanly; room-b resumed, ended after a crash; room-a open since the next day."""
    finished = new_journal(wall_ns=START_NS)
    for minute, phase in ((0, "centering"), (20, "peak"), (50, "centering"), (60, "return")):
        finished.append(
            Event("phase", {"to": phase}, phase=phase),
            t=minute * 60,
            wall_ns=START_NS + minute * MINUTE_NS,
        )
    finished.close(ended_cleanly=True, wall_ns=START_NS + 90 * MINUTE_NS)

    crashed = new_journal(room="room-b", wall_ns=START_NS + 120 * MINUTE_NS)
    crashed.append(Event("phase", phase="centering"), t=0.0, wall_ns=START_NS + 120 * MINUTE_NS)
    crashed.append(
        Event("resume", {"after_s": 4.0}, phase="centering"),
        t=60.0,
        wall_ns=START_NS + 121 * MINUTE_NS,
    )
    crashed.close(ended_cleanly=False, wall_ns=START_NS + 130 * MINUTE_NS)

    running = new_journal(wall_ns=START_NS + DAY_NS)
    running.append(Event("session", {"action": "start"}), t=0.0, wall_ns=START_NS + DAY_NS)
    running.append(
        Event("note", "calm", phase="centering"), t=300.0, wall_ns=START_NS + DAY_NS + 5 * MINUTE_NS
    )
    assert running.flush()
    return {
        "finished": finished.session_id,
        "crashed": crashed.session_id,
        "running": running.session_id,
    }
