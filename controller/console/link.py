"""The console's only connection to the room: commands and replies, retained state and status.

`RoomLink` keeps one MQTT connection to the broker, reconnecting on its own, and reports
what it hears as `LinkUpdate`s; widgets never see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiomqtt
from pydantic import ValidationError

from controller.api.state import RoomState
from controller.api.topics import (
    MAX_REPLY_BYTES,
    MAX_STATE_BYTES,
    MAX_STATUS_BYTES,
    OFFLINE,
    ONLINE,
    RoomTopics,
)
from controller.bus.credentials import BusConfigError, client_settings, connection_parameters
from controller.cancelling import cancel_and_wait
from controller.config import Room
from controller.console.formatting import shown_tree
from controller.untrusted import UntrustedJsonError, read_json

REPLY_TIMEOUT_S = 3.0
"""How long a command waits for the engine's reply before the console says so."""
RECONNECT_DELAYS_S = (0.5, 1.0, 2.0, 5.0)
"""Waits between reconnection attempts; the last one repeats."""

EngineStatus = Literal["online", "offline", "unknown"]


@dataclass(frozen=True)
class Endpoint:
    """Where the broker is and how to log in."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls_context: ssl.SSLContext | None = None
    keepalive_s: int = 30

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.tls_context is not None else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    @classmethod
    def for_room(cls, room: Room) -> Endpoint:
        """The broker of a loaded room, read as the engine's bus reads it.

        Raises ValueError when the room's broker cannot be reached from a console (an
        embedded broker on a free port, an unreadable password or TLS file).
        """
        try:
            settings = client_settings(room.settings.broker)
            parameters = connection_parameters(settings, room.root)
        except BusConfigError as error:
            raise ValueError(str(error)) from None
        return cls(
            host=parameters.host,
            port=parameters.port,
            username=parameters.username,
            password=parameters.password,
            tls_context=parameters.tls_context,
            keepalive_s=parameters.keepalive_s,
        )


@dataclass(frozen=True)
class BrokerConnection:
    """The connection to the broker came up or went down."""

    connected: bool
    problem: str | None = None
    attempt: int = 0
    """How many reconnection attempts have failed in a row."""


@dataclass(frozen=True)
class StatusMessage:
    """The engine's retained `status` (its will says `offline`)."""

    status: EngineStatus


@dataclass(frozen=True)
class StateMessage:
    """A retained `state` snapshot, or why it could not be read."""

    state: RoomState | None
    problem: str | None = None


LinkUpdate = BrokerConnection | StatusMessage | StateMessage


@dataclass(frozen=True)
class Outcome:
    """What became of a command."""

    kind: Literal["done", "refused", "no_reply", "not_sent"]
    reason: str | None = None


