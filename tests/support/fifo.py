"""Calls that must refuse a FIFO at once rather than wait on it for ever."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

WAIT_S = 5.0


def raised_without_waiting(call: Callable[[], object], fifo: Path) -> BaseException | None:
    """What `call` raised (None: nothing), run in a thread; a call still waiting on `fifo`
    after WAIT_S is unblocked (a writer opens and closes the FIFO) and the test fails."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:
            outcome.append(error)
        else:
            outcome.append(None)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(WAIT_S)
    if worker.is_alive():
        with fifo.open("w"):
            pass
        worker.join()
        pytest.fail(f"still waiting on the FIFO {fifo} after {WAIT_S:g} s")
    return outcome[0]
