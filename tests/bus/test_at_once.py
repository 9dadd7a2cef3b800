"""A filter subscribed `at_once` (the engine's command topic): a message that comes while no
other waits for the handlers or is in them is handed to them as it is read, in paho's
callback, not on the event loop's next turn; what its handler returns finishes in a task, and
the messages after it wait for that. What a handler hands to the socket there goes out before
the callback returns, except a QoS 0 message: paho would tell it written under the lock its
callback holds, which would stop the event loop for good; it goes out once the callback has
returned."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.bus import Message
from controller.bus.bus import Bus
from controller.bus.messages import Handler
from tests.bus.relay import BrokerRelay
from tests.bus.support import (
    FAST_RETRY,
    Gated,
    eventually,
    fresh_prefix,
    publish_from_outside,
    settings_for,
)
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

LOOP_STUCK_S = 15.0
"""How long a test's event loop, run on a thread of its own, may take before it counts as
stuck (a write in paho's callback waiting for itself never returns)."""


def bus_for(broker: Mosquitto, name: str) -> Bus:
    return Bus(settings_for(broker.host, broker.port), client_id=f"at-once-{name}")


async def test_a_message_is_handled_as_it_is_read_and_what_its_handler_returns_in_a_task(
    mosquitto: Mosquitto,
) -> None:
    prefix = fresh_prefix()
    seen: list[tuple[str, asyncio.Task[Any] | None]] = []

    def command(message: Message) -> Awaitable[None]:
        seen.append(("read", asyncio.current_task()))

        async def rest() -> None:
            seen.append(("rest", asyncio.current_task()))

        return rest()

    async with bus_for(mosquitto, "tasks") as bus:
        bus.subscribe(f"{prefix}/cmd", command, at_once=True)
        bus.subscribe(f"{prefix}/device", lambda _: seen.append(("device", asyncio.current_task())))
        assert await bus.wait_connected(timeout=5)
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/cmd", "hold")
        await eventually(lambda: len(seen) == 2)
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/device", "on")
        await eventually(lambda: len(seen) == 3)
    (read, in_read), (rest, in_rest), (device, in_device) = seen
    assert (read, rest, device) == ("read", "rest", "device")
    assert in_read is None, "the command waited for a turn of the event loop in a task"
    assert in_rest is not None and in_device is not None and in_rest is not in_device
    assert in_device.get_name().endswith("handlers"), "plain filters go through the dispatcher"


@pytest.mark.parametrize("at_once", [False, True], ids=["queued", "at-once"])
async def test_handlers_take_messages_one_at_a_time_in_arrival_order(
    mosquitto: Mosquitto, at_once: bool
) -> None:
    prefix = fresh_prefix()
    events: list[str] = []

    async def slow_handler(message: Message) -> None:
        events.append(f"start {message.payload.decode()}")
        await asyncio.sleep(0.01)
        events.append(f"end {message.payload.decode()}")

    async with bus_for(mosquitto, f"order-{at_once}") as bus:
        bus.subscribe(f"{prefix}/n", slow_handler, at_once=at_once)
        assert await bus.wait_connected(timeout=5)
        for number in range(3):
            await bus.publish(f"{prefix}/n", str(number))
        await eventually(lambda: len(events) == 6)
    assert events == ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]


@pytest.mark.parametrize("at_once", [False, True], ids=["queued", "at-once"])
async def test_an_urgent_message_goes_next_after_the_one_in_the_handlers(
    mosquitto: Mosquitto, at_once: bool
) -> None:
    """docs/robustness.md#queueing: with the first note in the handlers (handed over as read
    or taken from the queue), the emergency that arrives after 100 more notes goes next."""
    prefix = fresh_prefix()
    handled: list[str] = []
    arrived: list[str] = []
    release = asyncio.Event()

    def urgent(message: Message) -> bool:
        arrived.append(message.payload.decode())
        return message.payload == b"emergency"

    async def command(message: Message) -> None:
        handled.append(message.payload.decode())
        if len(handled) == 1:
            await release.wait()  # the handlers are busy while the rest arrives

    async with bus_for(mosquitto, f"urgent-{at_once}") as bus:
        bus.subscribe(f"{prefix}/cmd", command, lane="control", urgent=urgent, at_once=at_once)
        assert await bus.wait_connected(timeout=5)
        for n in range(101):
            await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/cmd", f"note {n}")
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/cmd", "emergency")
        await eventually(lambda: len(arrived) == 102)
        assert bus.waiting == 101
        release.set()
        await eventually(lambda: len(handled) == 102)
    assert handled[:3] == ["note 0", "emergency", "note 1"]


