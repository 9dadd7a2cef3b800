"""A room brought up for measuring: its engine and simulated devices on the benchmark's broker."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.processes import EngineProcess, engine, simulated_room
from controller.api.client import RoomClient
from controller.api.topics import RoomTopics
from controller.config import Room
from controller.config.settings import BrokerSettings
from controller.sim import is_simulated
from tests.support.mosquitto import Mosquitto

READY_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 10.0
PARTICIPANT = "B001"


@dataclass(frozen=True)
class RunningRoom:
    room: Room
    topics: RoomTopics
    engine: EngineProcess
    simulator: subprocess.Popen[bytes]
    """`sessionroom sim` for the room's devices."""
    client: RoomClient
    client_exit: contextlib.AsyncExitStack
    """Closes `client` (`close_client`, or the end of `room_running`'s block)."""

    async def close_client(self) -> None:
        """Close the control client: this process then reads nothing more of the room's own
        traffic (its state, its replies), and `command` and `start_session` no longer work."""
        await self.client_exit.aclose()

    async def command(self, action: str, **parameters: Any) -> dict[str, Any]:
        """Send a command through the control API; raise if the engine refuses it."""
        reply = await self.client.command(action, timeout=COMMAND_TIMEOUT_S, **parameters)
        if not reply.get("ok"):
            raise RuntimeError(f"the engine refused {action}: {reply.get('error')}")
        return reply

    async def start_session(self, plan: str | None = None) -> None:
        """Open a session (the room's default plan unless named), so the journal records."""
        chosen = plan or self.room.settings.default_plan or next(iter(self.room.plans))
        await self.command("start", plan=chosen, participant=PARTICIPANT)


StateCheck = Callable[[dict[str, Any]], str | None]
"""Looks at the engine's state: what is not as wanted yet, in words, or None when all is."""


async def state_when(client: RoomClient, check: StateCheck, timeout: float) -> dict[str, Any]:
    """The engine's state as it is next published once `check` finds nothing missing.

    The engine publishes its state after every command and at least once a second; a
    TimeoutError says what was still missing after `timeout`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    missing = "no state came"
    while loop.time() < deadline:
        state = await client.state(timeout=max(0.1, deadline - loop.time()))
        found = check(state)
        if found is None:
            return state
        missing = found
    raise TimeoutError(missing)


async def wait_devices_online(client: RoomClient, room: Room, timeout: float) -> None:
    """Wait until the engine's state shows every simulated device online."""
    simulated = {device.id for device in room.devices.values() if is_simulated(device)}

    def offline(state: dict[str, Any]) -> str | None:
        devices = state["devices"]
        down = sorted(key for key in simulated if devices[key]["available"] != "online")
        return f"{len(down)} simulated device(s) never came online: {down[:5]}" if down else None

    await state_when(client, offline, timeout)


@contextlib.asynccontextmanager
async def room_running(
    room: Room,
    broker: Mosquitto,
    workdir: Path,
    *,
    time_scale: float = 1.0,
    trace_memory: bool = False,
) -> AsyncIterator[RunningRoom]:
    """The room's engine and simulator running, every device online, a control client ready."""
    room_id = room.room_id
    config = room.config_path
    with (
        engine(
            config,
            broker,
            room_id,
            workdir,
            time_scale=time_scale,
            trace_memory=trace_memory,
        ) as engine_process,
        simulated_room(config, broker, room_id, workdir) as simulator,
    ):
        settings = BrokerSettings(mode="external", host=broker.host, port=broker.port)
        client = RoomClient(settings, room=room_id, client_id=f"bench-ctl-{uuid.uuid4().hex[:8]}")
        async with contextlib.AsyncExitStack() as client_exit:
            await client_exit.enter_async_context(client)
            await client.wait_online(READY_TIMEOUT_S)
            await wait_devices_online(client, room, READY_TIMEOUT_S)
            topics = RoomTopics(room_id)
            yield RunningRoom(room, topics, engine_process, simulator, client, client_exit)
