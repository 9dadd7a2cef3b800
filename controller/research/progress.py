"""A progress line on stderr for work that runs longer than a second (export, report)."""

from __future__ import annotations

import time
from collections.abc import Callable

import click

PROGRESS_AFTER_S = 1.0
"""Work that takes longer than this shows its progress on stderr."""
PROGRESS_INTERVAL_S = 0.25


class Progress:
    """Shows `exporting… 45% (45000/100000 events)` on stderr once the work runs over a second."""

    def __init__(
        self,
        total: int,
        *,
        label: str = "exporting",
        unit: str = "events",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._total = total
        self._label = label
        self._unit = unit
        self._clock = clock
        self._started = clock()
        self._shown_at: float | None = None
        self._done = self._shown_done = 0

    def __call__(self, done: int) -> None:
        self._done = done
        now = self._clock()
        if now - self._started < PROGRESS_AFTER_S:
            return
        if self._shown_at is not None and now - self._shown_at < PROGRESS_INTERVAL_S:
            return
        self._shown_at = now
        self._show()

    def finish(self) -> None:
        """End the progress line, if one was shown, at the last count it was told."""
        if self._shown_at is not None:
            if self._shown_done != self._done:
                self._show()
            click.echo(err=True)
            self._shown_at = None

    def _show(self) -> None:
        self._shown_done = done = self._done
        percent = 100 * done // self._total if self._total else 100
        click.echo(
            f"\r{self._label}… {percent}% ({done}/{self._total} {self._unit})", err=True, nl=False
        )
