"""The batch in flight: one future for all its acknowledgements, and what goes back on failure."""

from __future__ import annotations

import asyncio

from paho.mqtt.client import MQTTMessageInfo

from controller.bus.acknowledgements import Acknowledgements


def handed(acknowledgements: Acknowledgements, mid: int, *, published: bool = False) -> None:
    info = MQTTMessageInfo(mid)
    if published:
        info._set_as_published()  # what paho does for a QoS 0 message it wrote at once
    acknowledgements.handed(info)


async def test_the_batch_is_done_once_every_message_is_acknowledged_in_any_order() -> None:
    acknowledgements = Acknowledgements()
    done = acknowledgements.expect(3)
    for mid in (7, 8, 9):
        handed(acknowledgements, mid)
    acknowledgements.acknowledged(9)
    acknowledgements.acknowledged(7)
    await asyncio.sleep(0)
    assert not done.done()
    acknowledgements.acknowledged(8)
    assert done.done()


async def test_an_acknowledgement_before_the_last_message_is_handed_does_not_end_the_batch() -> (
    None
):
    acknowledgements = Acknowledgements()
    done = acknowledgements.expect(2)
    handed(acknowledgements, 1)
    acknowledgements.acknowledged(1)
    assert not done.done()
    handed(acknowledgements, 2, published=True)
    assert done.done()


async def test_other_message_ids_are_ignored() -> None:
    acknowledgements = Acknowledgements()
    done = acknowledgements.expect(1)
    handed(acknowledgements, 5)
    acknowledgements.acknowledged(4)  # the birth, published through aiomqtt
    assert not done.done()


async def test_an_empty_batch_is_done_at_once() -> None:
    assert Acknowledgements().expect(0).done()


async def test_what_goes_back_is_what_was_not_handed_or_not_acknowledged_in_order() -> None:
    acknowledgements = Acknowledgements()
    batch = ["a", "b", "c", "d", "e"]
    acknowledgements.expect(len(batch))
    for mid in (11, 12, 13):  # d and e were never handed: paho refused c's successor
        handed(acknowledgements, mid)
    acknowledgements.acknowledged(12)
    assert acknowledgements.unacknowledged(batch) == ["a", "c", "d", "e"]