@dataclass
class Heard:
    """What a subscriber on a thread of its own gets: the topics, and whether any came."""

    topics: list[str] = field(default_factory=list)
    any: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def heard_on_a_thread(broker: Mosquitto, topic_filter: str) -> Iterator[Heard]:
    """A client on a thread of its own, its subscription to `topic_filter` granted."""
    heard = Heard()
    subscribed = threading.Event()
    outside = paho.Client(CallbackAPIVersion.VERSION2)
    outside.on_subscribe = lambda *_args: subscribed.set()

    def on_message(_client: object, _userdata: object, message: paho.MQTTMessage) -> None:
        heard.topics.append(message.topic)
        heard.any.set()

    outside.on_message = on_message
    outside.connect(broker.host, broker.port)
    outside.loop_start()
    try:
        outside.subscribe(topic_filter, qos=1)
        assert subscribed.wait(5)
        yield heard
    finally:
        outside.loop_stop()
        outside.disconnect()


async def command_from_outside(bus: Bus, broker: Mosquitto, topic: str, handler: Handler) -> None:
    """Hand what comes on `topic` to `handler` at once; once connected, send it a command."""
    bus.subscribe(topic, handler, at_once=True)
    assert await bus.wait_connected(timeout=5)
    await publish_from_outside(broker.host, broker.port, topic, "on")


