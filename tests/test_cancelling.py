"""Stopping a task that swallows its cancellation, as Python 3.11's `asyncio.wait_for` can."""

from __future__ import annotations

import asyncio

from controller.cancelling import cancel_and_wait


async def _waits_like_aiomqtt(answer: asyncio.Future[None], never: asyncio.Event) -> None:
    """What a simulated device's connection task does: an aiomqtt call, then a wait."""
    await asyncio.wait_for(answer, timeout=10)  # aiomqtt's publish/connect wait
    await never.wait()  # e.g. for the device to be wanted online again


async def _started(task: asyncio.Task[None]) -> None:
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done()


async def test_a_task_whose_cancellation_wait_for_swallowed_is_still_stopped() -> None:
    answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    never = asyncio.Event()
    task = asyncio.create_task(_waits_like_aiomqtt(answer, never))
    await _started(task)
    # The broker's answer and the cancellation arrive in the same loop iteration: on 3.11
    # wait_for returns the answer and drops the cancellation (cpython gh-86296).
    answer.set_result(None)
    task.cancel()
    assert await cancel_and_wait(task, retry_interval_s=0.05)
    assert task.done()
    assert not never.is_set()


async def test_a_task_that_ends_with_an_error_while_stopped_is_stopped_quietly() -> None:
    async def fails_when_cancelled() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("connection lost while stopping") from None

    task = asyncio.create_task(fails_when_cancelled())
    await _started(task)
    assert await cancel_and_wait(task)
    assert isinstance(task.exception(), RuntimeError)


async def test_a_task_that_ignores_every_cancellation_is_given_up_after_the_attempts() -> None:
    stop = asyncio.Event()
    ignored = 0

    async def stubborn() -> None:
        nonlocal ignored
        while not stop.is_set():
            try:
                await stop.wait()
            except asyncio.CancelledError:
                ignored += 1

    task = asyncio.create_task(stubborn())
    await _started(task)
    assert not await cancel_and_wait(task, retry_interval_s=0.01, attempts=3)
    assert ignored == 3
    stop.set()
    await task
