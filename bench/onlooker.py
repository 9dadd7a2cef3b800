"""A console's share of a room's traffic, in a process of its own.

    python -m bench.onlooker HOST PORT ROOM

The console's own MQTT link (`controller.console.link.RoomLink`) without its screen: it
subscribes to the room's status, state and replies, and reads every state as the console
does (validated into the state model). The latency benchmark runs one beside the room, so
the broker hands the engine's state, published after every command, to a console as it does
in a room, while the process that times the commands reads nothing of the room's own
traffic (a device never reads the state). It prints READY once it has read a state, and runs
until it is terminated (SIGTERM).
"""

from __future__ import annotations

import asyncio
import sys

from bench.relay import READY
from controller.console.link import Endpoint, LinkUpdate, RoomLink, StateMessage


async def look_on(host: str, port: int, room: str) -> None:
    ready = asyncio.Event()

    def heard(update: LinkUpdate) -> None:
        if isinstance(update, StateMessage) and update.state is not None and not ready.is_set():
            print(READY, flush=True)
            ready.set()

    await RoomLink(Endpoint(host, port), room, heard, client_id=f"bench-onlooker-{room}").run()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python -m bench.onlooker HOST PORT ROOM")
    asyncio.run(look_on(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
