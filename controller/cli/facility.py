"""`sessionroom facility`: host several rooms on one locked-down Mosquitto."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import sys
from pathlib import Path

import click

from controller.cli.common import (
    EXIT_INVALID,
    FiniteRange,
    Overrides,
    broker_option,
    config_option,
    load_room_or_exit,
    load_rooms_or_exit,
    load_settings_or_exit,
)
from controller.cli.ctl import EXIT_UNREACHABLE
from controller.facility.access import FacilityError
from controller.facility.setup import FacilityPlan, init_facility, keep_password
from controller.facility.units import DEFAULT_WEB_PORT, engine_unit, web_console_unit


@click.group(
    epilog="Example: sessionroom facility init --rooms rooms/a,rooms/b -o facility/ "
    "--name broker.clinic.lan --update-configs"
)
def facility() -> None:
    """Set up the facility broker that hosts several rooms (Mosquitto 2.0 with TLS and ACLs)."""


@facility.command(
    epilog="Example: sessionroom facility init --rooms rooms/a,rooms/b,rooms/c "
    "--name broker.clinic.lan -o facility/ --update-configs"
)
@click.option(
    "--rooms",
    required=True,
    metavar="FOLDER,...",
    help="The rooms' folders (each with its config.yaml), comma-separated.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="The facility folder: the broker's configuration, CA, certificate, logins and ACL.",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    default=("localhost",),
    show_default=True,
    help="Host name or address in the broker's certificate (repeatable; clients use the first).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8883, show_default=True,
              help="TLS listener for consoles, ctl, replay, front desk, overview.")  # fmt: skip
@click.option("--room-port", type=click.IntRange(1, 65535), default=8884, show_default=True,
              help="TLS listener for engines and devices (client id = user name).")  # fmt: skip
@click.option("--bind", default=None, help="Address the listeners bind to (default: every one).")
@click.option("--facility-name", default="Facility", show_default=True, help="Named in the CA.")
@click.option(
    "--bridge",
    is_flag=True,
    help="Each room gets its own broker (facility/mosquitto-room.conf) bridged to this one, "
    "so it runs on when the facility network fails.",
)
@click.option("--local-port", type=click.IntRange(1, 65535), default=1883, show_default=True,
              help="With --bridge: the room broker's port on the room PC's 127.0.0.1.")  # fmt: skip
@click.option(
    "--update-configs",
    is_flag=True,
    help="Write each room's new broker section into its config.yaml.",
)
@click.option(
    "--drop",
    default="",
    metavar="ROOM,...",
    help="Rooms of the facility to remove (comma-separated ids); every other room it has "
    "must be in --rooms.",
)
def init(
    rooms: str,
    output: Path,
    names: tuple[str, ...],
    port: int,
    room_port: int,
    bind: str | None,
    facility_name: str,
    bridge: bool,
    local_port: int,
    update_configs: bool,
    drop: str,
) -> None:
    """Write a Mosquitto 2.0 set-up for these rooms, and each room's logins into its folder.

    The facility folder gets mosquitto.conf (two TLS listeners, no plaintext, anonymous
    refused), ca.pem/ca.key (kept when they exist), server.pem/server.key, rooms.passwd and
    clients.passwd (Mosquitto's own format) and acl, plus the front desk's and the
    overview's passwords. Each room's folder gets facility/: ca.pem, a password per role
    (engine, its intake, console, replay) and per device, and broker.yaml, its
    config.yaml's `broker:` section. Passwords that exist are kept, so running it again adds
    a room; a room the facility has must be named again (or removed with --drop).
    """
    if port == room_port:
        raise click.BadParameter("must differ from --port", param_hint="--room-port")
    if bind is not None and not _host_name(bind):
        raise click.BadParameter(f"{bind!r} is not an address", param_hint="--bind")
    for name in names:
        if not _host_name(name):
            raise click.BadParameter(f"{name!r} is not a host name or address", param_hint="--name")
    loaded = load_rooms_or_exit(rooms, load_room_or_exit)
    plan = FacilityPlan(
        loaded, output, names, port, room_port, bind, facility_name, bridge, local_port,
        dropped=[room for room in drop.split(",") if room],
    )  # fmt: skip
    try:
        init_facility(plan, update_configs=update_configs)
    except FacilityError as error:
        raise click.UsageError(str(error)) from None
    except (OSError, ValueError) as error:
        click.echo(f"error: {error}", err=True)
        raise SystemExit(1) from None
    click.echo(f"Facility broker for {len(loaded)} room(s) in {output}:")
    click.echo(f"  mosquitto -c {output.resolve() / 'mosquitto.conf'}")
    click.echo(f"  listeners: {port} (consoles, tools), {room_port} (engines, devices), TLS only")
    for room in loaded:
        where = (
            "config.yaml updated" if update_configs else "put facility/broker.yaml in config.yaml"
        )
        click.echo(f"  room {room.room_id}: {room.root / 'facility'} ({where})")


@facility.command(
    epilog="Example: sessionroom facility units --rooms rooms/a,rooms/b -o /etc/systemd/system "
    "--user sessionroom"
)
@click.option("--rooms", required=True, metavar="FOLDER,...", help="The rooms' folders.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Where the unit files go (e.g. /etc/systemd/system).",
)
@click.option("--user", default="sessionroom", show_default=True, help="The services' user.")
@click.option(
    "--web-port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_WEB_PORT,
    show_default=True,
    help="The first room's browser console port; each next room gets the next port.",
)
def units(rooms: str, output: Path, user: str, web_port: int) -> None:
    """Write systemd units for each room: its engine, and its console for a tablet.

    The web console's sign-in password is the room's facility/web-console.password (made
    when missing). Then: systemctl daemon-reload; systemctl enable --now
    sessionroom-engine-ROOM sessionroom-console-ROOM.
    """
    loaded = load_rooms_or_exit(rooms, load_room_or_exit)
    sessionroom = Path(sys.executable).with_name("sessionroom")
    output.mkdir(parents=True, exist_ok=True)
    for offset, room in enumerate(loaded):
        keep_password(room.root / "facility" / "web-console.password")
        for unit in (
            engine_unit(room, sessionroom, user),
            web_console_unit(room, sessionroom, user, web_port + offset),
        ):
            (output / unit.name).write_text(unit.text)
            click.echo(f"{output / unit.name}")


@facility.command(
    epilog="Example: systemctl stop sessionroom-engine-room-c; sessionroom facility retire "
    "--config rooms/c/config.yaml; sessionroom facility init --rooms rooms/a,rooms/b "
    "-o facility/ --drop room-c"
)
@config_option
@broker_option("mqtts://HOST:PORT of the facility broker")
@click.option(
    "--timeout",
    type=FiniteRange(min=0.1, max=600),
    default=5.0,
    show_default=True,
    help="Seconds to wait for the broker.",
)
def retire(config_path: Path, broker: str | None, timeout: float) -> None:
    """Clear what a room left retained on the broker, before it is removed with --drop.

    Its status, state and bridge state, its Home Assistant discovery message, and its
    replays' status and state: without this, the facility overview lists the room as
    offline for good. Refused while the room's engine or a replay of it is online. Uses the
    room's replay login to read its status and its replays', its engine and replay logins to
    clear. A room with a broker of its own (init --bridge) is cleared there and on the
    facility broker its bridge reaches (facility/mosquitto-room.conf), with its engine login;
    its own broker may be gone. Exit status: 0 cleared, 1 refused, not all cleared or the
    room's broker still bridged, 2 bad usage or room files, 3 broker unreachable (or the
    replay login may not publish under its own topics).
    """
    from controller.bus.credentials import BusConfigError, client_settings
    from controller.facility.retire import (
        BrokerUnreachableError,
        Logins,
        RoomOnlineError,
        retire_room,
    )
    from controller.facility.setup import bridged_facility

    room = load_settings_or_exit(config_path, Overrides(broker))
    try:
        facility_login = bridged_facility(room.root, room.room_id)
    except (OSError, ValueError) as problem:
        click.echo(f"error: {problem}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    try:
        login = room.settings.broker.for_role
        engine, replay = (client_settings(login(role)) for role in ("engine", "replay"))
        logins = Logins(engine, replay, facility_login)
        done = asyncio.run(retire_room(room.settings, logins, root=room.root, timeout_s=timeout))
    except RoomOnlineError as refusal:
        click.echo(f"refused: {refusal}", err=True)
        raise SystemExit(1) from None
    except BrokerUnreachableError as problem:
        click.echo(f"error: {problem}", err=True)
        raise SystemExit(EXIT_UNREACHABLE) from None
    except BusConfigError as problem:
        click.echo(f"{room.config_path}: {problem}", err=True)
        raise SystemExit(EXIT_INVALID) from None
    from controller.console.formatting import shown  # a topic is anyone's: no escape codes

    bridged = done.facility is not None
    left: list[str] = []
    for where, cleared in (
        ("the room's broker", done.room),
        ("the facility broker", done.facility),
    ):
        for topic in [] if cleared is None else cleared.cleared:
            click.echo(f"cleared {shown(topic)}" + (f" on {where}" if bridged else ""))
        left += [] if cleared is None else cleared.left
    if done.room is None:
        click.echo(
            f"Room {room.room_id}'s own broker ({logins.engine.host}:{logins.engine.port}) was "
            "not reached: what it keeps retained stays in its persistence "
            f"({room.root / 'facility' / 'local-data'}), which goes with the room's folder."
        )
    if left:
        click.echo(f"error: still retained: {shown(', '.join(left))}", err=True)
        raise SystemExit(1)
    if done.still_bridged:
        click.echo(
            f"error: room {room.room_id}'s broker is still bridged to the facility broker: when "
            f"it stops, its bridge leaves sessionroom/{shown(room.room_id)}/bridge (0) there. Stop "
            "it on the room PC, then retire the room again.",
            err=True,
        )
        raise SystemExit(1)
    count = sum(len(c.cleared) for c in (done.room, done.facility) if c is not None)
    where = "the facility broker and its own" if bridged else "the broker"
    click.echo(
        f"Room {room.room_id} left nothing retained on {where} "
        f"({count} message(s) cleared, and its Home Assistant discovery message)."
    )


LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){LABEL}(?:\.{LABEL})*$")


def _host_name(name: str) -> bool:
    """Whether `name` is a DNS name or an IPv4 address (what clients and bridges connect to)."""
    try:
        return ipaddress.ip_address(name).version == 4
    except ValueError:
        return HOST_NAME.match(name) is not None
