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
from typing import TYPE_CHECKING, Any, Literal

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
from controller.console.formatting import shown_tree
from controller.untrusted import UntrustedJsonError, read_json

if TYPE_CHECKING:
    from controller.config.settings_file import RoomSettingsFile

REPLY_TIMEOUT_S = 3.0
"""How long a command waits for the engine's reply before the console says so."""
RECONNECT_DELAYS_S = (0.5, 1.0, 2.0, 5.0)
"""Waits between reconnection attempts; the last one repeats."""
LOST_NOTICED_WITHIN_S = 1.0
"""How long after a failed publish the link waits to learn whether the connection is lost."""

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
    def for_room(cls, room: RoomSettingsFile) -> Endpoint:
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


@dataclass(frozen=True)
class LateReply:
    """The engine answered the emergency pressed here after its `request` had returned
    without a reply (`no_reply`, kept and sent again): what became of it after all."""

    outcome: Outcome


LinkUpdate = BrokerConnection | StatusMessage | StateMessage | LateReply


@dataclass(frozen=True)
class Outcome:
    """What became of a command."""

    kind: Literal["done", "refused", "no_reply", "not_sent"]
    reason: str | None = None


@dataclass(frozen=True)
class _Lost:
    """The connection was lost before the reply: sent again, or `no_reply`."""

    reason: str
    kind: Literal["lost"] = "lost"


