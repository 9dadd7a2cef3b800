"""One simulated device on its own MQTT connection, with its own will, driven by a device model.

The connection is the device's: its will is the protocol's offline availability
(retained), it announces itself online (retained) on every (re)connect, and it reconnects
after `RECONNECT_DELAY_S` when the broker goes away, as real devices do. Faults act here:
`go_offline` drops the TCP connection without an MQTT DISCONNECT so the broker publishes
the will; the command gate drops or delays commands; `send_garbage` writes junk on the
device's state topic. A clean `stop` publishes the offline availability itself and then
disconnects: the device is switched off, and the broker keeps saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from controller.bus.credentials import connection_parameters
from controller.cancelling import cancel_and_wait
from controller.config.settings import BrokerSettings
from controller.sim.faults import GARBAGE_PAYLOAD, CommandGate
from controller.sim.model import Availability, DeviceModel, Publication, shorten

RECONNECT_DELAY_S = 1.0
PUBLISH_TIMEOUT_S = 5.0

log = logging.getLogger("controller.sim.device")


@dataclass(frozen=True)
class BrokerAddress:
    """Where and how the simulated devices connect."""

    host: str
    port: int
    keepalive_s: int = 30
    username: str | None = None
    password: str | None = None
    tls_context: ssl.SSLContext | None = None

    @classmethod
    def from_settings(cls, settings: BrokerSettings, root: Path | None = None) -> BrokerAddress:
        """From the room's broker settings, read as the engine's bus reads them.

        Raises BusConfigError for a password or TLS file that cannot be used.
        """
        parameters = connection_parameters(settings, root or Path.cwd())
        return cls(
            host=parameters.host,
            port=parameters.port,
            keepalive_s=parameters.keepalive_s,
            username=parameters.username,
            password=parameters.password,
            tls_context=parameters.tls_context,
        )

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls_context else 'mqtt'}://{self.host}:{self.port}"

    def device_client(self, identifier: str, availability: Availability) -> aiomqtt.Client:
        """A device's own connection: a clean session whose will says the device is offline."""
        return aiomqtt.Client(
            self.host,
            self.port,
            identifier=identifier,
            username=self.username,
            password=self.password,
            keepalive=self.keepalive_s,
            clean_session=True,
            will=aiomqtt.Will(availability.topic, availability.offline, qos=1, retain=True),
            timeout=PUBLISH_TIMEOUT_S,
            tls_context=self.tls_context,
        )


class CommandFaults(ABC):
    """The faults a simulated device takes on its own: commands dropped or delayed, garbage."""

    model: DeviceModel
    gate: CommandGate

    @property
    @abstractmethod
    def id(self) -> str:
        """The device's id."""

    @abstractmethod
    def send(self, publications: list[Publication]) -> None:
        """Publish, while connected."""

    def drop_commands(self, dropping: bool) -> None:
        """Ignore every command received from now on (or stop ignoring them)."""
        self.gate.drop(dropping)

    def delay_commands(self, seconds: float) -> None:
        """Apply every command received from now on `seconds` late (0: on time again)."""
        self.gate.delay(seconds)

    def send_garbage(self) -> None:
        """Publish an unreadable payload on the device's state topic."""
        log.info("%s sends garbage on %s (fault)", self.id, self.model.state_topic)
        self.send([Publication(self.model.state_topic, GARBAGE_PAYLOAD)])


