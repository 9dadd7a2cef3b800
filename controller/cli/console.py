"""`sessionroom console`: the therapist's console for one room, in the terminal or a browser."""

from __future__ import annotations

from pathlib import Path

import click

from controller.cli.common import Overrides, connection_options, load_room_or_exit
from controller.console import ConsoleApp, Endpoint, KeymapError, load_keymap
from controller.console.view import STALE_AFTER_S
from controller.console.web import DEFAULT_HOST, DEFAULT_PORT, serve


@click.command(
    epilog="Examples: sessionroom console --config config.yaml; "
    "sessionroom console --web --host 0.0.0.0 --port 8765 (a tablet in the room)"
)
@connection_options
@click.option(
    "--keys",
    "keys_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A YAML keymap (control: key) overriding the default keys.",
)
@click.option(
    "--stale-after",
    type=click.FloatRange(min=1),
    default=STALE_AFTER_S,
    show_default=True,
    help="Seconds after which the engine's state is shown as stale.",
)
@click.option("--web", is_flag=True, help="Serve the console to a browser instead.")
@click.option(
    "--host", default=DEFAULT_HOST, show_default=True, help="Address to serve on (--web)."
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to serve on (--web).",
)
def console(
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
    keys_path: Path | None,
    stale_after: float,
    web: bool,
    host: str,
    port: int,
) -> None:
    """Run a session: phase, time, devices, music, BLS, vitals and the keys to steer them.

    Talks to the room's engine (`sessionroom run`) over MQTT only; quitting the console
    leaves the room running. With the embedded broker of config.yaml it connects to
    127.0.0.1 on the configured port.
    """
    room = load_room_or_exit(config_path, Overrides(broker, room_id, data_dir), role="console")
    try:
        endpoint = Endpoint.for_room(room)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    try:
        keymap = load_keymap(keys_path)
    except KeymapError as error:
        raise click.BadParameter(str(error), param_hint="--keys") from None
    if web:
        arguments = ["--config", str(config_path.resolve()), "--room", room.room_id]
        arguments += ["--stale-after", f"{stale_after:g}"]
        if broker is not None:
            arguments += ["--broker", broker]
        if keys_path is not None:
            arguments += ["--keys", str(keys_path.resolve())]
        title = f"Sessionroom console — {room.settings.name or room.room_id}"
        serve(arguments, host=host, port=port, title=title)
        return
    ConsoleApp(
        endpoint,
        room.room_id,
        keymap=keymap,
        default_plan=room.settings.default_plan,
        stale_after_s=stale_after,
    ).run()
