"""`sessionroom demo`: the whole room on one machine — embedded broker, engine, simulated devices.

The engine (`sessionroom run`, which hosts the embedded broker), the simulated room
(`sessionroom sim`) and one `sessionroom display` per screen of the room run as child
processes, exactly as in a facility. They read SESSIONROOM_BROKER as their --broker, so the
demo does too: with it, or with an external broker in config.yaml, nothing is embedded and
every part is a client of that broker. Headless, the demo
then runs the rehearsal plan itself and prints what happens.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from controller.api.client import EngineUnreachable, RoomClient
from controller.bus.credentials import unique_client_id
from controller.cli.common import (
    BROKER_ENVVAR,
    FiniteRange,
    FolderPath,
    Overrides,
    client_broker,
    config_option,
    load_room_or_exit,
)
from controller.config import Room
from controller.config.durations import format_duration
from controller.console import ConsoleApp, Endpoint

START_TIMEOUT_S = 20.0
SHOWN_KINDS = ("session", "phase", "scene", "safety", "alert")


@click.command(
    epilog="Examples:\n\n\b\n  sessionroom demo\n  sessionroom demo --headless --time-scale 60"
)
@config_option
@click.option(
    "--plan", default="rehearsal", show_default=True, help="The plan the headless demo runs."
)
@click.option(
    "--time-scale",
    type=FiniteRange(min=0.1, max=1000),
    default=10.0,
    show_default=True,
    help="Run the session clock N times faster.",
)
@click.option(
    "--data-dir",
    type=FolderPath(),
    default=None,
    help="Where the demo's journals go (default: a fresh temporary folder).",
)
@click.option("--headless", is_flag=True, help="Run the plan and print it, without the console.")
def demo(
    config_path: Path, plan: str, time_scale: float, data_dir: Path | None, headless: bool
) -> None:
    """Run the demo room: embedded broker, engine and simulated devices on this machine.

    In a terminal it opens the therapist's console on the room: choose the plan, type a
    participant code (e.g. P014), start, and steer the session with the keys in the footer.
    Headless (or without a terminal) it starts a session of the plan itself, prints each
    phase, scene and safety event as it happens, ends the session and stops everything.
    With an external broker (in config.yaml, or SESSIONROOM_BROKER=mqtt://HOST:PORT) none
    is embedded: every part of the demo is a client of that broker.
    """
    room = _demo_room(config_path)
    if plan not in room.plans:
        raise click.BadParameter(f"no plan named {plan!r}", param_hint="--plan")
    journals = data_dir or Path(tempfile.mkdtemp(prefix="sessionroom-demo-"))
    logging.getLogger("controller.bus").setLevel(logging.ERROR)  # retries while the engine starts
    interactive = not headless and sys.stdin.isatty() and sys.stdout.isatty()
    try:  # the broker login's files, relative to the room's folder, before anything starts
        endpoint = Endpoint.for_room(room)
    except ValueError as error:
        raise click.UsageError(f"{room.config_path}: {error}") from None
    children = _start_children(room, config_path, time_scale, journals, endpoint)
    try:
        if interactive:
            ConsoleApp(endpoint, room.room_id, default_plan=plan).run()
            outcome = "Console closed; the demo room is stopped."
        else:
            outcome = asyncio.run(_rehearse(room, plan, time_scale))
    except KeyboardInterrupt:
        outcome = "stopped."
    finally:
        _stop(children)
    click.echo(outcome)
    click.echo(
        f"Journal: {journals / 'sessions'} (try: sessionroom sessions --data-dir {journals})"
    )


def _demo_room(config_path: Path) -> Room:
    """The room, on the broker its children use (config.yaml's, or the one SESSIONROOM_BROKER
    names), with its console's login (as `sessionroom console` logs in); a usage error when
    its embedded broker would pick a free port, which none of the demo's parts could know."""
    overrides = Overrides(broker=os.environ.get(BROKER_ENVVAR) or None)  # empty: unset, as click
    try:
        room = load_room_or_exit(config_path, overrides, role="console")
    except click.BadParameter as error:  # the demo has no --broker of its own
        raise click.UsageError(f"{BROKER_ENVVAR}: {error.message}") from None
    if room.settings.broker.mode == "embedded" and room.settings.broker.port == 0:
        raise click.UsageError(
            f"{room.config_path}: the demo's embedded broker needs a port in config.yaml "
            "(broker: port: N): on port 0 it picks a free one, which the demo's console, "
            "simulated devices and screens cannot know"
        )
    return room


def _start_children(
    room: Room, config_path: Path, time_scale: float, journals: Path, endpoint: Endpoint
) -> list[subprocess.Popen[bytes]]:
    base = [sys.executable, "-m", "controller.cli"]
    config = ["--config", str(config_path)]
    journals.mkdir(parents=True, exist_ok=True)
    log = (journals / "demo.log").open("ab")
    engine = subprocess.Popen(
        [*base, "run", *config, "--time-scale", f"{time_scale:g}", "--data-dir", str(journals)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    simulator = subprocess.Popen(
        [*base, "sim", *config, "--time-scale", f"{time_scale:g}", "--skip-displays"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    screens = [device for device in room.devices.values() if device.display is not None]
    displays = [
        subprocess.Popen(
            [*base, "display", *config, "--device", device.id],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        for device in screens
    ]
    if room.settings.broker.mode == "embedded":
        parts = f"engine with embedded broker on {endpoint.url}, simulated devices"
    else:
        parts = f"engine and simulated devices on the external broker at {endpoint.url}"
    click.echo(
        f"Room {room.room_id}: {parts}; time scale {time_scale:g}. Logs: {journals / 'demo.log'}"
    )
    for device in screens:
        assert device.display is not None
        click.echo(
            f"Screen {device.id} ({device.label or device.kind}): "
            f"open {device.display.url} in a browser"
        )
    return [*displays, simulator, engine]


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


async def _rehearse(room: Room, plan_name: str, time_scale: float) -> str:
    plan = room.plans[plan_name]
    client = await _connect(room)
    if client is None:
        return "The engine did not start; see the demo log."
    try:
        client.on_event(_print_event)
        await client.wait_online(START_TIMEOUT_S)
        await _displays_connected(client, room)
        reply = await client.command("start", timeout=5, plan=plan_name, participant="DEMO1")
        if not reply.get("ok"):
            return f"The engine refused to start the session: {reply.get('error')}"
        await asyncio.sleep(plan.total_s / time_scale + 1.0)
        await client.command("end", timeout=5)
        await asyncio.sleep(0.5)
        return (
            f"Rehearsal complete: {len(plan.phases)} phases, "
            f"{format_duration(plan.total_s)} of session time."
        )
    finally:
        await client.__aexit__()


async def _displays_connected(client: RoomClient, room: Room) -> None:
    """Until each screen's display is on the broker (it then hears the session's first scene
    and shows it when a browser opens its page); gives up after START_TIMEOUT_S."""
    screens = {device.id for device in room.devices.values() if device.display is not None}
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
    while screens and asyncio.get_running_loop().time() < deadline:
        devices = (await client.state(timeout=START_TIMEOUT_S)).get("devices", {})
        if all(devices.get(d, {}).get("available", "unknown") != "unknown" for d in screens):
            return
        await asyncio.sleep(0.2)


async def _connect(room: Room) -> RoomClient | None:
    """A client of the demo's engine, once its embedded broker is up (None if it never is)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while loop.time() < deadline:
        client = RoomClient(
            client_broker(room),
            room=room.room_id,
            client_id=unique_client_id("sessionroom-demo"),
            root=room.root,
        )
        try:
            await client.__aenter__()
        except EngineUnreachable:
            await asyncio.sleep(0.5)
            continue
        return client
    return None


def _print_event(event: dict[str, Any]) -> None:
    if event.get("kind") not in SHOWN_KINDS:
        return
    t = event.get("t")
    when = format_duration(t) if isinstance(t, int | float) else "-"
    payload = event.get("payload")
    what = payload if isinstance(payload, str) else _describe(event["kind"], payload)
    click.echo(f"  {when:>7}  {event['kind']:<8} {what}")


def _describe(kind: str, payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    if kind == "phase":
        return f"{payload.get('to')} ({payload.get('reason')})"
    if kind == "scene":
        return f"{payload.get('name')} (fade {payload.get('fade_s')} s)"
    if kind == "session":
        return str(payload.get("event"))
    return str(payload.get("reason") or payload.get("message") or payload)