CONNECTION_LOST = (
    "the connection to the broker was lost before the engine replied: "
    "the command may or may not have been carried out"
)
KEPT = "; sent again when the engine is back online"
"""Said of an emergency without a reply: the link keeps it (`RoomLink.request`)."""


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
        self._lost: asyncio.Future[None] | None = None
        """Done when the current connection is lost: a command waiting for its reply stops."""
        self._unanswered: dict[str, Any] | None = None
        """The latest emergency, until its reply comes: published again, under its id,
        whenever the engine's status says `online` (it came back, or the link did)."""
        self._resending: asyncio.Future[None] | None = None
        """Publishing `_unanswered` again (`_resend`)."""

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def emergency_waiting(self) -> bool:
        """Whether an emergency pressed here has no reply from the engine yet: kept, to be
        sent (again) once the broker or the engine is back (`request`)."""
        return self._unanswered is not None

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
                    self._lost = asyncio.get_running_loop().create_future()
                    self._up.set()
                    self._on_update(BrokerConnection(connected=True))
                    await self._listen_until_reconnect(client)
                problem = "reconnecting as asked"
                delay = 0.0
            except Exception as error:  # the link never stops by itself
                # an MqttError, or anything else the connection raised (paho refuses some
                # hosts and ports with a ValueError): said on the banner and tried again, so
                # the console never sits on 'Connecting' with its emergency key waiting
                problem = str(error) or type(error).__name__
                delay = RECONNECT_DELAYS_S[min(failures, len(RECONNECT_DELAYS_S) - 1)]
                failures += 1
            finally:
                self._client = None
                self._up.clear()
                if self._lost is not None and not self._lost.done():
                    self._lost.set_result(None)
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
        waiting: Callable[[], None] | None = None,
    ) -> Outcome:
        """Publish a command and wait for the engine's reply.

        Without a broker the command is `not_sent`; a connection lost before the reply
        comes leaves its fate unknown, said at once (`no_reply`). With `until_connected`
        (the emergency) the command waits for the broker instead, and one whose connection
        was lost before its reply is published again, under the same id, as soon as the
        broker is back: the engine carries out a command delivered twice once and repeats
        its reply. It is kept until its reply comes, also after this returns `no_reply` (no
        engine listens: it is restarting; or the connection is half-open, and the link
        connects afresh): published again whenever the engine's status says `online`.
        `waiting` is called whenever the command starts waiting for the broker.
        """
        command_id = str(command["id"])
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[command_id] = reply
        if until_connected:
            self._unanswered = command  # the engine may come (back) online while it waits
        limit = REPLY_TIMEOUT_S if timeout is None else timeout
        try:
            while True:
                if until_connected and self._client is None:
                    if waiting is not None:
                        waiting()
                    await self._up.wait()
                outcome = await self._attempt(command, reply, limit)
                if not (until_connected and outcome.kind == "lost"):
                    break
        finally:
            self._pending.pop(command_id, None)
        if outcome.kind == "lost":
            return Outcome("no_reply", outcome.reason)
        if until_connected and outcome.kind == "no_reply":
            # A connection that takes commands and answers nothing may be half-open (a
            # tablet's Wi-Fi gone): a fresh one, rather than the keepalive's 45 s.
            self.reconnect()
        if until_connected and outcome.kind in ("no_reply", "not_sent"):
            return Outcome(outcome.kind, f"{outcome.reason}{KEPT}")
        return outcome

    async def _attempt(
        self, command: dict[str, Any], reply: asyncio.Future[dict[str, Any]], limit: float
    ) -> Outcome | _Lost:
        """Publish `command` once on the current connection and wait for `reply`."""
        client, lost = self._client, self._lost
        if client is None or lost is None:
            return Outcome("not_sent", "not connected to the broker")
        sent = asyncio.ensure_future(self._publish_then_wait(client, lost, command, reply))
        try:
            either: set[asyncio.Future[Any]] = {sent, lost}
            await asyncio.wait(either, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not sent.done():
                await cancel_and_wait(sent)
        if sent.done() and not sent.cancelled():
            return sent.result()
        if lost.done():
            return _Lost(CONNECTION_LOST)
        return Outcome("no_reply", f"no reply from the engine within {limit:g} s")

    async def _publish_then_wait(
        self,
        client: aiomqtt.Client,
        lost: asyncio.Future[None],
        command: dict[str, Any],
        reply: asyncio.Future[dict[str, Any]],
    ) -> Outcome | _Lost:
        try:
            await client.publish(self.topics.cmd, json.dumps(command), qos=1)
        except aiomqtt.MqttError as error:
            # A publish fails as its connection drops; the link notices a moment later.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(lost), LOST_NOTICED_WITHIN_S)
            return _Lost(CONNECTION_LOST) if lost.done() else Outcome("not_sent", str(error))
        return _outcome(await asyncio.shield(reply))

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
            if self._resending is not None and not self._resending.done():
                await cancel_and_wait(self._resending)
        self._reconnect_now.clear()
        if listening.done() and not listening.cancelled():
            listening.result()

    async def _dispatch(self, client: aiomqtt.Client) -> None:
        """Handle what arrives, in order; states are read beside it (`_read_states`)."""
        latest: list[bytes] = []
        arrived = asyncio.Event()
        reading = asyncio.ensure_future(self._read_states(latest, arrived))
        try:
            async for message in client.messages:
                if reading.done():  # it failed: the link connects afresh, as for this loop
                    reading.result()
                topic = str(message.topic)
                payload = message.payload if isinstance(message.payload, bytes) else b""
                if topic == self.topics.status:
                    status = read_status(payload)
                    self._on_update(StatusMessage(status))
                    if status == "online":
                        self._send_unanswered(client, retained=bool(message.retain))
                elif topic == self.topics.state:
                    latest[:] = [payload]
                    arrived.set()
                else:
                    self._settle_reply(payload)
        finally:
            await cancel_and_wait(reading)

    async def _read_states(self, latest: list[bytes], arrived: asyncio.Event) -> None:
        """Read the newest state that arrived, in a thread, one at a time: of states that
        came while one was read, the last is read next. Reading a large state takes a tenth
        of a second; read one after another on the console's loop, a flood of them held
        its keys, and the emergency, up for seconds."""
        while True:
            await arrived.wait()
            arrived.clear()
            if latest:
                state = await asyncio.to_thread(read_state, latest.pop(), self.topics.room)
                self._on_update(state)

    def _send_unanswered(self, client: aiomqtt.Client, *, retained: bool) -> None:
        """The engine is online: the emergency it has not answered goes to it again
        (`_resend`, beside the reading, which must go on to hear the reply). Not at the
        retained `online` of a reconnect while its `request` still runs: that sends it
        again itself."""
        command = self._unanswered
        if command is None or (retained and str(command["id"]) in self._pending):
            return
        if self._resending is None or self._resending.done():
            self._resending = asyncio.ensure_future(self._resend(client, command))

    async def _resend(self, client: aiomqtt.Client, command: dict[str, Any]) -> None:
        """Publish the kept emergency again. Without the broker's acknowledgement within
        `REPLY_TIMEOUT_S` (a connection that hears but cannot send), connect afresh, whose
        `online` sends it again. Acknowledged, it reached the broker and the engine that
        said `online`: a fresh connection would not make an engine that does not answer
        answer (it would only connect again every few seconds); it goes again at the
        engine's next `online`, until its reply comes."""
        with contextlib.suppress(aiomqtt.MqttError):
            await client.publish(
                self.topics.cmd, json.dumps(command), qos=1, timeout=REPLY_TIMEOUT_S
            )
            return
        if self._client is client:
            self.reconnect()

    def _settle_reply(self, payload: bytes) -> None:
        answer = read_reply(payload)
        if answer is None:
            return
        reply = self._pending.get(str(answer.get("id")))
        if self._unanswered is not None and answer.get("id") == self._unanswered["id"]:
            self._unanswered = None
            if reply is None:  # its request said it had no reply: it has one now
                self._on_update(LateReply(_outcome(answer)))
        if reply is not None and not reply.done():
            reply.set_result(answer)


def _outcome(answer: dict[str, Any]) -> Outcome:
    """What the engine's reply says became of a command."""
    if answer.get("ok") is True:
        return Outcome("done")
    return Outcome("refused", str(answer.get("error") or "the engine gave no reason"))


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


def read_state(payload: bytes, room: str | None = None) -> StateMessage:
    """A retained `state` payload, its text safe to draw (`shown`), or why it is unreadable
    (never raises); with `room`, one whose `room` is another's is refused. Read strictly: a
    number must be a JSON number (the engine writes no other), so no `"NaN"` or
    `"Infinity"` string becomes a float no clock can show."""
    if not payload:
        return StateMessage(None)
    try:
        data = shown_tree(read_json(payload, max_bytes=MAX_STATE_BYTES))
        state = RoomState.model_validate(data, strict=True)
    except UntrustedJsonError as problem:
        return StateMessage(None, f"unreadable state from the engine ({problem})")
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the snapshot"
        return StateMessage(None, f"unreadable state from the engine ({where}: {first['msg']})")
    if room is not None and state.room != room:  # not echoed: it may be any text
        return StateMessage(None, f"a state of another room on room {room}'s topic: not shown")
    return StateMessage(state)
