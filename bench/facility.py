"""Many rooms on one broker: a room's command-to-wire latency alone and among many, and the
facility overview's time to show every room.

Each room is the example room with device topics of its own (`f<n>-…`), its engine and its
simulated devices as processes, all on the benchmark's one Mosquitto. Each room's music and
tones play through VLC on ALSA's `null` device, a sound card that takes the audio at the
card's pace and discards it: as in a real room, the output works (VLC's default output has no
sound card here and fails, and VLC opens it anew for every track). The latency is measured
exactly as the `latency` part does (bench.latency), first with the room alone on the broker,
then with the other rooms running sessions beside it: each of them in its standard plan's
centering phase (lights, the headset's breathing guide, music on two crossfading decks,
vitals every second), its console-side control client connected. The overview is the real
`OverviewApp`, headless, timed from its start until every room's row shows its engine
online; its baseline is a plain client receiving the same retained status and state messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import yaml

from bench import latency
from bench.figures import Figure, Target, percentile
from bench.rooms import on_broker
from bench.stage import room_running
from controller.config import Room, load_room
from controller.config.models import BrokerSettings
from controller.console.overview import EVERY_STATE, EVERY_STATUS, OverviewApp
from tests.support.mosquitto import Mosquitto
from tests.support.room import copy_room

P99_TARGET_RATIO = 1.5
OVERVIEW_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FacilitySamples:
    rooms: int
    alone: latency.LatencySamples
    among: latency.LatencySamples
    overview_s: float
    raw_overview_s: float


def facility_room(broker: Mosquitto, workdir: Path, room_id: str, number: int) -> Room:
    """The example room as room `number` of the facility: device topics prefixed `f<n>-`, its
    music and tones on ALSA's `null` device."""
    folder = copy_room(workdir / room_id, room_id, topic_prefix=f"f{number}-")
    for path in (folder / "devices").glob("*.yaml"):
        inventory = yaml.safe_load(path.read_text())  # a list of devices, or one device
        for device in inventory.get("devices", [inventory]):
            if device["driver"] in ("vlc", "tones"):
                device.update(aout="alsa", audio_device="null")
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return on_broker(load_room(folder / "config.yaml"), broker, room_id, workdir)


async def measure(broker: Mosquitto, workdir: Path, rooms: int, samples: int) -> FacilitySamples:
    alone = await latency.measure(
        facility_room(broker, workdir, "bench-facility-alone", 0), broker, workdir, samples
    )
    others = [facility_room(broker, workdir, f"bench-facility-{n}", n) for n in range(1, rooms)]
    async with contextlib.AsyncExitStack() as stack:
        for room in others:
            running = await stack.enter_async_context(room_running(room, broker, workdir))
            await running.start_session()
        measured_room = facility_room(broker, workdir, "bench-facility-0", 0)
        among = await latency.measure(measured_room, broker, workdir, samples)
        # The measured room's engine has stopped (its status says offline); the overview
        # shows it so, and the others online.
        running_ids = [room.room_id for room in others]
        every_id = [measured_room.room_id, *running_ids]
        raw_s = await raw_overview(broker, every_id)
        overview_s = await overview(broker, every_id, running_ids)
    return FacilitySamples(rooms, alone, among, overview_s, raw_s)


async def overview(broker: Mosquitto, room_ids: list[str], running: list[str]) -> float:
    """Seconds from the overview's start until it shows every room, the running ones online."""
    settings = BrokerSettings(mode="external", host=broker.host, port=broker.port)
    started = time.perf_counter()
    app = OverviewApp(settings, root=Path.cwd())

    def shown() -> bool:
        return all(room in app.rows for room in room_ids) and all(
            app.rows[room].engine == "online" for room in running
        )

    async with app.run_test(size=(140, 10 + len(room_ids))) as pilot:
        while not shown():
            if time.perf_counter() - started > OVERVIEW_TIMEOUT_S:
                raise TimeoutError("the overview never showed every room")
            await pilot.pause(0.005)
        return time.perf_counter() - started


async def raw_overview(broker: Mosquitto, room_ids: list[str]) -> float:
    """Seconds from a plain client's start until it has every room's retained status and state."""
    wanted = {f"sessionroom/{room}/{part}" for room in room_ids for part in ("status", "state")}
    started = time.perf_counter()
    client_id = f"bench-overview-{uuid.uuid4().hex[:8]}"
    async with aiomqtt.Client(broker.host, broker.port, identifier=client_id) as client:
        await client.subscribe(EVERY_STATUS, qos=1)
        await client.subscribe(EVERY_STATE, qos=1)
        async with asyncio.timeout(OVERVIEW_TIMEOUT_S):
            async for message in client.messages:
                wanted.discard(str(message.topic))
                if not wanted:
                    break
    return time.perf_counter() - started


def latency_figure(
    measured: FacilitySamples, fraction: float, target: Target | None = None
) -> Figure:
    """The `fraction` percentile among the rooms, beside the same room's alone."""
    name = f"p{round(fraction * 100)}"
    return Figure(
        f"cmd→wire {name} among {measured.rooms} rooms (n={len(measured.among.engine)})",
        percentile(measured.among.engine, fraction) * 1000.0,
        "ms",
        percentile(measured.alone.engine, fraction) * 1000.0,
        f"the room alone, {name}",
        target,
    )


def figures(measured: FacilitySamples) -> list[Figure]:
    rooms = measured.rooms
    return [
        latency_figure(measured, 0.50),
        latency_figure(measured, 0.99, Target.ratio_at_most(P99_TARGET_RATIO)),
        Figure(
            f"overview shows {rooms} rooms ({rooms - 1} running)",
            measured.overview_s * 1000.0,
            "ms",
            measured.raw_overview_s * 1000.0,
            "raw retained read",
        ),
    ]
