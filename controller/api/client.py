"""A client of a room's engine over MQTT: one command and its reply, or the state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.api.topics import (
    MAX_REPLY_BYTES,
    MAX_STATE_BYTES,
    MAX_STATUS_BYTES,
    ONLINE,
    RoomTopics,
)
from controller.bus import Message
from controller.bus.bus import Bus
from controller.config.settings import BrokerSettings
from controller.untrusted import UntrustedJsonError, read_json

CONNECT_TIMEOUT_S = 5.0
LIVE_STATE_WAIT_S = 3.5
"""How long `kept_state` waits for a state published live by an engine whose retained status
says `online`: a running engine publishes its state every second (`STATE_EVERY_S` of
`controller.engine.service`); one that died unseen keeps that status until the broker's
keepalive runs out, and publishes none."""


class EngineUnreachable(Exception):  # noqa: N818 - a condition to report, not a program error
    """No broker, or no engine answered in time."""


def new_command_id() -> str:
    return uuid.uuid4().hex


class RoomClient:
    """`async with RoomClient(settings, room=...) as client:` then `command()` / `state()`."""

    def __init__(
        self, settings: BrokerSettings, *, room: str, client_id: str, root: Path | None = None
    ) -> None:
        """`root` is the room's folder, where relative password and certificate files start."""
        self.topics = RoomTopics(room)
        self._bus = Bus(settings, client_id=client_id, root=root, retry_max_s=1.0)
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._state: asyncio.Future[dict[str, Any]] | None = None
        self._kept: Message | None = None
        """The last state message, retained or live (`kept_state`)."""
        self._state_kept = asyncio.Event()
        self._state_live = asyncio.Event()
        """Set once a state comes in published live (not the broker's retained copy)."""
        self._status: str | None = None
        self._online = asyncio.Event()
        # the status first: its retained message comes before the state's (`engine_status`)
        self._bus.subscribe(self.topics.status, self._on_status)
        self._bus.subscribe(self.topics.state, self._on_state)
        self._bus.subscribe(self.topics.replies, self._on_reply)
        self._event_handlers: list[Callable[[dict[str, Any]], None]] = []

    async def __aenter__(self) -> RoomClient:
        await self._bus.__aenter__()
        if not await self._bus.wait_connected(CONNECT_TIMEOUT_S):
            await self._bus.__aexit__(None, None, None)
            raise EngineUnreachable("cannot reach the MQTT broker")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._bus.__aexit__(None, None, None)

    async def command(self, action: str, *, timeout: float, **params: Any) -> dict[str, Any]:
        """Send a command and return the engine's reply (`{"id", "ok", "error"?}`)."""
        deadline = asyncio.get_running_loop().time() + timeout
        await self.wait_online(timeout)
        remaining = max(0.1, deadline - asyncio.get_running_loop().time())
        command_id = new_command_id()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[command_id] = future
        payload = {"id": command_id, "action": action, "source": "ctl", **params}
        await self._bus.publish(self.topics.cmd, json.dumps(payload), qos=1)
        try:
            return await asyncio.wait_for(future, remaining)
        except TimeoutError:
            raise EngineUnreachable(self._silence(timeout)) from None
        finally:
            self._replies.pop(command_id, None)

    async def state(self, *, timeout: float) -> dict[str, Any]:
        """The engine's retained state."""
        self._state = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(self._state, timeout)
        except TimeoutError:
            raise EngineUnreachable(self._silence(timeout)) from None

    async def kept_state(self, *, timeout: float) -> dict[str, Any]:
        """The state the broker keeps for the engine: the last it published, whether or not
        it is still online (`engine_status` says); EngineUnreachable when there is none
        within `timeout`. While its status says `online`, a state it publishes live is
        waited for (up to `LIVE_STATE_WAIT_S`, within `timeout`): `state_live` says whether
        one came, else the engine may have died unseen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._state_kept.wait(), timeout)
        except TimeoutError:
            raise EngineUnreachable(self._silence(timeout)) from None
        if self._status == ONLINE and not self._state_live.is_set():
            wait_s = min(LIVE_STATE_WAIT_S, max(0.0, deadline - loop.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state_live.wait(), wait_s)
        assert self._kept is not None
        return _read_state(self._kept)

    @property
    def state_live(self) -> bool:
        """Whether a state was heard published live by the engine: not the copy the broker
        kept, nor that copy heard again unchanged (`kept_state`)."""
        return self._state_live.is_set()

    @property
    def engine_status(self) -> str | None:
        """The engine's status as last heard (`online`, `offline`); None if none was. Known
        by the time `kept_state` returns: the broker sends the retained status first."""
        return self._status

    def _silence(self, timeout: float) -> str:
        room = self.topics.room
        if self._status == "offline":
            return f"the engine of room {room} is offline"
        if self._status is None:
            return f"the engine of room {room} has never been online on this broker"
        return f"no answer from the engine of room {room} within {timeout:g} s (is it running?)"

    def on_event(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Call `handler` with every event the engine publishes from now on.

        The client subscribes to the events with the first handler (before any command it
        sends after this): a client that only commands or reads the state is not sent the
        room's event stream.
        """
        if not self._event_handlers:
            self._bus.subscribe(self.topics.events, self._on_event)
        self._event_handlers.append(handler)

    async def wait_online(self, timeout: float) -> None:
        """Wait until the engine says it is online."""
        try:
            await asyncio.wait_for(self._online.wait(), timeout)
        except TimeoutError:
            raise EngineUnreachable(self._silence(timeout)) from None

    def _on_event(self, message: Message) -> None:
        try:
            event = read_json(message.payload, max_bytes=MAX_REPLY_BYTES)
        except UntrustedJsonError:
            return
        for handler in self._event_handlers:
            handler(event)

    def _on_reply(self, message: Message) -> None:
        try:
            reply = read_json(message.payload, max_bytes=MAX_REPLY_BYTES)
        except UntrustedJsonError:
            return
        future = self._replies.get(str(reply.get("id"))) if isinstance(reply, dict) else None
        if future is not None and not future.done():
            future.set_result(reply)

    def _on_state(self, message: Message) -> None:
        # the last state heard again unchanged (a bridge passing the retained copy on, a
        # client replaying it) is no sign of a live engine: each of its states is new
        heard_again = self._kept is not None and message.payload == self._kept.payload
        if not message.retain and not heard_again:
            self._state_live.set()
        self._kept = message
        self._state_kept.set()
        if self._state is None or self._state.done():
            return
        try:
            self._state.set_result(_read_state(message))
        except EngineUnreachable as unreadable:
            self._state.set_exception(unreadable)

    def _on_status(self, message: Message) -> None:
        self._status = message.payload[:MAX_STATUS_BYTES].decode("utf-8", "replace")
        if self._status == "online":
            self._online.set()
        else:
            self._online.clear()


def _read_state(message: Message) -> dict[str, Any]:
    try:
        state = read_json(message.payload, max_bytes=MAX_STATE_BYTES)
    except UntrustedJsonError as problem:
        raise EngineUnreachable(f"the engine's state is unreadable: {problem}") from None
    if not isinstance(state, dict):
        raise EngineUnreachable("the engine's state is unreadable: not a JSON object")
    return state