def run_with_loop_watch(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `scenario` on an event loop of its own thread; fail if the loop is stuck."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as error:  # handed to the test's thread
            failure.append(error)

    thread = threading.Thread(target=run, name="at-once loop", daemon=True)
    thread.start()
    thread.join(LOOP_STUCK_S)
    assert not thread.is_alive(), f"the event loop was stuck for {LOOP_STUCK_S} s"
    if failure:
        raise failure[0]


@pytest.mark.parametrize("qos", [1, 0])
def test_what_a_handler_hands_to_the_socket_as_the_command_is_read_goes_out(
    mosquitto: Mosquitto, qos: int
) -> None:
    """A device message (QoS 1) is on the wire before the handler returns: a subscriber on a
    thread of its own has it while the handler still blocks the loop. A QoS 0 one waits for
    paho's callback to return, and then goes (before the fix, the event loop stopped)."""
    prefix = fresh_prefix()
    on_the_wire_in_the_handler: list[bool] = []

    async def scenario() -> None:
        async with bus_for(mosquitto, f"socket-{qos}") as bus:

            def command(_message: Message) -> None:
                bus.publish_gated(Gated(f"{prefix}/lamp", "ON", qos=qos))
                assert bus.send_now()
                on_the_wire_in_the_handler.append(heard.any.wait(1.0 if qos else 0.2))

            await command_from_outside(bus, mosquitto, f"{prefix}/cmd", command)
            await eventually(heard.any.is_set)

    with heard_on_a_thread(mosquitto, f"{prefix}/lamp") as heard:
        run_with_loop_watch(scenario)
    assert on_the_wire_in_the_handler == [qos == 1]


def test_a_connection_that_breaks_as_the_command_is_read_is_replaced_not_stuck(
    mosquitto: Mosquitto,
) -> None:
    """The socket refuses the device message written in paho's callback (the broker reset the
    connection): paho would tell the disconnection under the lock its callback holds, and wait
    for itself for ever. Instead the bus reconnects and the device message still goes out."""
    prefix = fresh_prefix()

    async def scenario() -> None:
        bus = Bus(
            settings_for(mosquitto.host, mosquitto.port), client_id="at-once-reset", **FAST_RETRY
        )
        async with bus:

            def command(_message: Message) -> None:
                assert bus._sender is not None
                bus._sender._paho.socket().shutdown(socket.SHUT_WR)  # a send now fails: EPIPE
                bus.publish_gated(Gated(f"{prefix}/lamp", "ON", qos=1))
                bus.send_now()

            await command_from_outside(bus, mosquitto, f"{prefix}/cmd", command)
            await eventually(heard.any.is_set)

    with heard_on_a_thread(mosquitto, f"{prefix}/lamp") as heard:
        run_with_loop_watch(scenario)


async def test_after_a_write_as_the_command_is_read_what_paho_queues_by_itself_goes_out(
    mosquitto: Mosquitto,
) -> None:
    """A QoS 0 command (nothing for paho to acknowledge after it) whose handler wrote a device
    message in paho's callback: paho's keepalive ping, queued later on its own, is written
    (paho asks for the socket to be watched only when it thinks it is not already)."""
    prefix = fresh_prefix()
    handled = asyncio.Event()
    async with bus_for(mosquitto, "ping") as bus:

        def command(_message: Message) -> None:
            bus.publish_gated(Gated(f"{prefix}/lamp", "ON", qos=1))
            assert bus.send_now()
            handled.set()

        bus.subscribe(f"{prefix}/cmd", command, at_once=True)
        assert await bus.wait_connected(timeout=5)
        assert bus._sender is not None
        client = bus._sender._paho
        client.subscribe(f"{prefix}/cmd", qos=0)  # the command comes at QoS 0
        await eventually(lambda: not client.want_write())
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/cmd", "on")
        await asyncio.wait_for(handled.wait(), 5)
        await asyncio.sleep(0)  # paho's callback returned
        client._send_pingreq()  # as paho's `loop_misc` does when the connection is idle
        await eventually(lambda: not client.want_write())


class ClosesAfterACommand(BrokerRelay):
    """Closes the client's connection once, just after passing on the first PUBLISH to
    `topic` (a broker restarting, or taking the client id over, as a command comes)."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        super().__init__(broker)
        self._topic = topic.encode()
        self.closed = False

    def forward(self, packet: bytes, client: asyncio.StreamWriter) -> bool:
        client.write(packet)
        if not self.closed and packet[0] & 0xF0 == 0x30 and self._topic in packet:
            self.closed = True
            client.transport.close()
            return False
        return True


def test_a_broker_that_closes_the_connection_as_a_command_comes_is_reconnected_to(
    mosquitto: Mosquitto,
) -> None:
    """The broker closes the connection just after passing on a command: the first device
    message written in paho's callback gets the peer's reset, the second fails to write. Paho
    would tell the disconnection under the lock its callback holds, and wait for itself for
    ever; instead the bus reconnects and the device messages still go out."""
    prefix = fresh_prefix()

    async def scenario() -> None:
        async with ClosesAfterACommand(mosquitto, f"{prefix}/cmd") as relay:
            settings = settings_for(mosquitto.host, relay.port)
            async with Bus(settings, client_id="at-once-closed", **FAST_RETRY) as bus:

                def command(_message: Message) -> None:
                    for lamp in ("a", "b", "c"):
                        bus.publish_gated(Gated(f"{prefix}/{lamp}", "ON", qos=1))
                    bus.send_now()

                await command_from_outside(bus, mosquitto, f"{prefix}/cmd", command)
                await eventually(lambda: relay.closed)
                lamps = {f"{prefix}/{lamp}" for lamp in "abc"}
                await eventually(lambda: lamps <= set(heard.topics))

    with heard_on_a_thread(mosquitto, f"{prefix}/+") as heard:
        run_with_loop_watch(scenario)
