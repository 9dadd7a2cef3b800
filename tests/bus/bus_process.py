"""A bus in a process of its own, for tests that kill it: prints `connected`, then idles.

Usage: python -m tests.bus.bus_process HOST PORT CLIENT_ID STATUS_TOPIC
"""

from __future__ import annotations

import asyncio
import sys

from controller.bus import Will
from controller.bus.bus import Bus
from controller.config.settings import BrokerSettings


async def main(host: str, port: int, client_id: str, status_topic: str) -> None:
    bus = Bus(
        BrokerSettings(mode="external", host=host, port=port),
        client_id=client_id,
        will=Will(status_topic, "offline"),
        birth=Will(status_topic, "online"),
    )
    async with bus:
        if not await bus.wait_connected(timeout=10):
            sys.exit("no broker")
        print("connected", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    host, port, client_id, status_topic = sys.argv[1:]
    asyncio.run(main(host, int(port), client_id, status_topic))