class RoomLink:
    """One room's MQTT API as the console uses it; `run()` keeps the connection up."""

    def __init__(
        self,
        endpoint: Endpoint,
        room: str,
        on_update: Callable[[LinkUpdate], None],
        *,
        client_id: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.topics = RoomTopics(room)
        self._on_update = on_update
        self._client_id = client_id or f"sessionroom-console-{uuid.uuid4().hex[:12]}"
        self._client: aiomqtt.Client | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reconnect_now = asyncio.Event()
        self._up = asyncio.Event()
        """Set while connected: what a command that waits for the broker waits for."""

    @property
    def connected(self) -> bool:
        return self._client is not None

    def reconnect(self) -> None:
        """Drop the connection (or stop waiting) and connect again at once."""
        self._reconnect_now.set()

    async def run(self) -> None:
        """Connect, listen and reconnect until cancelled."""
        failures = 0
        while True:
            try:
                async with self._new_client() as client:
                    await self._subscribe(client)
                    failures = 0
                    self._client = client
                    self._up.set()
                    self._on_update(BrokerConnection(connected=True))
                    await self._listen_until_reconnect(client)
                problem = "reconnecting as asked"
                delay = 0.0
            except aiomqtt.MqttError as error:
                problem = str(error) or type(error).__name__
                delay = RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)]
                failures += 1
            finally:
                self._client = None
                self._up.clear()
            self._on_update(BrokerConnection(connected=False, problem=problem, attempt=failures))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconnect_now.wait(), delay)
            self._reconnect_now.clear()

    async def request(
        self,
        command: dict[str, Any],
        *,
        timeout: float | None = None,
        until_connected: bool = False,
    ) -> Outcome:
        """Publish a command and wait for the engine's reply; without a broker, `not_sent`,
        or (`until_connected`) published as soon as the connection is back."""
        while until_connected and self._client is None:
            await self._up.wait()
        client = self._client
        if client is None:
            return Outcome("not_sent", "not connected to the broker")
        command_id = str(command["id"])
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = reply
        limit = REPLY_TIMEOUT_S if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                try:
                    await client.publish(self.topics.cmd, json.dumps(command), qos=1)
                except aiomqtt.MqttError as error:
                    return Outcome("not_sent", str(error))
                answer = await reply
        except TimeoutError:
            return Outcome("no_reply", f"no reply from the engine within {limit:g} s")
        finally:
            self._pending.pop(command_id, None)
        if answer.get("ok") is True:
            return Outcome("done")
        return Outcome("refused", str(answer.get("error") or "the engine gave no reason"))

    def _new_client(self) -> aiomqtt.Client:
        endpoint = self.endpoint
        return aiomqtt.Client(
            endpoint.host,
            endpoint.port,
            identifier=self._client_id,
            username=endpoint.username,
            password=endpoint.password,
            keepalive=endpoint.keepalive_s,
            tls_context=endpoint.tls_context,
            timeout=5,
        )

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        topics = (self.topics.status, self.topics.state, self.topics.replies)
        await client.subscribe([(topic, 1) for topic in topics])

    async def _listen_until_reconnect(self, client: aiomqtt.Client) -> None:
        listening = asyncio.ensure_future(self._dispatch(client))
        asked = asyncio.ensure_future(self._reconnect_now.wait())
        try:
            await asyncio.wait({listening, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
            if not listening.done():
                await cancel_and_wait(listening)
        self._reconnect_now.clear()
        if listening.done() and not listening.cancelled():
            listening.result()

    async def _dispatch(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else b""
            if topic == self.topics.status:
                self._on_update(StatusMessage(read_status(payload)))
            elif topic == self.topics.state:
                self._on_update(read_state(payload))
            else:
                self._settle_reply(payload)

    def _settle_reply(self, payload: bytes) -> None:
        answer = read_reply(payload)
        if answer is None:
            return
        reply = self._pending.get(str(answer.get("id")))
        if reply is not None and not reply.done():
            reply.set_result(answer)


def read_reply(payload: bytes) -> dict[str, Any] | None:
    """A `reply/<id>` payload as a JSON object; None when it is not one (never raises)."""
    try:
        answer = shown_tree(read_json(payload, max_bytes=MAX_REPLY_BYTES))
    except UntrustedJsonError:
        return None
    return answer if isinstance(answer, dict) else None


def read_status(payload: bytes) -> EngineStatus:
    """The engine's `status` payload; `unknown` for anything but online/offline."""
    text = payload[:MAX_STATUS_BYTES].decode("utf-8", errors="replace").strip()
    if text == ONLINE:
        return "online"
    if text == OFFLINE:
        return "offline"
    return "unknown"


def read_state(payload: bytes) -> StateMessage:
    """A retained `state` payload, its text safe to draw (`shown`), or why it is unreadable
    (never raises)."""
    if not payload:
        return StateMessage(None)
    try:
        data = shown_tree(read_json(payload, max_bytes=MAX_STATE_BYTES))
        return StateMessage(RoomState.model_validate(data))
    except UntrustedJsonError as problem:
        return StateMessage(None, f"unreadable state from the engine ({problem})")
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the snapshot"
        return StateMessage(None, f"unreadable state from the engine ({where}: {first['msg']})")