class VirtualDevice(CommandFaults):
    """A device model connected to the broker the way the real device would be."""

    def __init__(
        self,
        model: DeviceModel,
        broker: BrokerAddress,
        *,
        client_id: str,
        clock: Callable[[], float],
    ) -> None:
        self.model = model
        self.broker = broker
        self.client_id = client_id
        self.clock = clock
        self.gate = CommandGate(model.name)
        self._wanted_online = asyncio.Event()
        self._wanted_online.set()
        self._online = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._outbox: asyncio.Queue[Publication] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        """Sends the outbox in order; a stop ends it before the offline goes out."""

    @property
    def id(self) -> str:
        return self.model.name

    @property
    def online(self) -> bool:
        """Connected, subscribed and announced online."""
        return self._online.is_set()

    async def wait_online(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._online.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def start(self) -> None:
        """Start connecting (and reconnecting) in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"sim-{self.id}")

    # ------------------------------------------------------------------ faults

    def go_offline(self) -> None:
        """Drop the connection abruptly, without DISCONNECT, so the broker publishes the will."""
        self._wanted_online.clear()
        client = self._client
        if client is None:
            return  # not connected (yet): a connection under way is dropped as it completes
        log.info("%s goes offline abruptly (fault)", self.id)
        _drop(client)

    def come_online(self) -> None:
        """Reconnect (after `go_offline`) and announce the device online again."""
        if not self._wanted_online.is_set():
            log.info("%s comes back online (fault ends)", self.id)
        self._wanted_online.set()

    # ------------------------------------------------------------------ time

    def tick(self, now: float) -> None:
        """Apply delayed commands that are due, advance the model, publish what it says."""
        publications: list[Publication] = []
        for topic, payload in self.gate.release(now):
            publications += self._apply(topic, payload, now)
        try:
            publications += self.model.tick(now)
        except Exception:
            log.exception("%s: the simulated firmware failed on a tick", self.id)
        self.send(publications)

    # ------------------------------------------------------------------ stopping

    async def stop(self) -> None:
        """Switch the device off: publish its offline availability, then disconnect cleanly."""
        self._wanted_online.clear()
        client = self._client
        if client is not None and self.online:
            if self._writer is not None:
                # What is still queued (e.g. its online, just connected) must not follow the
                # offline: what the writer already handed over goes out before it.
                await cancel_and_wait(self._writer)
            with contextlib.suppress(aiomqtt.MqttError):
                for offline in self.model.switched_off():
                    await client.publish(
                        offline.topic,
                        offline.payload,
                        qos=offline.qos,
                        retain=offline.retain,
                        timeout=PUBLISH_TIMEOUT_S,
                    )
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    # ------------------------------------------------------------------ connection

    async def _run(self) -> None:
        while True:
            await self._wanted_online.wait()
            try:
                await self._session()
            except aiomqtt.MqttError as error:
                if self._wanted_online.is_set():
                    log.warning(
                        "%s: no connection to %s (%s); retrying in %g s",
                        self.id,
                        self.broker.url,
                        error,
                        RECONNECT_DELAY_S,
                    )
                    await asyncio.sleep(RECONNECT_DELAY_S)
            except Exception:
                log.exception(
                    "%s: the connection failed; retrying in %g s", self.id, RECONNECT_DELAY_S
                )
                await asyncio.sleep(RECONNECT_DELAY_S)
            finally:
                self._online.clear()
                self._client = None

    async def _session(self) -> None:
        async with self.broker.device_client(self.client_id, self.model.availability) as client:
            for topic_filter in self.model.subscriptions():
                await client.subscribe(topic_filter, qos=1)
            self._client = client  # from here on, a fault drops this connection itself
            if not self._wanted_online.is_set():
                # Taken offline while it connected: it does not come online, and the broker
                # publishes its will (a connection before may have left "online" retained).
                log.info("%s goes offline abruptly as it connects (fault)", self.id)
                _drop(client)
                async for _ in client.messages:
                    pass  # until the connection is seen gone: the iteration raises MqttError
                return
            self._outbox = asyncio.Queue()
            now = self.clock()
            self._outbox.put_nowait(self.model.availability.announce_online())
            for publication in self.model.connected(now):
                self._outbox.put_nowait(publication)
            writer = asyncio.create_task(self._write(client), name=f"sim-{self.id}-writer")
            self._writer = writer
            self._online.set()
            log.info("%s online on %s", self.id, self.broker.url)
            try:
                async for message in client.messages:
                    self._receive(str(message.topic), _payload_bytes(message.payload))
            finally:
                self._writer = None
                await cancel_and_wait(writer)

    async def _write(self, client: aiomqtt.Client) -> None:
        while True:
            publication = await self._outbox.get()
            log.debug("%s → %s %s", self.id, publication.topic, shorten(publication.payload))
            try:
                await client.publish(
                    publication.topic,
                    publication.payload,
                    qos=publication.qos,
                    retain=publication.retain,
                )
            except aiomqtt.MqttError as error:
                log.warning("%s could not publish on %s: %s", self.id, publication.topic, error)
                return

    def _receive(self, topic: str, payload: bytes) -> None:
        now = self.clock()
        log.debug("%s ← %s %s", self.id, topic, shorten(payload))
        publications: list[Publication] = []
        for admitted_topic, admitted_payload in self.gate.admit(topic, payload, now):
            publications += self._apply(admitted_topic, admitted_payload, now)
        self.send(publications)

    def _apply(self, topic: str, payload: bytes, now: float) -> list[Publication]:
        try:
            return self.model.handle(topic, payload, now)
        except Exception:
            log.exception(
                "%s: the simulated firmware failed on %s %s", self.id, topic, shorten(payload)
            )
            return []

    def send(self, publications: list[Publication]) -> None:
        """Send while connected; a device that is offline cannot publish, so the rest is lost."""
        if not self.online:
            return
        for publication in publications:
            self._outbox.put_nowait(publication)


def _drop(client: aiomqtt.Client) -> None:
    """End the connection abruptly, without DISCONNECT, so the broker publishes the will.

    aiomqtt has no abrupt close; shutting paho's socket down skips the DISCONNECT packet.
    """
    sock = client._client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _payload_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()
