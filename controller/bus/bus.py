"""The process's MQTT connection: reconnects, re-subscribes, queues while away, routes by filter.

A second, read-only connection (`intake`) can take the subscriptions a flood may come on (a
room's device reports), so that such a flood never stands in front of a command."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import math
import random
import select
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiomqtt
from paho.mqtt.client import MQTTMessage
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from controller.bus.backoff import retry_delay
from controller.bus.credentials import ConnectionParameters, connection_parameters
from controller.bus.inbox import URGENT, Dropped, Inbox
from controller.bus.messages import (
    ConnectionChange,
    GatedDeviceMessage,
    Handler,
    Message,
    ReportsChange,
    Will,
)
from controller.bus.outbox import Outbox, Pending
from controller.bus.routing import Routes
from controller.bus.sender import Sender
from controller.bus.topics import check_topic
from controller.cancelling import cancel_and_wait
from controller.config.settings import BrokerSettings

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
RESPONSE_TIMEOUT_S = 10.0
"""How long to wait for the broker to answer a connect, subscribe or publish."""
EXIT_FLUSH_S = 2.0
"""On exit, how long the bus may spend delivering what is still queued."""
SUBSCRIBE_QOS = 1
IN_FLIGHT = 500
"""Messages sent before waiting for their acknowledgements (paho's in-flight window too): a
room's whole fan-out (an emergency to 200 lights) goes to the socket in one go."""
SLOW_ACK_S = 0.5
"""A batch with a message the broker has not acknowledged within this is not added to
(`send_now`): the broker is slow or silent, and what was handed to the socket meanwhile
would reach it, and the devices, whenever it resumes. Queued instead, a message waits for
the broker's answer, or for the connection to be found lost, and is dropped once its
deadline passes (a volume step is right only near its time: docs/safety.md#volume-ramp)."""
INTAKE_WAIT_S = 1.0
"""On (re)connecting, how long the first connection waits for the intake's subscriptions
before it says it is up: the engine then asks its devices for their state, and the answers
come on the intake."""
INTAKE_TOLD_AFTER_S = 5.0
"""The intake connection's failure is told once it has lasted this long: a broker restarting
brings both connections back, each at its own pace, and the first one's outage says it all."""
READ_BATCH = 64
"""Packets read from the socket at once while more are waiting (see `_read_in_batches`)."""
YIELD_EVERY = 16
"""The handlers give the event loop a turn after this many messages in a row (so the
engine's tick and the receiver, which puts an urgent message ahead, are never starved)."""
DEFAULT_LANE = "default"

Urgent = Callable[[Message], bool]
"""Judges on arrival whether a message goes ahead of everything queued."""


class Bus:
    """One connection to the MQTT broker, kept up for as long as the `async with` block runs.

    Connection attempts repeat with a jittered backoff (`retry_first_s` doubling up to
    `retry_max_s`); an attempt or a publish the broker does not answer within
    `response_timeout_s` counts as a lost connection. On every connect the bus subscribes to
    every registered filter, publishes `birth`, then sends what was published while the broker
    was away, in order; a message published with `expires_s` that has not gone to the socket
    within those seconds is dropped instead of sent late (`controller.bus.outbox`, `expired`).
    The broker publishes `will` if the process vanishes; on a clean exit the bus publishes it
    itself.
    Incoming messages go to the handlers whose filter matches, one at a time, through the
    bounded `Inbox`: each subscription's lane in arrival order, the lanes in turn, and a
    message its subscription's `urgent` judges urgent ahead of all. A message larger than
    `max_payload_bytes`, or one a full lane cannot take, is dropped on arrival and handed to
    the `on_dropped` callbacks; a message no filter matches is dropped. A handler that
    raises is logged and skipped.
    The bus connects to `settings.host:port` whatever `settings.mode` says; the caller starts
    the embedded broker first and passes its address.
    Topics in `device_topics` (a room's device command topics) take only messages that passed
    the engine's output path (`publish_gated`); `publish` refuses them.
    With `intake` (a login, which may be the same), filters subscribed with `intake=True` are
    read on a second connection of their own (see `_Intake`); their messages join the same
    inbox. Everything else, and every publish, stays on the first. While the intake has been
    down for `INTAKE_TOLD_AFTER_S` (a login the broker refuses, say), the first connection
    reads its filters too, until it is back; each message is taken from one of the two only
    (`_arrived`), and the `on_intake` callbacks are told which.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        client_id: str,
        root: Path | None = None,
        will: Will | None = None,
        birth: Will | None = None,
        max_queue: int = 1000,
        retry_first_s: float = RETRY_FIRST_S,
        retry_max_s: float = RETRY_MAX_S,
        response_timeout_s: float = RESPONSE_TIMEOUT_S,
        device_topics: frozenset[str] = frozenset(),
        max_payload_bytes: int | None = None,
        intake: BrokerSettings | None = None,
    ) -> None:
        """Prepare the connection; files named in `settings` (and `intake`) are read now
        (BusConfigError)."""
        for status in (will, birth):
            if status is not None:
                check_topic(status.topic)
                _check_qos(status.qos)
        self._parameters = connection_parameters(settings, root or Path.cwd())
        self._client_id = client_id
        self._device_topics = device_topics
        self._will = will
        self._birth = birth
        self._retry_first_s = retry_first_s
        self._retry_max_s = retry_max_s
        self._response_timeout_s = response_timeout_s
        self._outbox = Outbox(max_queue)
        self._unreported_drops = 0
        self._routes = Routes()
        self._unsubscribed: list[str] = []
        self._unsubscribing: list[str] = []
        """The intake's filters the first connection read while it was down, to give back."""
        self._connection_callbacks: list[Callable[[ConnectionChange], None]] = []
        self._max_payload_bytes = max_payload_bytes
        self._dropped_callbacks: list[Dropped] = []
        self._lost_callbacks: list[Callable[[list[Pending]], None]] = []
        self._inbox = Inbox(on_dropped=self._notify_dropped)
        self._arrivals = 0
        """Messages received so far (`Message.arrival`)."""
        self._lanes: dict[str, tuple[str, Urgent | None]] = {}
        """Topic filter → its lane and its judge of urgent messages."""
        self._at_once: set[str] = set()
        """The filters whose messages go to their handlers as they are read when nothing
        else waits for or is in the handlers (`subscribe`)."""
        self._in_callback = False
        """Such a message is in its handlers, in paho's callback: nothing is written meanwhile."""
        self._write_due = False
        """What they handed to the socket is written once the callback has returned."""
        self._rest: asyncio.Task[None] | None = None
        """What finishes the handling of the last message handed over as it was read."""
        self._connected = asyncio.Event()
        self._sent = asyncio.Event()
        """Set whenever a batch went out or the connection was lost (see `room_to_publish`)."""
        self._wake = asyncio.Event()
        self._down_since: float | None = None
        self._last_failure: str | None = None
        self._failed_attempts = 0
        self._closing = False
        """Set as the bus closes: what arrived is still handled, without pausing."""
        self._stopping = False
        self._flush_until = math.inf
        self._tasks: tuple[asyncio.Task[None], asyncio.Task[None]] | None = None
        self._sender: Sender | None = None
        """Set while connected: hands messages to the socket (`send_now`, `_send_oldest`)."""
        self._in_flight: _Batch | None = None
        """The batch handed to the socket that waits for the broker's acknowledgements."""
        self._late_chains: set[str] = set()
        """The chains of which the in-flight batch had a message acknowledged after its
        deadline (`_acknowledged`)."""
        self._intake = (
            None
            if intake is None
            else _Intake(
                connection_parameters(intake, root or Path.cwd()),
                f"{client_id}-intake",
                functools.partial(self._arrived, on_intake=True),
                retry_first_s=retry_first_s,
                retry_max_s=retry_max_s,
                response_timeout_s=response_timeout_s,
            )
        )
        self._intake_task: asyncio.Task[None] | None = None
        self._intake_failure: str | None = None
        """Why the intake has been down a while: the first connection reads its filters."""
        self._reading_for_intake = False
        """This connection of the first has subscribed to the intake's filters in its place."""
        self._subscribing_for_intake = False
        """Its SUBSCRIBE to them is in flight: what comes behind the SUBACK, read before the
        sender looks at it (a retained report), comes in on it all the same."""
        self._reports_heard = False
        """One of their messages has come in on it since."""
        self._reports_callbacks: list[Callable[[ReportsChange], None]] = []
        self._reports_told: ReportsChange | None = None
        if self._intake is not None:
            self._intake.callbacks.append(self._intake_told)

    @property
    def connected(self) -> bool:
        """Whether the broker accepted the connection and the subscriptions are in place."""
        return self._connected.is_set()

    @property
    def waiting(self) -> int:
        """How many received messages wait for their handlers."""
        return len(self._inbox)

    @property
    def dropped(self) -> int:
        """How many queued messages were dropped because the queue was full."""
        return self._outbox.dropped

    @property
    def expired(self) -> int:
        """How many queued messages were dropped because they could not go out in time."""
        return self._outbox.expired

    def has_room_to_publish(self) -> bool:
        """Whether `room_to_publish` would return at once."""
        return not self._connected.is_set() or len(self._outbox) <= self._outbox.capacity // 2

    async def room_to_publish(self) -> None:
        """Wait while the broker is connected and the outgoing queue is more than half full.

        A handler of a flood of requests awaits this before each, so the flood is slowed to
        what the broker takes instead of pushing older replies out of the bounded queue.
        """
        while not self.has_room_to_publish():
            self._sent.clear()
            await self._sent.wait()

    async def wait_connected(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a connection; say whether there is one."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def subscribe(
        self,
        topic_filter: str,
        handler: Handler,
        *,
        lane: str = DEFAULT_LANE,
        urgent: Urgent | None = None,
        intake: bool = False,
        report: bool = True,
        at_once: bool = False,
    ) -> None:
        """Send messages matching `topic_filter` to `handler`, now and after every reconnect.

        The filter's first subscription sets its `lane` and `urgent`, and with `intake` has it
        read on the intake connection, when the bus has one (see the class). `report=False`
        marks such a filter as no device report's, only kept off the first connection (a topic
        anyone may flood): one of its messages coming in on the first connection in the
        intake's place does not show that the reports come in there. With `at_once`,
        a message that comes while no other waits for the handlers or is in them is handed to
        them as soon as it is read (before the event loop's next turn, which costs a command
        about 0.1 ms): a handler then does what must not wait before it returns, and returns
        an awaitable for the rest; the next message waits until that is done.
        """
        if lane == URGENT:
            raise ValueError(f"{URGENT!r} is not a lane to subscribe in; pass `urgent` instead")
        self._lanes.setdefault(topic_filter, (lane, urgent))
        if at_once and not intake:
            self._at_once.add(topic_filter)
        if not self._routes.add(topic_filter, handler):
            return
        if intake and self._intake is not None:
            self._intake.add(topic_filter, report=report)
            if self._intake_failure is None:
                return
        self._unsubscribed.append(topic_filter)
        self._wake.set()

    def on_connection(self, callback: Callable[[ConnectionChange], None]) -> None:
        """Call `callback` when the bus connects, loses or cannot reach the broker, or closes."""
        self._connection_callbacks.append(callback)

    def on_dropped(self, callback: Dropped) -> None:
        """Call `callback` with each received message dropped unhandled, and why."""
        self._dropped_callbacks.append(callback)

    def on_intake(self, callback: Callable[[ReportsChange], None]) -> None:
        """Call `callback` each time the intake connection is up and subscribed (failure
        None; once flapping, only once up for `INTAKE_TOLD_AFTER_S`, see `_Intake.callbacks`);
        once it has been down for `INTAKE_TOLD_AFTER_S` and the first connection has
        subscribed to its filters in its place (its reason); and when the first of their
        messages comes in there (`read_by_first`). Told again for each connection of the
        first meanwhile; never when the bus has none."""
        if self._intake is not None:
            self._reports_callbacks.append(callback)

    def _intake_told(self, failure: str | None) -> None:
        """The intake is up (None), or has been down a while: the first connection reads its
        filters until it is back, then gives them back (what either reads of them meanwhile
        is taken from the one that reads them, `_arrived`)."""
        assert self._intake is not None
        was, self._intake_failure = self._intake_failure, failure
        filters = self._intake.filters
        if failure is None and was is not None:
            self._unsubscribed = [f for f in self._unsubscribed if f not in filters]
            self._unsubscribing = list(filters) if self._reading_for_intake else []
            self._reading_for_intake = self._reports_heard = False
            self._subscribing_for_intake = False
            self._wake.set()
        elif failure is not None and was is None:
            self._unsubscribing = []
            self._unsubscribed += [f for f in filters if f not in self._unsubscribed]
            self._wake.set()
        if failure is None:
            self._tell_reports(ReportsChange(None))
        # a failure is told once the first connection has subscribed in the intake's place
        # (`_subscribe_pending`); while it is down too, the loss of the broker says it all

    def _tell_reports(self, change: ReportsChange) -> None:
        if change == self._reports_told and change.failure is not None:
            return
        self._reports_told = change
        for callback in self._reports_callbacks:
            try:
                callback(change)
            except Exception:
                log.exception("intake callback %s failed", _name(callback))

    def on_lost(self, callback: Callable[[list[Pending]], None]) -> None:
        """Call `callback` with the messages published here that were dropped unsent (the
        queue full, a deadline passed, or an earlier message of their chain dropped or
        late), as they are dropped: before any later message of theirs is handed to the
        socket. A message of a chain the broker acknowledged only after its deadline is
        told too, with the later ones of its chain it took along (`_acknowledged`)."""
        self._lost_callbacks.append(callback)

    async def publish(
        self,
        topic: str,
        payload: str | bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        key: str | None = None,
        expires_s: float | None = None,
    ) -> None:
        """Queue a message; it goes out in the background now, or after the broker comes back.

        A `key` (e.g. a device id) makes this message replace any queued one with the same key.
        A message in flight when the connection drops is sent again (at least once), unless
        `expires_s` seconds have passed since this call: then it is dropped, as is a message
        that waited that long in the queue.
        Raises ValueError for a topic with wildcards or a qos other than 0, 1, 2.
        """
        if topic in self._device_topics:
            raise ValueError(f"{topic} is a device topic: only the output path publishes there")
        self._queue(topic, payload, qos=qos, retain=retain, key=key, expires_s=expires_s)

    def publish_gated(self, message: GatedDeviceMessage, *, expires_s: float | None = None) -> None:
        """Queue a device message that passed the output path (latest per key wins; dropped
        when it cannot go out within `expires_s` or its own `expires_s`, whichever is
        sooner, as for `publish`; dropped with an earlier message of its `chain`)."""
        if not message.passed_the_gate():
            raise ValueError(f"a message for {message.topic} did not pass the output path")
        deadlines = [s for s in (expires_s, message.expires_s) if s is not None]
        self._queue(
            message.topic,
            message.payload,
            qos=message.qos,
            retain=message.retain,
            key=message.key,
            expires_s=min(deadlines, default=None),
            chain=message.chain,
            keep=message.keep,
        )

    def send_now(self) -> bool:
        """Hand what is queued to the socket on this turn of the event loop, not the sender's
        next one; a batch still waiting for its acknowledgements takes it in (a command's
        device messages do not wait a broker's round trip behind the state or a reply),
        unless the broker has been slow to acknowledge it (`SLOW_ACK_S`): then what is
        queued waits for the sender's next batch, where a message's deadline still counts.
        The engine calls this once a command's device messages are queued. Whether anything
        was handed to the socket."""
        sender = self._sender
        if sender is None or self._unsubscribed:
            return False
        if self._outbox and time.monotonic() < self._flush_until:
            with contextlib.suppress(aiomqtt.MqttError):  # the sender meets the failure itself
                in_flight = self._in_flight
                if in_flight is None:
                    self._in_flight = self._start_batch(sender)
                    return True
                if len(in_flight) < IN_FLIGHT and not in_flight.slow():  # else the next batch
                    in_flight.extend(self._start_batch(sender, IN_FLIGHT - len(in_flight)))
                    return True
        return False

    async def pause_unless_busy(self, seconds: float) -> None:
        """Wait up to `seconds` for a message to arrive for the handlers; not at all when one
        is waiting already. The process leaves the CPU to others meanwhile (the broker passing
        on what was just written) and still reads what arrives: an emergency ends the wait, and
        so does the bus closing."""
        if not self._closing:
            await self._inbox.wait_for_message(seconds)

    def _queue(
        self,
        topic: str,
        payload: str | bytes,
        *,
        qos: int,
        retain: bool,
        key: str | None,
        expires_s: float | None,
        chain: str | None = None,
        keep: bool = False,
    ) -> None:
        check_topic(topic)
        _check_qos(qos)
        if self._stopping:
            raise RuntimeError(f"the bus is closed; cannot publish to {topic}")
        data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        expires_at = math.inf if expires_s is None else time.monotonic() + expires_s
        message = Pending(topic, data, qos, retain, expires_at, chain, keep)
        self._report_drop(self._outbox.put(message, key=key))
        self._wake.set()

    async def __aenter__(self) -> Bus:
        if self._tasks is not None:
            raise RuntimeError("a Bus can be entered only once")
        self._tasks = (
            asyncio.create_task(self._connect_forever(), name=f"bus {self._client_id}"),
            asyncio.create_task(self._dispatch_forever(), name=f"bus {self._client_id} handlers"),
        )
        if self._intake is not None:
            self._intake_task = asyncio.create_task(
                self._intake.connect_forever(), name=f"bus {self._client_id} intake"
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._tasks is not None
        connecting, dispatching = self._tasks
        self._closing = True
        if self._intake_task is not None:  # nothing more comes in while the bus closes
            await cancel_and_wait(self._intake_task)
        self._inbox.end_wait()  # a handler pausing goes on at once
        if not self._inbox.all_done():  # what arrived is handled while it can still publish
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._inbox.join(), EXIT_FLUSH_S)
        self._stopping = True
        self._flush_until = time.monotonic() + EXIT_FLUSH_S
        self._wake.set()
        if self._connected.is_set():
            await asyncio.wait({connecting}, timeout=EXIT_FLUSH_S + self._response_timeout_s)
        await cancel_and_wait(connecting)
        if self._outbox:
            log.warning(
                "%d queued message(s) were not delivered before the bus closed", len(self._outbox)
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._inbox.join(), EXIT_FLUSH_S)
        await cancel_and_wait(dispatching)

    # ------------------------------------------------------------------ connection

    async def _connect_forever(self) -> None:
        while True:
            try:
                await self._connect_once()
                return
            except aiomqtt.MqttError as error:
                self._lost(_describe(error))
            except Exception as error:
                log.exception("the bus's connection failed unexpectedly; reconnecting")
                self._lost(f"unexpected {type(error).__name__}: {error}")
            if self._stopping:
                return
            await asyncio.sleep(
                retry_delay(
                    self._failed_attempts,
                    first_s=self._retry_first_s,
                    max_s=self._retry_max_s,
                    jitter=random.random(),
                )
            )
            self._failed_attempts += 1

    async def _connect_once(self) -> None:
        """One connection: returns after a clean stop, raises MqttError when it fails or ends."""
        receiving: asyncio.Task[None] | None = None
        try:
            client = self._new_client()
            # Before connecting: a message read in the same packet batch as the CONNACK (a
            # queued message of a kept session, a retained one the broker sends at once) would
            # otherwise land in aiomqtt's queue, which `_receive` empties without looking.
            _deliver_directly(client, self._arrived)
            _read_in_batches(client, after_each=self._write_after_read)
            _refused_when_closed_unanswered(client)
            async with client:
                receiving = asyncio.create_task(_receive(client))
                await self._serve(client, receiving)
        finally:
            if receiving is not None:
                await self._finish_receiving(receiving)
            # what it read is handed over: the intake's filters are not read here any more,
            # and what the intake reads of them is its own to hand over meanwhile (a retained
            # report, back before this connection is, was dropped as if read here, then lost)
            self._reading_for_intake = self._subscribing_for_intake = False
            self._reports_heard = False

    def _new_client(self) -> aiomqtt.Client:
        return _new_client(self._parameters, self._client_id, self._will, self._response_timeout_s)

    async def _serve(self, client: aiomqtt.Client, receiving: asyncio.Task[None]) -> None:
        _send_without_delay(client)
        client.pending_calls_threshold = IN_FLIGHT + 1  # a full window is no cause for a warning
        sending = asyncio.create_task(self._send(client))
        try:
            await asyncio.wait({receiving, sending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(sending)
        if sending.cancelled():
            receiving.result()  # the connection ended: raises its MqttError
        sending.result()  # a clean stop returns; a failed publish raises
        self._connected.clear()
        self._notify(ConnectionChange(connected=False, reason="bus closed", outage_s=None))

    async def _finish_receiving(self, receiving: asyncio.Task[None]) -> None:
        # The receiver ends by itself once the client has disconnected; letting it do so
        # collects aiomqtt's disconnection error (cancelling it leaves that error unretrieved).
        await asyncio.wait({receiving}, timeout=self._response_timeout_s)
        await cancel_and_wait(receiving)

    def _came_up(self) -> None:
        outage_s = None if self._down_since is None else time.monotonic() - self._down_since
        self._down_since = None
        self._last_failure = None
        self._failed_attempts = 0
        self._connected.set()
        parameters = self._parameters
        if outage_s is None:
            log.info("connected to the broker at %s:%d", parameters.host, parameters.port)
        else:
            log.info(
                "reconnected to the broker at %s:%d after %.1f s",
                parameters.host,
                parameters.port,
                outage_s,
            )
        if self._unreported_drops:
            log.warning(
                "%d message(s) were dropped while the broker was away (queue limit %d)",
                self._unreported_drops,
                self._outbox.capacity,
            )
            self._unreported_drops = 0
        self._notify(ConnectionChange(connected=True, reason=None, outage_s=outage_s))

    def _lost(self, reason: str) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._sent.set()
        address = f"{self._parameters.host}:{self._parameters.port}"
        if self._down_since is None:
            self._down_since = time.monotonic()
            if was_connected:
                log.warning("lost the broker at %s: %s; reconnecting", address, reason)
            else:
                log.warning("cannot connect to the broker at %s: %s; retrying", address, reason)
            self._notify(ConnectionChange(connected=False, reason=reason, outage_s=None))
        elif reason != self._last_failure:
            log.warning("still no broker at %s: %s; retrying", address, reason)
        else:
            log.debug("still no broker at %s: %s", address, reason)
        self._last_failure = reason

    def _notify(self, change: ConnectionChange) -> None:
        for callback in self._connection_callbacks:
            try:
                callback(change)
            except Exception:
                log.exception("connection callback %s failed", _name(callback))

    # ------------------------------------------------------------------ sending

    async def _send(self, client: aiomqtt.Client) -> None:
        """Subscribe, publish the birth, then send what is queued until the bus stops."""
        sender = Sender(client)
        on_intake = set() if self._intake is None else set(self._intake.filters)
        self._unsubscribed = [f for f in self._routes.filters() if f not in on_intake]
        self._unsubscribing = []
        self._reading_for_intake = self._reports_heard = False
        self._subscribing_for_intake = False
        if self._unsubscribed:
            await self._subscribe_pending(client)
        if self._intake is not None:  # a broker back for one is likely back for both
            self._intake.retry_now()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._intake.up.wait(), INTAKE_WAIT_S)
            # only then, if it is still down a while, are its filters read here in its place:
            # else what the broker retained of them comes on both subscriptions, twice
            if self._intake_failure is not None:
                missing = [f for f in self._intake.filters if f not in self._unsubscribed]
                self._unsubscribed += missing
            if self._unsubscribed:
                await self._subscribe_pending(client)
        if self._birth is not None:
            await _publish_status(client, self._birth)
        self._came_up()
        self._sender = sender
        try:
            while True:
                if self._unsubscribed:
                    await self._subscribe_pending(client)
                elif self._unsubscribing:
                    filters, self._unsubscribing = self._unsubscribing, []
                    await client.unsubscribe(filters)
                elif self._in_flight or (self._outbox and time.monotonic() < self._flush_until):
                    await self._send_oldest(sender)
                elif self._stopping:
                    if self._will is not None:  # a will only fires on an abnormal disconnection
                        await _publish_status(client, self._will)
                    return
                else:
                    self._wake.clear()
                    await self._wake.wait()
        finally:
            self._sender = None
            if self._in_flight is not None:  # started by `send_now`, never awaited
                self._put_back(self._in_flight.unacknowledged())
                self._in_flight = None

    async def _subscribe_pending(self, client: aiomqtt.Client) -> None:
        filters = list(self._unsubscribed)
        if self._intake is not None and self._intake_failure is not None:
            self._subscribing_for_intake = self._intake.reads_any(filters)
        await _subscribe(client, filters)
        self._subscribing_for_intake = False
        self._unsubscribed = [f for f in self._unsubscribed if f not in filters]
        intake, failure = self._intake, self._intake_failure
        reports = [] if intake is None else [f for f in filters if f in intake.filters]
        if not reports:
            return
        if failure is None:
            # the intake came back while this SUBSCRIBE was in flight: give its filters back
            # (else this connection reads a device's flood, unsaid, until it reconnects)
            self._unsubscribing += [f for f in reports if f not in self._unsubscribing]
        elif not self._reading_for_intake:
            # subscribed in the intake's place; whether the broker lets this login read them
            # (Mosquitto grants a subscription its ACL then delivers nothing of) shows once one
            # comes in (`_arrived`)
            self._reading_for_intake = True
            self._tell_reports(ReportsChange(failure))
            if self._reports_heard:  # one came behind the SUBACK, before this looked
                self._tell_reports(ReportsChange(failure, read_by_first=True))

    def _start_batch(self, sender: Sender, room: int = IN_FLIGHT) -> _Batch:
        """Hand up to `room` of the oldest messages to the socket, in order, without waiting
        for each acknowledgement before the next (a scene to 200 lights is not 200 round
        trips)."""
        expired = self._outbox.expired
        batch = self._outbox.take(room, time.monotonic())
        if self._outbox.expired > expired:
            log.warning(
                "dropped %d queued message(s) that could not go out in time",
                self._outbox.expired - expired,
            )
            self._report_lost()
        written = time.monotonic()
        # in paho's callback, a QoS 0 message written would wait for itself (see
        # `_handle_at_once`): then the batch waits for the callback to return
        write_later = self._in_callback and (
            sender.waiting() or any(message.qos == 0 for _, message in batch)
        )
        try:
            acknowledged = [
                sender.publish(message, self._watch(message, written)) for _, message in batch
            ]
            if write_later:
                self._write_due = True
            elif self._in_callback:
                if not sender.write_in_callback():  # the rest, or the failure, once it returned
                    self._write_due = True
            else:
                sender.write()
        except BaseException:
            self._put_back(batch)
            raise
        return _Batch(batch, acknowledged, [written] * len(batch))

    def _watch(self, message: Pending, written: float) -> Callable[[], None] | None:
        """What to do as the broker acknowledges `message`: for a chain's message with a
        deadline, see whether it was held (`_acknowledged`)."""
        if message.chain is None or message.expires_at == math.inf:
            return None
        return functools.partial(self._acknowledged, message, written)

    def _acknowledged(self, message: Pending, written: float) -> None:
        """A chain's message the broker acknowledged after its deadline, and more than
        `SLOW_ACK_S` after it was written, may have reached the devices just now: a broker
        that stalled passes on what its host took meanwhile as it resumes. The later ones of
        its chain still waiting, within their own deadlines, would follow at once (a ramp of
        a second arriving together), so they are dropped, and the loss is told, once per
        chain and batch, before anything later is handed to the socket. A broker merely slow
        to acknowledge, by less than `SLOW_ACK_S`, is taken to have passed it on in time."""
        chain = message.chain
        assert chain is not None  # only a chain's messages are watched
        now = time.monotonic()
        held = now > message.expires_at and now - written > SLOW_ACK_S
        if held and message.keep:  # it went, no loss: a later one in flight may still be
            expired = self._outbox.expired
            self._outbox.late(message)
            if self._outbox.expired > expired:
                self._report_lost()
        elif held and chain not in self._late_chains:
            self._late_chains.add(chain)
            self._outbox.late(message)
            self._report_lost()

    async def _send_oldest(self, sender: Sender) -> None:
        """Send a batch (the one `send_now` started, or the oldest messages) and wait for the
        broker to acknowledge it.

        What is not acknowledged when the connection fails goes back to the front, in order,
        to be sent again (at least once); what the broker acknowledged is not sent again (a
        BLS set's start taken twice would start the set again).
        """
        batch = self._in_flight = self._in_flight or self._start_batch(sender)
        try:
            waiting = await batch.wait(self._response_timeout_s)
        except BaseException:
            self._put_back(batch.unacknowledged())
            raise
        finally:
            self._in_flight = None
            self._late_chains.clear()
        self._sent.set()
        if waiting:
            sender.forget(waiting)
            self._put_back(batch.unacknowledged())
            raise aiomqtt.MqttError(
                f"the broker did not acknowledge {len(waiting)} message(s) "
                f"within {self._response_timeout_s:g} s"
            )

    def _put_back(self, batch: list[tuple[Hashable, Pending]]) -> None:
        for slot, message in reversed(batch):
            self._report_drop(self._outbox.put_back(slot, message))

    def _report_drop(self, dropped: Pending | None) -> None:
        if dropped is None:
            return
        self._report_lost()
        if self._unreported_drops == 0:
            log.warning(
                "outgoing queue full (%d): dropped the oldest message, to %s; "
                "further drops are counted and reported on reconnect",
                self._outbox.capacity,
                dropped.topic,
            )
        self._unreported_drops += 1

    def _report_lost(self) -> None:
        lost = self._outbox.take_lost()
        for callback in self._lost_callbacks:
            try:
                callback(lost)
            except Exception:
                log.exception("reporting %d message(s) dropped unsent failed", len(lost))

    # ------------------------------------------------------------------ receiving

    def _arrived(self, message: Message, *, on_intake: bool = False) -> None:
        """Check a message's size and queue it on its lane (urgent ones ahead of all).

        A message `on_intake` that a filter of the first connection matches too came on both,
        and is taken from the first."""
        limit = self._max_payload_bytes
        if limit is not None and len(message.payload) > limit:
            self._notify_dropped(
                message, f"payload of {len(message.payload)} bytes is larger than {limit}"
            )
            return
        filters = self._routes.filters_for(message.topic)
        if not filters:
            log.debug("dropped a message on %s: no subscription matches it", message.topic)
            return
        if self._intake is not None:
            # each message is taken from one connection: the first when a filter of its own
            # matches it, else the one reading the intake's filters now (the intake, unless
            # the first has subscribed to them in its place: not while the intake is down but
            # the first has not, as when both are back after a broker restart)
            failure = self._intake_failure
            if failure is None or not (self._reading_for_intake or self._subscribing_for_intake):
                if on_intake != self._intake.reads_only(filters):
                    return
            elif on_intake:  # the first connection reads them meanwhile
                return
            elif not self._reports_heard:
                self._hear_reports(self._intake, failure, filters)
        self._arrivals += 1
        message = Message(message.topic, message.payload, message.retain, self._arrivals)
        lane, _ = self._lanes[filters[0]]
        for topic_filter in filters:
            judge = self._lanes[topic_filter][1]
            if judge is not None and _judged_urgent(judge, message):
                lane = URGENT
                break
        if filters[0] in self._at_once and not on_intake and self._inbox.all_done():
            self._handle_at_once(message)  # none queued, none in the handlers
            return
        self._inbox.put(message, lane)

    def _handle_at_once(self, message: Message) -> None:
        """Hand a message to its handlers as it is read (`subscribe`'s `at_once`); the first
        that returns an awaitable is finished in a task (`_rest`) before the dispatcher takes
        the next message (`Inbox.began_elsewhere`).

        This runs in paho's callback, before paho queues the message's acknowledgement, so
        what the handlers hand to the socket goes out first. Paho tells a QoS 0 message it
        wrote under the lock its callback holds: written in here, it would wait for itself for
        ever. So a batch with one, or behind something paho has not written yet, is written
        once the callback has returned (`_write_after_read`). So is what a write in here could
        not finish: paho tells a failed write's disconnection under that lock too
        (`Sender.write_in_callback`)."""
        self._in_callback = True
        try:
            rest = self._start(message, self._routes.handlers_for(message.topic))
        finally:
            self._in_callback = False
        if rest is not None:
            self._inbox.began_elsewhere()
            self._rest = asyncio.ensure_future(self._finish_rest(rest))

    def _write_after_read(self) -> None:
        """Write what a message's handlers handed to the socket in paho's callback."""
        if self._write_due:
            self._write_due = False
            if self._sender is not None:
                self._sender.write()

    async def _finish_rest(self, rest: Awaitable[None]) -> None:
        try:
            await rest
        finally:
            self._rest = None
            self._inbox.ended_elsewhere()

    def _hear_reports(self, intake: _Intake, failure: str, filters: list[str]) -> None:
        """A message matching `filters` came in on the first connection while it reads the
        intake's filters in its place: one of them shows the reports come in there (told
        once, after paho's callback this runs in)."""
        if intake.reports_any(filters):
            self._reports_heard = True
            asyncio.get_running_loop().call_soon(self._tell_reports_heard, failure)

    def _tell_reports_heard(self, failure: str) -> None:
        """Tell `_hear_reports`'s news unless it is stale: the intake came back (or this
        connection of the first was lost) on the same turn, after the report was read; or
        its subscription is not told yet (`_subscribe_pending` tells both)."""
        if self._reports_heard and self._reading_for_intake and self._intake_failure == failure:
            self._tell_reports(ReportsChange(failure, read_by_first=True))

    def _notify_dropped(self, message: Message, reason: str) -> None:
        log.debug("dropped a message on %s: %s", message.topic, reason)
        for callback in self._dropped_callbacks:
            try:
                callback(message, reason)
            except Exception:
                log.exception("drop callback %s failed", _name(callback))

    async def _dispatch_forever(self) -> None:
        in_a_row = 0
        while True:
            message = await self._inbox.get()  # none while one handed over at once is handled
            try:
                await self._dispatch(message)
            finally:
                self._inbox.task_done()
            in_a_row += 1
            if in_a_row >= YIELD_EVERY:
                in_a_row = 0
                await asyncio.sleep(0)

    async def _dispatch(self, message: Message) -> None:
        handlers = self._routes.handlers_for(message.topic)
        if not handlers:
            log.debug("dropped a message on %s: no subscription matches it", message.topic)
        rest = self._start(message, handlers)
        if rest is not None:
            await rest

    def _start(self, message: Message, handlers: list[Handler]) -> Awaitable[None] | None:
        """Call `handlers` in order until one returns an awaitable: then what awaits it and
        calls the others after it; None when all are done."""
        for index, handler in enumerate(handlers):
            try:
                result = handler(message)
            except Exception:
                _log_failed(handler, message)
                continue
            if inspect.isawaitable(result):
                return self._finish(message, handler, result, handlers[index + 1 :])
        return None

    async def _finish(
        self, message: Message, handler: Handler, started: Awaitable[None], later: list[Handler]
    ) -> None:
        try:
            await started
        except Exception:
            _log_failed(handler, message)
        rest = self._start(message, later)
        if rest is not None:
            await rest


@dataclass
class _Batch:
    """Messages handed to the socket, with the acknowledgements they wait for; `send_now`
    adds to it while it waits."""

    messages: list[tuple[Hashable, Pending]]
    acknowledged: list[asyncio.Future[None]]
    written: list[float]
    """When (monotonic seconds) each message was handed to the socket."""

    def __len__(self) -> int:
        return len(self.messages)

    def slow(self) -> bool:
        """Whether a message still unacknowledged was handed to the socket more than
        `SLOW_ACK_S` ago: a broker that answers each message sooner is not slow, however
        long `send_now` keeps the batch growing."""
        for written, done in zip(self.written, self.acknowledged, strict=True):
            if not done.done():  # the oldest still waiting: messages are written in order
                return time.monotonic() - written > SLOW_ACK_S
        return False

    def extend(self, later: _Batch) -> None:
        """Add messages handed to the socket after these."""
        self.messages += later.messages
        self.acknowledged += later.acknowledged
        self.written += later.written

    async def wait(self, timeout_s: float) -> set[asyncio.Future[None]]:
        """Wait until every acknowledgement came, those of messages added meanwhile too; the
        ones still missing once a wait of `timeout_s` for them ended (none: all came)."""
        while waiting := [done for done in self.acknowledged if not done.done()]:
            _, missing = await asyncio.wait(waiting, timeout=timeout_s)
            if missing:
                return missing
        return set()

    def unacknowledged(self) -> list[tuple[Hashable, Pending]]:
        """The messages the broker has not acknowledged (yet), in order."""
        return [
            message
            for message, done in zip(self.messages, self.acknowledged, strict=True)
            if not done.done()
        ]


class _Intake:
    """The bus's second connection, which only reads: the filters subscribed with `intake`.

    One connection's messages come in the order the broker sent them, so a flood on one of
    its subscriptions (a device sending its reports as fast as it can) stands in the socket,
    and in the broker's queue for that connection, in front of everything after it: an
    emergency pressed 3 s into such a flood was not answered within 30 s. On a connection of
    their own, the reports back up there, and the first connection's commands come in at
    once (docs/robustness.md#a-flood-of-device-reports). It reconnects on its own, as the
    first one does; what it reads goes to the same inbox.
    """

    def __init__(
        self,
        parameters: ConnectionParameters,
        client_id: str,
        arrived: Callable[[Message], None],
        *,
        retry_first_s: float,
        retry_max_s: float,
        response_timeout_s: float,
    ) -> None:
        self._parameters = parameters
        self._client_id = client_id
        self._arrived = arrived
        self._retry_first_s = retry_first_s
        self._retry_max_s = retry_max_s
        self._response_timeout_s = response_timeout_s
        self.filters: list[str] = []
        self._filters: set[str] = set()
        self._reports: set[str] = set()
        """The filters of device reports (`Bus.subscribe`'s `report`)."""
        self.callbacks: list[Callable[[str | None], None]] = []
        """Told None each time the connection is up, the reason once it has been failing
        `INTAKE_TOLD_AFTER_S`; once it is flapping (told back, then failing again after a
        moment up), told back only once it has been up as long."""
        self._unsubscribed: list[str] = []
        self._wake = asyncio.Event()
        self._retry = asyncio.Event()
        self._failed_attempts = 0
        self._failure: str | None = None
        """Why the connection is not up, while it is not."""
        self._telling: asyncio.TimerHandle | None = None
        """Tells the failure once it has lasted `INTAKE_TOLD_AFTER_S`."""
        self._told = False
        """The failure was told, and the connection has not been told back since."""
        self._came_back = False
        """Up after a failure told, and told back (failing again after a moment up, it is
        flapping)."""
        self._flapping = False
        """Told back, it failed again before it was up `INTAKE_TOLD_AFTER_S`, and has not been
        up as long since: once told failing again, it is told back once up as long."""
        self._telling_back: asyncio.TimerHandle | None = None
        """Tells it back once it has been up `INTAKE_TOLD_AFTER_S` (while `_flapping`)."""
        self._up_since: float | None = None
        """When the connection last came up (loop time), while it is up."""
        self._failing_since: float | None = None
        """When the connection first failed, or failed after it had been up for
        `INTAKE_TOLD_AFTER_S` or more (loop time): one up for a moment at a time (another
        client taking its client id each time, say) has been failing since then, and is told
        once that has lasted as long."""
        self.up = asyncio.Event()
        """Set while connected and subscribed."""

    def add(self, topic_filter: str, *, report: bool = True) -> None:
        self.filters.append(topic_filter)
        self._filters.add(topic_filter)
        if report:
            self._reports.add(topic_filter)
        self._unsubscribed.append(topic_filter)
        self._wake.set()

    def reads_only(self, filters: list[str]) -> bool:
        """Whether these filters are all this connection's (none also on the first one)."""
        return self._filters.issuperset(filters)

    def reads_any(self, filters: list[str]) -> bool:
        """Whether one of these filters is this connection's."""
        return not self._filters.isdisjoint(filters)

    def reports_any(self, filters: list[str]) -> bool:
        """Whether one of these filters is this connection's and a device report's."""
        return not self._reports.isdisjoint(filters)

    def retry_now(self) -> None:
        """Connect again at once if waiting to (the first connection just came back).

        The broker was away for both: the intake's failure since is the broker's, not its
        flapping, and it is told back as it is up (the first connection waits for that
        before it reads the intake's filters in its place: else what the broker retained of
        them came on both)."""
        self._flapping = False
        if self._telling_back is not None:
            self._telling_back.cancel()
            self._tell_back()
        self._retry.set()

    async def connect_forever(self) -> None:
        try:
            while True:
                try:
                    await self._connect_once()
                except aiomqtt.MqttError as error:
                    self.up.clear()
                    self._lost(_describe(error))
                except Exception as error:
                    self.up.clear()
                    log.exception("the intake connection failed unexpectedly; reconnecting")
                    self._lost(f"unexpected {type(error).__name__}: {error}")
                delay = retry_delay(
                    self._failed_attempts,
                    first_s=self._retry_first_s,
                    max_s=self._retry_max_s,
                    jitter=random.random(),
                )
                self._retry.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry.wait(), delay)
                self._failed_attempts += 1
        finally:
            for timer in (self._telling, self._telling_back):
                if timer is not None:
                    timer.cancel()

    async def _connect_once(self) -> None:
        """One connection: subscribes to every filter, then to each added; raises MqttError
        when it fails or ends."""
        client = _new_client(self._parameters, self._client_id, None, self._response_timeout_s)
        _deliver_directly(client, self._arrived)
        _refused_when_closed_unanswered(client)
        async with client:
            _send_without_delay(client)
            _read_in_batches(client)
            # Nothing is published here, but the Sender's watch of the socket for writing
            # is needed all the same: aiomqtt's races with the writes made at once (the
            # SUBSCRIBE of a late filter, the acknowledgements `_read_in_batches` writes)
            # left a watch on the socket's number after it closed, and the next connection
            # given that number could not be read (seen after a broker restart).
            Sender(client)
            self._unsubscribed = []
            receiving = asyncio.create_task(_receive(client))
            try:
                if self.filters:
                    await _subscribe(client, list(self.filters))
                self._came_up()
                while True:
                    self._wake.clear()
                    if self._unsubscribed:
                        filters, self._unsubscribed = self._unsubscribed, []
                        await _subscribe(client, filters)
                        continue
                    waking = asyncio.create_task(self._wake.wait())
                    try:
                        await asyncio.wait({receiving, waking}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        await cancel_and_wait(waking)
                    if receiving.done():
                        receiving.result()  # the connection ended: raises its MqttError
            finally:
                await cancel_and_wait(receiving)

    def _came_up(self) -> None:
        self._failed_attempts = 0
        self._up_since = asyncio.get_running_loop().time()
        self.up.set()
        if self._telling is not None:
            self._telling.cancel()
            self._telling = None
        if self._failure is not None:
            self._failure = None
            log.info("the intake connection is back: reading %s again", ", ".join(self.filters))
        if not (self._told and self._flapping):
            self._came_back, self._told = self._told, False
            self._tell(None)
        elif self._telling_back is None:
            # told back once up as long: each moment up of one flapping gave the reports back
            # to it and took them again (what came between was lost), and the engine's alert
            # flickered, its journal and every device's state asked for at each
            loop = asyncio.get_running_loop()
            self._telling_back = loop.call_later(INTAKE_TOLD_AFTER_S, self._tell_back)

    def _lost(self, reason: str) -> None:
        loop = asyncio.get_running_loop()
        up_since, self._up_since = self._up_since, None
        if self._telling_back is not None:
            self._telling_back.cancel()
            self._telling_back = None
        steady = up_since is not None and loop.time() - up_since >= INTAKE_TOLD_AFTER_S
        if steady:
            self._flapping = False
        elif self._came_back:
            self._flapping = True
        self._came_back = False
        if self._failing_since is None or steady:
            self._failing_since = loop.time()  # else failing since before a moment up
        address = f"{self._parameters.host}:{self._parameters.port}"
        if reason == self._failure:
            log.debug("still no intake connection to %s: %s", address, reason)
            return
        log.warning("the intake connection to %s failed: %s; reconnecting", address, reason)
        self._failure = reason
        if self._telling is None:
            told_in_s = self._failing_since + INTAKE_TOLD_AFTER_S - loop.time()
            self._telling = loop.call_later(max(0.0, told_in_s), self._tell_failure)

    def _tell_failure(self) -> None:
        if self._failure is not None:
            self._told = True
            self._tell(self._failure)

    def _tell_back(self) -> None:
        self._telling_back = None
        self._told = False
        self._tell(None)

    def _tell(self, failure: str | None) -> None:
        for callback in self.callbacks:
            try:
                callback(failure)
            except Exception:
                log.exception("intake callback %s failed", _name(callback))


def _new_client(
    parameters: ConnectionParameters, client_id: str, will: Will | None, timeout_s: float
) -> aiomqtt.Client:
    # A fresh client per attempt: aiomqtt 2.5.1 reuses a client's "connected" state after an
    # unexpected disconnection, so a reused client enters even when the broker refuses it.
    return aiomqtt.Client(
        parameters.host,
        parameters.port,
        identifier=client_id,
        username=parameters.username,
        password=parameters.password,
        will=None if will is None else _aiomqtt_will(will),
        keepalive=parameters.keepalive_s,
        clean_session=True,
        tls_context=parameters.tls_context,
        timeout=timeout_s,
        max_inflight_messages=IN_FLIGHT,
    )


async def _subscribe(client: aiomqtt.Client, filters: list[str]) -> None:
    codes = await client.subscribe([(topic_filter, SUBSCRIBE_QOS) for topic_filter in filters])
    for topic_filter, code in zip(filters, codes, strict=True):
        if isinstance(code, ReasonCode) and code.is_failure:
            log.error("the broker refused the subscription to %s", topic_filter)


async def _receive(client: aiomqtt.Client) -> None:
    """Wait while paho hands incoming messages to the bus (`_deliver_directly`); ends only
    with the connection (MqttError)."""
    async for _ in client.messages:  # nothing comes this way: it ends with the connection
        pass
    raise aiomqtt.MqttError("the broker's message stream ended")


def _judged_urgent(judge: Urgent, message: Message) -> bool:
    try:
        return judge(message)
    except Exception:
        log.exception("judging the urgency of a message to %s failed", message.topic)
        return False


def _deliver_directly(client: aiomqtt.Client, arrived: Callable[[Message], None]) -> None:
    """Hand each message paho reads straight to `arrived` (on the event loop's thread).

    aiomqtt would put it in an unbounded queue of its own, read one at a time by a task per
    message: under a flood that queue grows without bound, behind it nothing can be judged
    urgent, and the conversion costs as much as the engine's own handling. Straight into the
    bus's bounded inbox, a flood is dropped there instead. Like `_send_without_delay`, this
    reaches paho's client through aiomqtt's `_client`.
    """

    def on_message(_client: object, _userdata: object, message: MQTTMessage) -> None:
        try:  # paho would disconnect on an exception raised here
            arrived(Message(message.topic, bytes(message.payload), message.retain))
        except Exception:
            log.exception("dropped a message the bus could not take")

    client._client.on_message = on_message


def _refused_when_closed_unanswered(client: aiomqtt.Client) -> None:
    """Fail the connect at once when the broker closes the connection before its CONNACK.

    aiomqtt ignores a disconnection before the CONNACK (its `_on_disconnect` returns early), so
    the connect waits out its whole timeout (`RESPONSE_TIMEOUT_S`): a broker that stopped or
    restarted just as the bus connected kept the bus away for 10 s. Like `_deliver_directly`,
    this reaches paho's client (and aiomqtt's `_connected`) through aiomqtt's internals.
    """
    paho_client = client._client
    on_disconnect = paho_client.on_disconnect

    def disconnected(*args: Any) -> None:
        connecting = client._connected
        if not connecting.done():
            why = next((f" ({arg})" for arg in args if isinstance(arg, ReasonCode)), "")
            connecting.set_exception(
                aiomqtt.MqttError(f"the broker closed the connection before answering{why}")
            )
        if on_disconnect is not None:
            on_disconnect(*args)

    paho_client.on_disconnect = disconnected


def _read_in_batches(client: aiomqtt.Client, after_each: Callable[[], None] | None = None) -> None:
    """Read up to READ_BATCH waiting packets each time the socket is readable, not one;
    call `after_each` after each packet is read (paho's callbacks have returned by then).

    aiomqtt reads one packet per turn of the event loop (paho's `loop_read` ignores its
    `max_packets`), so under a flood the backlog waits in the socket, where nothing can be
    judged urgent: an emergency behind 1,000 notes would be read after all of them. Read in
    batches, the backlog reaches the bounded inbox, which lets the emergency go first. The
    acknowledgements of what was read are written at once, before it is handled, so a
    command's device message is the first write after the command (each write lets the
    journal's thread take the interpreter lock). Like `_send_without_delay`, this reaches
    paho's client through aiomqtt's `_client`.

    Whether more is waiting in the kernel takes a system call (`select`), which held a
    command arriving alone about 20 µs longer before it was handled (median, measured
    stage by stage by `bench.stages`). So a packet that comes after a read found the socket
    empty is read alone, without that look; the next read looks again. A flood costs one
    packet read alone, then batches while a backlog is seen.
    """
    paho_client = client._client
    read_one: Callable[[int], MQTTErrorCode] = paho_client.loop_read
    if after_each is not None:
        read_one = _followed_by(read_one, after_each)
    emptied = False
    """Whether the last read found nothing more in the socket."""

    def read_batch(max_packets: int = 1) -> MQTTErrorCode:
        nonlocal emptied
        result = read_one(max_packets)
        look_further, emptied = not emptied, False
        for _ in range(READ_BATCH - 1):
            sock = paho_client.socket()
            if result != MQTTErrorCode.MQTT_ERR_SUCCESS or not isinstance(sock, socket.socket):
                break
            if not _decrypted_waiting(sock):
                if not look_further:
                    break
                if not select.select([sock], [], [], 0)[0]:
                    emptied = True
                    break
            result = read_one(max_packets)
        if result == MQTTErrorCode.MQTT_ERR_SUCCESS and paho_client.want_write():
            paho_client.loop_write()
        return result

    paho_client.loop_read = read_batch  # type: ignore[method-assign]


def _followed_by(
    read: Callable[[int], MQTTErrorCode], then: Callable[[], None]
) -> Callable[[int], MQTTErrorCode]:
    def read_then(max_packets: int = 1) -> MQTTErrorCode:
        try:
            return read(max_packets)
        finally:
            then()

    return read_then


def _decrypted_waiting(sock: socket.socket) -> bool:
    """Whether TLS has bytes decrypted already that the event loop's poll would not see."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _send_without_delay(client: aiomqtt.Client) -> None:
    """Turn Nagle's algorithm off on the connection's socket.

    Small MQTT packets otherwise wait for the broker's delayed TCP ACK (about 40 ms each):
    measured by `python -m bench` as most of the command-to-wire latency. aiomqtt has no
    public way to the socket, so this reaches paho's client through aiomqtt's `_client`.
    """
    sock = client._client.socket()
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _publish_status(client: aiomqtt.Client, status: Will) -> None:
    await client.publish(status.topic, status.payload, qos=status.qos, retain=status.retain)


def _aiomqtt_will(will: Will) -> aiomqtt.Will:
    return aiomqtt.Will(will.topic, will.payload, qos=will.qos, retain=will.retain)


def _check_qos(qos: int) -> None:
    if qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, not {qos!r}")


def _describe(error: aiomqtt.MqttError) -> str:
    cause = error.__cause__
    return str(error) if cause is None else f"{error} ({cause})"


def _log_failed(handler: Handler, message: Message) -> None:
    log.exception("handler %s failed on a message to %s", _name(handler), message.topic)


def _name(function: Callable[..., object]) -> str:
    return getattr(function, "__qualname__", repr(function))
