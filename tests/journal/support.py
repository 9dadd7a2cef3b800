"""Helpers for the journal tests: polling with a deadline, and writer connections that misbehave."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from controller.journal.store import connect_for_writing

START_NS = 1_795_282_200_000_000_000
"""2026-11-21T17:30:00Z, the wall time the test sessions start at."""


def eventually(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll `predicate` until it is true; fail the test if `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {predicate}")
        time.sleep(0.002)


class AlertLog:
    """Collects what a journal passes to `on_alert` (called from its writer thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._alerts: list[str | None] = []

    def __call__(self, message: str | None) -> None:
        with self._lock:
            self._alerts.append(message)

    @property
    def alerts(self) -> list[str | None]:
        with self._lock:
            return list(self._alerts)


class TracedConnections:
    """Opens real writer connections and records every SQL statement the writer runs on them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statements: list[str] = []

    def connect(self, path: Path) -> sqlite3.Connection:
        connection = connect_for_writing(path)
        connection.set_trace_callback(self._record)
        return connection

    def _record(self, statement: str) -> None:
        with self._lock:
            self._statements.append(statement)

    def count(self, statement: str) -> int:
        with self._lock:
            return self._statements.count(statement)


class LimitedDisk:
    """A disk that can fill up and be freed: SQLite's `max_page_count` on each writer connection.

    With `full` set, the file may not grow past its current size, so SQLite itself answers
    SQLITE_FULL "database or disk is full"; clearing it lets the next connection grow again.
    """

    def __init__(self, *, full: bool) -> None:
        self.full = full
        self.connections = 0

    def connect(self, path: Path) -> sqlite3.Connection:
        self.connections += 1
        connection = connect_for_writing(path)
        if self.full:
            # SQLite never lowers the limit below the current size: 1 means "no growth".
            connection.execute("PRAGMA max_page_count = 1")
        return connection


class ReadOnlyDisk:
    """A disk that refuses writes while `read_only` is set: the writer gets a `mode=ro` connection,
    so SQLite itself answers SQLITE_READONLY "attempt to write a readonly database"."""

    def __init__(self, *, read_only: bool) -> None:
        self.read_only = read_only
        self.connections = 0

    def connect(self, path: Path) -> sqlite3.Connection:
        self.connections += 1
        if not self.read_only:
            return connect_for_writing(path)
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
