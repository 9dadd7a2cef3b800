"""`sessionroom ctl`: send one command to a room's engine and print the reply, or its state."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from controller.api.client import LIVE_STATE_WAIT_S, EngineUnreachable, RoomClient
from controller.api.commands import ACTIONS
from controller.bus.credentials import BusConfigError, unique_client_id
from controller.cli.common import (
    EXIT_INVALID,
    FiniteRange,
    Overrides,
    client_broker,
    connection_options,
    load_settings_or_exit,
)
from controller.untrusted import terminal_text

if TYPE_CHECKING:
    from controller.config.settings_file import RoomSettingsFile

EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3


OWN_FIELDS = ("id", "action", "source")
"""A command's fields ctl writes itself: a KEY=VALUE naming one would send another command
(`note action=clear_emergency`), or one under an id whose reply ctl never waits for."""


def parse_params(params: tuple[str, ...]) -> dict[str, Any]:
    """`KEY=VALUE` pairs; a VALUE that reads as JSON (1.5, true, "x") is taken as such."""
    parsed: dict[str, Any] = {}
    for param in params:
        key, equals, value = param.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{param!r} is not KEY=VALUE", param_hint="PARAMS")
        if key in OWN_FIELDS:
            raise click.BadParameter(
                f"{key!r} is the command's own: ACTION names the action, and ctl gives the "
                "id and the source",
                param_hint="PARAMS",
            )
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


@click.command(
    epilog="""Examples:

\b
  sessionroom ctl start plan=rehearsal participant=P014
  sessionroom ctl next
  sessionroom ctl volume level=0.4
  sessionroom ctl bls op=start speed_hz=1.0 passes=24
  sessionroom ctl note text="participant asked for a blanket"
  sessionroom ctl state
"""
)
@connection_options
@click.option(
    "--timeout",
    type=FiniteRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds to wait.",
)
@click.argument("action", type=click.Choice(["state", *ACTIONS]), metavar="ACTION")
@click.argument("params", nargs=-1, metavar="[KEY=VALUE]...")
def ctl(
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
    timeout: float,
    action: str,
    params: tuple[str, ...],
) -> None:
    """Send ACTION to the room's engine and print its reply; `state` prints the current state.

    ACTION is one of: state, start, next, back, goto, hold, release, extend, end, emergency,
    clear_emergency, note, scene, lights, volume, music, bls, vr. Exit status: 0 ok,
    1 refused (the reason is printed), 2 bad usage or room files, 3 no engine answered
    (`state` of an engine that is not online, or that publishes no state though its status
    says online, prints the last state it left, and exits 3).
    """
    room = load_settings_or_exit(config_path, Overrides(broker, room_id, data_dir), role="console")
    fields = parse_params(params)
    try:
        answer, status, live = asyncio.run(_ask(room, action, fields, timeout))
    except EngineUnreachable as problem:
        click.echo(f"error: {problem}", err=True)
        raise SystemExit(EXIT_UNREACHABLE) from None
    except BusConfigError as problem:  # a password or TLS file config.yaml names
        click.echo(f"{room.config_path}: {problem}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    if action == "state":
        click.echo(json.dumps(answer, indent=2))
        if status != "online" or not live:
            if status == "online":
                said = (
                    f"says it is online but published no state within {LIVE_STATE_WAIT_S:g} s "
                    "(it may have died unseen)"
                )
            elif status == "offline":
                said = "is offline"
            elif status is None:
                said = "has never been online on this broker"
            else:  # written by hand, or by something else: not shown (escapes, length)
                said = "has a status no engine writes"
            click.echo(
                f"error: the engine of room {room.room_id} {said}: "
                "this is the last state it published, not the room's now",
                err=True,
            )
            raise SystemExit(EXIT_UNREACHABLE)
        return
    if answer.get("ok") is True:  # as the engine writes it: `"ok": "no"` is no success
        click.echo("ok")
        return
    # the reason as text a terminal may show: a reply's text may drive it (escape sequences)
    click.echo(f"refused: {terminal_text(str(answer.get('error')))}", err=True)
    raise SystemExit(EXIT_REFUSED)


async def _ask(
    room: RoomSettingsFile, action: str, fields: dict[str, Any], timeout: float
) -> tuple[dict[str, Any], str | None, bool]:
    """The engine's answer (its reply, or its state), its status as last heard, and whether
    the state was published live (`RoomClient.state_live`)."""
    async with RoomClient(
        client_broker(room),
        room=room.room_id,
        client_id=unique_client_id(f"sessionroom-ctl-{room.room_id}"),
        root=room.root,
    ) as client:
        if action == "state":
            answer = await client.kept_state(timeout=timeout)
        else:
            answer = await client.command(action, timeout=timeout, **fields)
        return answer, client.engine_status, client.state_live
