"""A broker that goes silent (its process stopped, its connections open): the bus notices only
when an acknowledgement does not come. A message whose deadline passed meanwhile is dropped,
not delivered late once the broker resumes; one without a deadline still goes."""

from __future__ import annotations

import asyncio
import time

import pytest

from controller.bus.bus import SLOW_ACK_S, Bus
from controller.bus.outbox import Pending
from tests.bus.relay import BrokerRelay
from tests.bus.support import FAST_RETRY, Gated, Recorder, eventually, fresh_prefix, settings_for
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

DEADLINE_S = 0.2
RESPONSE_TIMEOUT_S = 0.5
"""Longer than the deadline: once the bus notices, the deadline has passed."""


def watched(
    broker: Mosquitto, *, response_timeout_s: float
) -> tuple[str, Recorder, Bus, Bus, list[Pending]]:
    """A fresh topic, what a watcher bus receives on it, the watcher, the bus under test, and
    what that bus tells `on_lost`."""
    topic = f"{fresh_prefix()}/silent"
    received = Recorder()
    settings = settings_for(broker.host, broker.port)
    watcher = Bus(settings, client_id="silent-drop-watcher")
    watcher.subscribe(topic, received)
    bus = Bus(
        settings,
        client_id="silent-drop-publisher",
        response_timeout_s=response_timeout_s,
        **FAST_RETRY,
    )
    lost: list[Pending] = []
    bus.on_lost(lost.extend)
    return topic, received, watcher, bus, lost


async def test_a_message_past_its_deadline_is_not_sent_once_a_silent_broker_resumes(
    private_mosquitto: Mosquitto,
) -> None:
    broker = private_mosquitto
    topic, received, watcher, bus, _ = watched(broker, response_timeout_s=RESPONSE_TIMEOUT_S)
    async with watcher, bus:
        assert await watcher.wait_connected(5) and await bus.wait_connected(5)
        await bus.publish(topic, "before", expires_s=DEADLINE_S)
        await eventually(lambda: received.payloads == ["before"])
        broker.pause()
        try:
            await bus.publish(topic, "in flight", expires_s=DEADLINE_S)
            await eventually(lambda: not bus.connected)  # its acknowledgement did not come
            await bus.publish(topic, "queued", expires_s=DEADLINE_S)
            await bus.publish(topic, "no deadline")
            queued_at = time.monotonic()
            await eventually(lambda: time.monotonic() > queued_at + DEADLINE_S)
        finally:
            broker.resume()
        await eventually(lambda: "no deadline" in received.payloads)
        await bus.publish(topic, "after", expires_s=DEADLINE_S)
        await eventually(lambda: "after" in received.payloads)
    assert "queued" not in received.payloads
    # Written before the bus noticed: the broker's host holds it, the broker may pass it on
    # as it resumes; the bus does not send it again.
    assert received.payloads.count("in flight") <= 1
    assert bus.expired == 2


async def test_a_broker_slow_to_acknowledge_is_handed_nothing_more_and_the_late_are_told(
    private_mosquitto: Mosquitto,
) -> None:
    """`send_now` does not add to a batch the broker has not acknowledged within SLOW_ACK_S:
    what comes meanwhile waits in the queue, and what passes its deadline there is dropped
    and told to `on_lost`, not delivered as the broker resumes."""
    broker = private_mosquitto
    topic, received, watcher, bus, lost = watched(broker, response_timeout_s=30.0)
    async with watcher, bus:
        assert await watcher.wait_connected(5) and await bus.wait_connected(5)
        broker.pause()
        try:
            await bus.publish(topic, "written", expires_s=DEADLINE_S)
            written_at = time.monotonic()
            await eventually(lambda: time.monotonic() > written_at + SLOW_ACK_S)
            await bus.publish(topic, "held", expires_s=DEADLINE_S)
            held_at = time.monotonic()
            assert not bus.send_now()
            await eventually(lambda: time.monotonic() > held_at + DEADLINE_S)
        finally:
            broker.resume()
        await bus.publish(topic, "after")
        await eventually(lambda: "after" in received.payloads)
    assert received.payloads == ["written", "after"]
    assert [message.payload for message in lost] == [b"held"]


def Step(topic: str, payload: str) -> Gated:  # noqa: N802 - stands for a kind of message
    """A headset's volume step as the engine's output path lets it out."""
    return Gated(topic, payload, expires_s=0.5, chain="headset")


