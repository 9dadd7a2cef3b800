"""A stand-in for the room's engine: publishes exactly the states a screen test wants to show.

STAND-IN, NOT THE ENGINE. `StandInEngine` speaks the engine's side of the MQTT API
(docs/control-api.md, `controller.api`) just enough for the console's tests: it publishes a
retained `status` (with `offline` as its will) and whatever `RoomState` a test gives it,
records every command that arrives on `cmd`, and answers each on `reply/<id>` with
`{"ok": true}`, with a refusal a test set, or not at all. It runs no phases and changes
no state by itself: tests publish the states they want to see.

It exists for what the real engine cannot give deterministically: snapshot tests of exact
screens (fixed times and values), states that are hard to provoke (a stale or unreadable
state, a refusal, no reply at all), and the exact command each key sends. Whether the
engine then does the right thing is tested against the real engine and the simulated room
in `test_console_real_engine.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from types import TracebackType
from typing import Any

import aiomqtt

from controller.api.state import RoomState
from controller.api.topics import OFFLINE, ONLINE, RoomTopics
from controller.cancelling import cancel_and_wait


class StandInEngine:
    """Publishes retained status and state for one room; records and answers its commands."""

    def __init__(self, host: str, port: int, room: str) -> None:
        self.topics = RoomTopics(room)
        self.commands: list[dict[str, Any]] = []
        self.refusals: dict[str, str] = {}
        """action → the error the reply gives."""
        self.silent: set[str] = set()
        """Actions that get no reply at all."""
        self.answers: dict[str, dict[str, Any]] = {}
        """Actions whose reply is this object, with the command's id (as no engine answers)."""
        self._client = aiomqtt.Client(
            host,
            port,
            identifier=f"standin-engine-{room}",
            will=aiomqtt.Will(self.topics.status, OFFLINE, qos=1, retain=True),
        )
        self._listener: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StandInEngine:
        await self._client.__aenter__()
        await self._client.subscribe(self.topics.cmd, qos=1)
        self._listener = asyncio.create_task(self._answer_commands())
        await self.publish_status(ONLINE)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Disconnect cleanly (no will), or quietly when the broker has already gone."""
        if self._listener is not None:
            # asks again if Python 3.11's wait_for lost the cancellation (controller/cancelling.py)
            await cancel_and_wait(self._listener)
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(exc_type, exc, traceback)

    async def publish_state(self, state: RoomState) -> None:
        await self._client.publish(self.topics.state, state.model_dump_json(), qos=1, retain=True)

    async def publish_raw_state(self, payload: bytes) -> None:
        """A retained `state` that is not a RoomState, as a broken engine might send."""
        await self._client.publish(self.topics.state, payload, qos=1, retain=True)

    async def publish_raw(self, topic: str, payload: bytes) -> None:
        """Any payload on any topic, as a hostile client might send."""
        await self._client.publish(topic, payload, qos=1)

    async def publish_status(self, status: str) -> None:
        await self._client.publish(self.topics.status, status, qos=1, retain=True)

    def actions(self) -> list[str]:
        return [str(command.get("action")) for command in self.commands]

    async def _answer_commands(self) -> None:
        async for message in self._client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b"{}"
            command = json.loads(payload)
            self.commands.append(command)
            action = command.get("action")
            if action in self.silent:
                continue
            reply: dict[str, Any] = {"id": command["id"], "ok": action not in self.refusals}
            if action in self.refusals:
                reply["error"] = self.refusals[action]
            if action in self.answers:
                reply = {**self.answers[action], "id": command["id"]}
            await self._client.publish(self.topics.reply(command["id"]), json.dumps(reply), qos=1)
