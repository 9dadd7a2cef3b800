"""`sessionroom display`: be one screen device of the room and serve the page its browser shows."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from controller.cli.common import (
    EXIT_INVALID,
    Overrides,
    connection_options,
    device_broker_address,
    load_room_or_exit,
    log_to_stderr,
)
from controller.config import Room
from controller.config.models import Device
from controller.display.server import DisplayServer, tls_context

EPILOG = """\b
Examples:
  sessionroom display --device headset
  sessionroom display --device lightbar --host 0.0.0.0 --broker mqtt://10.0.0.5:1883
"""


@click.command(epilog=EPILOG)
@connection_options
@click.option("--device", "device_id", required=True, help="The display device (devices/).")
@click.option("--host", default=None, help="Serve the page here (default: the device's display).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve the page on this port (default: the device's display; 0: any free port).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every page connection and message.")
def display(
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
    device_id: str,
    host: str | None,
    port: int | None,
    verbose: bool,
) -> None:
    """Be one screen of the room (a headset/meditation display or a light bar) until stopped.

    The process is the device on the broker (vr/<id> or bls/<id>, retained availability
    with an offline will) and serves the page a browser on the screen opens full-screen:
    a kiosk browser on a TV, a tablet, a headset's browser. The device is online only
    while a page is open. The device file describes it under `display:` (port, host,
    colour, dot_size, tone, and cert_file/key_file to serve it over HTTPS, which a
    headset's browser needs for WebXR).
    """
    room = load_room_or_exit(
        config_path, Overrides(broker=broker, room_id=room_id, data_dir=data_dir), role="devices"
    )
    device = _display_device(room, device_id)
    log_to_stderr("controller.display", verbose)
    log_to_stderr("controller.sim", verbose)  # the device firmware's: commands it ignores
    assert device.display is not None
    try:
        tls = tls_context(device.display, room.root)
    except ValueError as error:
        click.echo(f"{device.id}: {error}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    server = DisplayServer(
        device,
        device_broker_address(room, device),
        room_id=room.room_id,
        content_dir=room.root / room.settings.paths.content,
        host=host,
        port=port,
        tls=tls,
        safety=room.settings.safety,
    )
    try:
        asyncio.run(_serve(server))
    except OSError as error:
        click.echo(f"{device.id}: cannot serve the page: {error}", err=True)
        raise SystemExit(1) from None
    click.echo(f"Stopped: {device.id} has reported itself offline.")


def _display_device(room: Room, device_id: str) -> Device:
    device = room.devices.get(device_id)
    if device is None or device.display is None:
        shown = sorted(d.id for d in room.devices.values() if d.display is not None)
        known = ", ".join(shown) or "none; add `display:` to a vr or visual bls device"
        raise click.BadParameter(
            f"{device_id!r} is not a display of the room (displays: {known})",
            param_hint="--device",
        )
    return device


async def _serve(server: DisplayServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    await server.run(stop, started=lambda url: click.echo(f"{server.device.id}: open {url}"))
