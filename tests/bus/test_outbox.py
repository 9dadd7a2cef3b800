"""The outgoing queue keeps order, lets the latest message per key win, and drops the oldest."""

from __future__ import annotations

import pytest

from controller.bus.outbox import Outbox, Pending


def message(payload: str, topic: str = "room/x") -> Pending:
    return Pending(topic, payload.encode(), qos=1, retain=False)


def drain(outbox: Outbox) -> list[str]:
    payloads = []
    while outbox:
        _, pending = outbox.take()
        payloads.append(pending.payload.decode())
    return payloads


def test_messages_leave_in_the_order_they_were_put() -> None:
    outbox = Outbox(10)
    for payload in ("a", "b", "c"):
        outbox.put(message(payload))
    assert drain(outbox) == ["a", "b", "c"]


def test_a_keyed_message_replaces_the_waiting_one_and_takes_the_newer_position() -> None:
    outbox = Outbox(10)
    outbox.put(message("lamp 10%"), key="lamp")
    outbox.put(message("note"))
    outbox.put(message("lamp 20%"), key="lamp")
    outbox.put(message("bls on"), key="bls")
    assert drain(outbox) == ["note", "lamp 20%", "bls on"]


def test_when_full_the_oldest_is_dropped_and_counted() -> None:
    outbox = Outbox(2)
    assert outbox.put(message("a")) is None
    assert outbox.put(message("b")) is None
    assert outbox.put(message("c")) == message("a")
    assert outbox.dropped == 1
    assert drain(outbox) == ["b", "c"]


def test_replacing_a_keyed_message_never_drops_another() -> None:
    outbox = Outbox(2)
    outbox.put(message("note"))
    outbox.put(message("lamp 10%"), key="lamp")
    assert outbox.put(message("lamp 20%"), key="lamp") is None
    assert outbox.dropped == 0
    assert drain(outbox) == ["note", "lamp 20%"]


def test_a_message_that_could_not_be_sent_goes_back_to_the_front() -> None:
    outbox = Outbox(10)
    outbox.put(message("first"))
    outbox.put(message("second"))
    slot, first = outbox.take()
    outbox.put_back(slot, first)
    assert drain(outbox) == ["first", "second"]


def test_a_message_put_back_yields_to_a_newer_one_with_its_key() -> None:
    outbox = Outbox(10)
    outbox.put(message("lamp 10%"), key="lamp")
    slot, in_flight = outbox.take()
    outbox.put(message("lamp 20%"), key="lamp")
    outbox.put_back(slot, in_flight)
    assert drain(outbox) == ["lamp 20%"]


def test_a_queue_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Outbox(0)
