"""Stopping a background task for sure, even when it swallows a cancellation.

On Python 3.11, `asyncio.wait_for` loses a cancellation that arrives while the future it
waits for completes (cpython gh-86296, fixed in 3.12). aiomqtt waits for every connect,
publish and disconnect that way, so `task.cancel(); await task` can hang forever: the task
carries on as if nothing had been asked. `cancel_and_wait` asks again, a bounded number of
times, until the task has ended.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

RETRY_INTERVAL_S = 0.25
ATTEMPTS = 20  # ~5 s in all


async def cancel_and_wait(
    task: asyncio.Future[Any],
    *,
    retry_interval_s: float = RETRY_INTERVAL_S,
    attempts: int = ATTEMPTS,
) -> bool:
    """Cancel `task` and wait until it ends; True once it has, False if it never did.

    The task's own result or exception is not raised: whoever stops it has decided that
    it no longer matters (an exception is still retrieved so asyncio does not log it).
    """
    for _ in range(attempts):
        if task.done():
            break
        task.cancel()
        await asyncio.wait({task}, timeout=retry_interval_s)
    if not task.done():
        log.error("%r ignored %d cancellations; left running", task, attempts)
        return False
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not report it as never retrieved
    return True
