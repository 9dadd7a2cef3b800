"""The outgoing queue keeps order, lets the latest message per key win, drops the oldest, and
drops a message past its deadline instead of handing it out late."""

from __future__ import annotations

import math
from collections.abc import Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.bus.outbox import Outbox, Pending


def message(payload: str, topic: str = "room/x", expires_at: float = math.inf) -> Pending:
    return Pending(topic, payload.encode(), qos=1, retain=False, expires_at=expires_at)


def drain(outbox: Outbox, now: float = 0.0) -> list[str]:
    return [pending.payload.decode() for _, pending in outbox.take(len(outbox), now)]


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
    [(slot, first)] = outbox.take(1, now=0.0)
    outbox.put_back(slot, first)
    assert drain(outbox) == ["first", "second"]


def test_a_message_put_back_yields_to_a_newer_one_with_its_key() -> None:
    outbox = Outbox(10)
    outbox.put(message("lamp 10%"), key="lamp")
    [(slot, in_flight)] = outbox.take(1, now=0.0)
    outbox.put(message("lamp 20%"), key="lamp")
    outbox.put_back(slot, in_flight)
    assert drain(outbox) == ["lamp 20%"]


def test_a_message_past_its_deadline_is_dropped_as_it_is_taken() -> None:
    outbox = Outbox(10)
    outbox.put(message("late", expires_at=1.0))
    outbox.put(message("no deadline"))
    outbox.put(message("in time", expires_at=2.0))
    assert drain(outbox, now=1.5) == ["no deadline", "in time"]
    assert outbox.expired == 1


def test_a_message_put_back_after_its_deadline_is_not_handed_out_again() -> None:
    outbox = Outbox(10)
    outbox.put(message("first", expires_at=1.0))
    outbox.put(message("second"))
    [(slot, first)] = outbox.take(1, now=0.5)
    outbox.put_back(slot, first)
    assert outbox.take(1, now=1.5)[0][1].payload == b"second"
    assert (len(outbox), outbox.expired) == (0, 1)


def test_a_queue_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Outbox(0)


def chained(payload: str, chain: str, expires_at: float = math.inf) -> Pending:
    return Pending("vr/x/set", payload.encode(), 1, False, expires_at, chain)


def test_a_late_message_takes_the_later_ones_of_its_chain_with_it() -> None:
    outbox = Outbox(10)
    outbox.put(chained("volume 5", "headset", expires_at=1.0))
    outbox.put(chained("volume 7", "headset", expires_at=3.0))
    outbox.put(message("note"))
    outbox.put(chained("volume 9", "other", expires_at=3.0))
    outbox.put(chained("volume 10", "headset"))
    assert drain(outbox, now=2.0) == ["note", "volume 9"]
    assert [m.payload for m in outbox.take_lost()] == [b"volume 5", b"volume 7", b"volume 10"]
    assert outbox.take_lost() == []
    assert outbox.expired == 3


def test_a_message_dropped_for_room_takes_the_later_ones_of_its_chain_with_it() -> None:
    outbox = Outbox(3)
    outbox.put(chained("volume 5", "headset"))
    outbox.put(message("note"))
    outbox.put(chained("volume 7", "headset"))
    assert outbox.put(message("state")) == chained("volume 5", "headset")
    assert drain(outbox) == ["note", "state"]
    assert [m.payload for m in outbox.take_lost()] == [b"volume 5", b"volume 7"]
    assert outbox.dropped == 2


def test_every_message_dropped_unsent_is_told_once() -> None:
    outbox = Outbox(1)
    outbox.put(message("first"))
    outbox.put(message("second", expires_at=1.0))
    assert drain(outbox, now=2.0) == []
    assert [m.payload for m in outbox.take_lost()] == [b"first", b"second"]
    assert outbox.take_lost() == []


