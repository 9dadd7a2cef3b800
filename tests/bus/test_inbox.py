"""The bus's inbox: urgent messages first, lanes in turn, bounded, and drops handed on."""

from __future__ import annotations

import asyncio

from controller.bus.inbox import URGENT, Inbox
from controller.bus.messages import Message


def message(topic: str, payload: bytes = b"x") -> Message:
    return Message(topic, payload, retain=False)


async def drain(inbox: Inbox) -> list[str]:
    topics = []
    while len(inbox):
        topics.append((await inbox.get()).topic)
        inbox.task_done()
    return topics


async def test_an_urgent_message_goes_ahead_of_everything_queued() -> None:
    inbox = Inbox()
    for n in range(3):
        inbox.put(message(f"cmd/note{n}"), "control")
    inbox.put(message("cmd/emergency"), URGENT)
    assert await drain(inbox) == ["cmd/emergency", "cmd/note0", "cmd/note1", "cmd/note2"]


async def test_lanes_take_turns_so_a_flood_on_one_does_not_hold_up_the_other() -> None:
    inbox = Inbox()
    for n in range(3):
        inbox.put(message(f"device/{n}"), "default")
    inbox.put(message("cmd/next"), "control")
    assert await drain(inbox) == ["device/0", "cmd/next", "device/1", "device/2"]


async def test_a_full_lane_drops_what_arrives_and_says_so_without_touching_other_lanes() -> None:
    dropped: list[tuple[str, str]] = []
    inbox = Inbox(
        max_messages=2, max_bytes=10, on_dropped=lambda m, why: dropped.append((m.topic, why))
    )
    assert inbox.put(message("device/0"), "default")
    assert inbox.put(message("device/1"), "default")
    assert not inbox.put(message("device/2"), "default")  # too many
    assert inbox.put(message("cmd/a", b"123456789"), "control")
    assert not inbox.put(message("cmd/b", b"12"), "control")  # too many bytes
    assert dropped == [
        ("device/2", "the default inbox is full"),
        ("cmd/b", "the control inbox is full"),
    ]
    assert inbox.dropped == 2
    assert await drain(inbox) == ["device/0", "cmd/a", "device/1"]
    assert inbox.put(message("device/3"), "default")  # room again once handled


async def test_join_waits_until_every_message_is_handled() -> None:
    inbox = Inbox()
    await inbox.join()  # nothing queued: returns at once
    inbox.put(message("a"), "default")
    got = await inbox.get()
    assert got.topic == "a"
    inbox.task_done()
    await inbox.join()


async def test_a_wait_for_a_message_ends_as_one_is_queued_and_not_before() -> None:
    inbox = Inbox()
    waiting = asyncio.create_task(inbox.wait_for_message(3600.0))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiting.done()
    inbox.put(message("cmd/emergency"), URGENT)
    await asyncio.wait_for(waiting, 5.0)


async def test_a_wait_for_a_message_ends_at_once_when_one_is_waiting_and_else_at_its_timeout() -> (
    None
):
    inbox = Inbox()
    await asyncio.wait_for(inbox.wait_for_message(0.001), 5.0)  # its own timeout ends it
    inbox.put(message("device/0"), "default")
    await asyncio.wait_for(inbox.wait_for_message(3600.0), 5.0)
    assert len(inbox) == 1  # waiting for a message takes none


async def test_two_waits_for_a_message_at_once_each_end_at_their_timeout_or_as_one_is_queued() -> (
    None
):
    """Two handlers pause at once (a command in line behind a start, and an emergency): the
    second's wait never takes the first's place, so neither waits for ever."""
    inbox = Inbox()
    first = asyncio.create_task(inbox.wait_for_message(0.05))
    await asyncio.sleep(0)
    second = asyncio.create_task(inbox.wait_for_message(0.2))
    await asyncio.wait_for(asyncio.gather(first, second), 2)
    waiting = [asyncio.create_task(inbox.wait_for_message(60)) for _ in range(2)]
    await asyncio.sleep(0)
    inbox.put(message("cmd/note"), "control")
    await asyncio.wait_for(asyncio.gather(*waiting), 2)