async def test_a_chain_s_message_a_stalled_broker_took_late_drops_the_rest_of_its_chain(
    private_mosquitto: Mosquitto,
) -> None:
    """A ramp's steps every 0.25 s; the broker stalls as the first is written and resumes
    1.15 s later. What its host took before the batch turned slow (0 to 2) reaches the
    headset only then, 1.15 s late; the steps queued after (3, 4) are still within their
    0.5 s and would follow at once, the ramp of a second arriving together. As the broker
    acknowledges the first step after its deadline and over SLOW_ACK_S after it was
    written, the rest of the chain is dropped and told to `on_lost`."""
    broker = private_mosquitto
    topic, received, watcher, bus, lost = watched(broker, response_timeout_s=30.0)
    async with watcher, bus:
        assert await watcher.wait_connected(5) and await bus.wait_connected(5)
        broker.pause()
        try:
            start = time.monotonic()
            for step, at in enumerate((0.0, 0.25, 0.45, 0.75, 1.0)):
                await eventually(lambda at=at: time.monotonic() > start + at)
                bus.publish_gated(Step(topic, str(step)))
                assert bus.send_now() == (at < SLOW_ACK_S)
            await eventually(lambda: time.monotonic() > start + 1.15)
        finally:
            broker.resume()
        await bus.publish(topic, "after")
        await eventually(lambda: "after" in received.payloads)
    assert received.payloads == ["0", "1", "2", "after"]
    assert [message.payload for message in lost if message.chain] == [b"0", b"3", b"4"]


async def test_a_light_bar_s_start_a_stalled_broker_took_late_after_its_stop_is_told(
    private_mosquitto: Mosquitto,
) -> None:
    """A light bar's stop (sent however late, `keep`) and then a start, written in one batch
    as the broker stalls; it resumes 1.15 s later and acknowledges both late. The stop went
    and is no loss; the start, held up on the way, may have reached the bar only now, and is
    told to `on_lost` (the engine stops its set). The stop's late acknowledgement must not
    count as the chain's one report of the batch."""
    broker = private_mosquitto
    topic, received, watcher, bus, lost = watched(broker, response_timeout_s=30.0)
    start = '{"running":true}'
    async with watcher, bus:
        assert await watcher.wait_connected(5) and await bus.wait_connected(5)
        broker.pause()
        try:
            began = time.monotonic()
            stop = Gated(topic, '{"running":false}', expires_s=0.5, chain="bar", keep=True)
            bus.publish_gated(stop)
            assert bus.send_now()
            await eventually(lambda: time.monotonic() > began + 0.1)
            bus.publish_gated(Gated(topic, start, expires_s=0.5, chain="bar"))
            assert bus.send_now()
            await eventually(lambda: time.monotonic() > began + 1.15)
        finally:
            broker.resume()
        await bus.publish(topic, "after")
        await eventually(lambda: "after" in received.payloads)
    assert received.payloads == ['{"running":false}', start, "after"]
    assert [message.payload for message in lost] == [start.encode()]


class SlowAcknowledgements(BrokerRelay):
    """Passes the broker's packets to the client `delay_s` late: a broker slow to answer."""

    delay_s = 0.4

    def forward(self, packet: bytes, client: asyncio.StreamWriter) -> bool:
        asyncio.get_running_loop().call_later(self.delay_s, client.write, packet)
        return True


async def test_a_ramp_through_a_broker_slow_to_acknowledge_goes_out_whole(
    private_mosquitto: Mosquitto,
) -> None:
    """The broker passes each step on at once but acknowledges it 0.4 s later: the steps
    that wait meanwhile go out within their 0.5 s, and none counts as held back."""
    broker = private_mosquitto
    topic = f"{fresh_prefix()}/headset"
    received = Recorder()
    watcher = Bus(settings_for(broker.host, broker.port), client_id="slow-ack-ramp-watcher")
    watcher.subscribe(topic, received)
    async with SlowAcknowledgements(broker) as relay:
        bus = Bus(settings_for(broker.host, relay.port), client_id="slow-ack-ramp-publisher")
        lost: list[Pending] = []
        bus.on_lost(lost.extend)
        async with watcher, bus:
            assert await watcher.wait_connected(5) and await bus.wait_connected(5)
            start = time.monotonic()
            for step in range(12):
                await eventually(lambda step=step: time.monotonic() > start + step * 0.25)
                bus.publish_gated(Step(topic, str(step)))
                bus.send_now()
            await eventually(lambda: len(received.payloads) == 12)
    assert received.payloads == [str(step) for step in range(12)]
    assert lost == []


async def test_a_batch_the_broker_answers_step_by_step_is_never_slow(
    private_mosquitto: Mosquitto,
) -> None:
    """Each message acknowledged 0.3 s after it was written: a batch `send_now` keeps
    adding to waits for acknowledgements longer than SLOW_ACK_S in all, yet the broker is
    not slow, and what comes next (an emergency's messages) goes to the socket at once."""
    broker = private_mosquitto
    topic = f"{fresh_prefix()}/steps"
    async with SlowAcknowledgements(broker) as relay:
        relay.delay_s = 0.3
        bus = Bus(settings_for(broker.host, relay.port), client_id="answered-step-by-step")
        async with bus:
            assert await bus.wait_connected(5)
            start = time.monotonic()
            for step, at in enumerate((0.0, 0.2, 0.4, 0.6, 0.8)):
                await eventually(lambda at=at: time.monotonic() > start + at)
                await bus.publish(topic, str(step))
                assert bus.send_now(), f"step {step} at {time.monotonic() - start:.2f} s"