def test_a_chain_s_message_sent_late_takes_the_later_ones_waiting_with_it() -> None:
    outbox = Outbox(10)
    first = chained("volume 5", "headset", expires_at=1.0)
    outbox.put(first)
    assert drain(outbox, now=0.5) == ["volume 5"]
    outbox.put(chained("volume 7", "headset", expires_at=3.0))
    outbox.put(chained("volume 9", "other", expires_at=3.0))
    outbox.late(first)
    assert drain(outbox, now=2.0) == ["volume 9"]
    assert [(m.payload, m.went) for m in outbox.take_lost()] == [
        (b"volume 5", True),  # it went, late
        (b"volume 7", False),
    ]
    assert outbox.expired == 1


def kept(payload: str, chain: str, expires_at: float) -> Pending:
    """A message of a chain sent however late (a light bar's stop)."""
    return Pending("bls/x/set", payload.encode(), 1, False, expires_at, chain, keep=True)


def test_a_message_sent_however_late_goes_and_takes_the_later_ones_of_its_chain() -> None:
    """A light bar's stop that waited past its deadline still goes (never a stop lost), but a
    start after it would reach the bar with it, dark and lit again at once: it is dropped,
    and told; the stop is not (it went). Nor is a stop dropped with a start before it. Of
    several stops that waited only the last goes, the others told (whoever judged them
    darkens the device again): a screen's brightness falls, the rises between them dropped,
    would reach it as alternating levels at once."""
    outbox = Outbox(10)
    outbox.put(chained("start 1", "bar", expires_at=1.0))
    outbox.put(kept("stop 1", "bar", expires_at=1.0))
    outbox.put(kept("stop 2", "bar", expires_at=1.5))
    outbox.put(chained("start 3", "bar", expires_at=3.0))
    outbox.put(kept("stop 3", "bar", expires_at=3.0))
    assert drain(outbox, now=2.0) == ["stop 3"]
    lost = [m.payload for m in outbox.take_lost()]
    assert lost == [b"start 1", b"start 3", b"stop 1", b"stop 2"]
    assert outbox.expired == 4


def test_a_message_sent_however_late_and_acknowledged_late_is_not_told_lost() -> None:
    outbox = Outbox(10)
    stop = kept("stop", "bar", expires_at=1.0)
    outbox.put(stop)
    assert drain(outbox, now=0.5) == ["stop"]
    outbox.put(chained("start", "bar", expires_at=3.0))
    outbox.late(stop)
    assert drain(outbox, now=2.0) == []
    assert [m.payload for m in outbox.take_lost()] == [b"start"]


CHAINS = (None, "bar", "screen")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("put"),
                st.sampled_from((None, "lamp", "bar")),  # the key
                st.sampled_from(CHAINS),
                st.booleans(),  # keep
                st.sampled_from((0.5, math.inf)),  # deadline
            ),
            st.tuples(st.just("take"), st.integers(1, 4), st.sampled_from((0.0, 1.0))),
            st.tuples(st.just("back")),
            st.tuples(st.just("late")),
        ),
        max_size=40,
    )
)
def test_each_chain_s_index_matches_the_queue_whatever_is_done_to_it(
    operations: list[tuple[object, ...]],
) -> None:
    """The outbox finds a chain's messages by an index of its own (not a scan of the queue):
    after any mix of puts (keyed or not), takes (some after deadlines), put-backs and late
    acknowledgements, it lists exactly the chain's waiting messages in the queue's order, and
    counts those sent however late."""
    outbox = Outbox(5)
    taken: list[tuple[Hashable, Pending]] = []
    for number, operation in enumerate(operations):
        match operation:
            case ("put", key, chain, keep, expires_at):
                pending = Pending("t", str(number).encode(), 1, False, expires_at, chain, keep)
                outbox.put(pending, key=key)
            case ("take", count, now):
                taken += outbox.take(count, now)
            case ("back",) if taken:
                outbox.put_back(*taken.pop())
            case ("late",) if taken:
                outbox.late(taken.pop(0)[1])
        queue = list(outbox._waiting.items())
        for chain in CHAINS[1:]:
            in_queue = [slot for slot, pending in queue if pending.chain == chain]
            assert list(outbox._chains.get(chain, {})) == in_queue
            assert outbox._keeps[chain] == sum(p.keep for _, p in queue if p.chain == chain)
