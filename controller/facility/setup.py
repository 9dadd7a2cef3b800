"""`sessionroom facility init`: everything one Mosquitto 2.0 needs to host several rooms.

Writes, into the facility folder, the broker's configuration (`mosquitto.conf`), its CA and TLS
certificate, two password files and the ACL file, and into each room's folder (`facility/`)
the CA certificate, one password file per role, per device and per Zigbee2MQTT base topic
(`zigbee2mqtt/<base>.password`), and `broker.yaml`: the
`broker:` section of that room's config.yaml (written into it with `update_configs`).

Two TLS listeners, no plaintext one: on `port` consoles, ctl, replay, the front desk and the
overview log in with client ids that must start with `sessionroom-`; on `room_port` engines,
devices and Zigbee2MQTT log in and the broker replaces each client id by the user name. So
no client can take an engine's or a device's client id (which would disconnect it), while
several consoles of a room may share its console login.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.api.topics import MAX_STATE_BYTES
from controller.config import Room
from controller.config.settings import BrokerSettings, TlsSettings
from controller.config.yamlsource import read_room_file
from controller.facility.access import (
    FRONT_DESK,
    HOME_ASSISTANT,
    OVERVIEW,
    FacilityError,
    Login,
    RoomAccess,
    acl_file,
    check_rooms,
    facility_logins,
    room_access,
    zigbee2mqtt_user,
)
from controller.facility.certificates import certificate_authority, server_certificate
from controller.facility.files import keep_secret, private_folder, write_secret
from controller.facility.passwords import new_password, password_file

CLIENT_ID_PREFIX = "sessionroom-"
MESSAGE_SIZE_LIMIT = 2 * MAX_STATE_BYTES
"""The largest message the broker takes (MQTT allows 256 MB): twice a room's largest readable
message (its state), so one room's login cannot make the broker every room relies on hold
messages of hundreds of megabytes, and a state too large to read still arrives as such."""
ROOM_FOLDER = "facility"
"""The folder inside each room's folder that holds its logins and the CA certificate."""
ZIGBEE2MQTT_FOLDER = "zigbee2mqtt"
"""Inside ROOM_FOLDER: the password of the room's Zigbee2MQTT of each base topic."""
ROOM_BROKER_CONF = "mosquitto-room.conf"
"""Inside ROOM_FOLDER, with `--bridge`: the room's own broker and its bridge to the facility."""
MAX_ROOM_BROKER_CONF_BYTES = 64 * 1024


@dataclass(frozen=True)
class FacilityPlan:
    """What `facility init` is asked to make."""

    rooms: Sequence[Room]
    output: Path
    names: Sequence[str]
    """Host names and addresses in the broker's certificate; clients connect to the first."""
    port: int = 8883
    room_port: int = 8884
    bind: str | None = None
    """The address both listeners bind to; every address when None."""
    name: str = "Facility"
    bridged: bool = False
    """Each room runs its own broker bridged to the facility's (`mosquitto-room.conf`)."""
    local_port: int = 1883
    """The room-local broker's port (on 127.0.0.1), when bridged."""
    dropped: Sequence[str] = ()
    """Rooms of the facility's ACL to remove; any other room it has must be in `rooms`."""


def init_facility(plan: FacilityPlan, *, update_configs: bool = False) -> list[Path]:
    """Write the broker's and the rooms' files; the files written. FacilityError on a clash."""
    rooms = [room_access(room, bridged=plan.bridged) for room in plan.rooms]
    check_rooms(rooms)
    output = plan.output.resolve()
    _check_no_room_left_out(plan, output / "acl")
    private_folder(output)
    private_folder(output / "data")
    ca, ca_key = certificate_authority(output / "ca.pem", output / "ca.key", plan.name)
    server_certificate(ca, ca_key, plan.names, output / "server.pem", output / "server.key")
    written = [output / name for name in ("ca.pem", "ca.key", "server.pem", "server.key")]
    passwords: dict[str, str] = {}
    for login in (FRONT_DESK, OVERVIEW, HOME_ASSISTANT):
        path = output / f"{login}.password"
        passwords[login] = keep_password(path)
        written.append(path)
    for login in (FRONT_DESK, OVERVIEW):
        _secret(output / f"{login}.yaml", facility_login(login, plan))
        written.append(output / f"{login}.yaml")
    ca_pem = (output / "ca.pem").read_bytes()
    for access in rooms:
        written += _room_files(access, plan, ca_pem, passwords, update_configs=update_configs)
    logins = [login for access in rooms for login in access.logins] + facility_logins(rooms)
    files = {
        "rooms.passwd": password_file(
            {x.username: passwords[x.username] for x in logins if x.bound}
        ),
        "clients.passwd": password_file(
            {x.username: passwords[x.username] for x in logins if not x.bound}
        ),
        "acl": acl_file(logins),
        "mosquitto.conf": mosquitto_conf(plan, output),
    }
    for name, text in files.items():
        _secret(output / name, text)
        written.append(output / name)
    return written


def _check_no_room_left_out(plan: FacilityPlan, acl: Path) -> None:
    """FacilityError when the facility already has a room `plan` neither names nor drops:
    writing the files would take that room's logins away (its engine, devices, consoles and
    Home Assistant's button for it) at the broker's next start or reload."""
    if not acl.exists():
        return
    engines = (line.removeprefix("user ") for line in acl.read_text().splitlines())
    existing = {name.removeprefix("engine.") for name in engines if name.startswith("engine.")}
    left_out = sorted(existing - {room.room_id for room in plan.rooms} - set(plan.dropped))
    if left_out:
        named = ",".join(left_out)
        raise FacilityError(
            f"the facility has room(s) {named} that --rooms does not name: writing it would "
            f"take their logins away; name every room, or remove them with --drop {named} "
            "(after `sessionroom facility retire` for each: it clears what a room left on the "
            "broker, with the room's logins)"
        )


def mosquitto_conf(plan: FacilityPlan, folder: Path) -> str:
    """The broker's configuration; every file it names is in `folder`."""
    bind = f" {plan.bind}" if plan.bind else ""
    tls = (
        f"cafile {folder / 'ca.pem'}\n"
        f"certfile {folder / 'server.pem'}\n"
        f"keyfile {folder / 'server.key'}\n"
        "tls_version tlsv1.2\n"
        "allow_anonymous false\n"
        f"acl_file {folder / 'acl'}\n"
    )
    return (
        "# Sessionroom facility broker (Mosquitto 2.0), written by `sessionroom facility init`.\n"
        "# Run: mosquitto -c mosquitto.conf (as a user that can read this folder).\n"
        "per_listener_settings true\n"
        f"clientid_prefixes {CLIENT_ID_PREFIX}\n"
        "persistence true\n"
        f"persistence_location {folder / 'data'}/\n"
        "set_tcp_nodelay true\n"
        "max_queued_messages 10000\n"
        f"message_size_limit {MESSAGE_SIZE_LIMIT}\n"
        "\n"
        f"# Consoles, ctl, replay, front desk, overview: client ids start with {CLIENT_ID_PREFIX}\n"
        f"listener {plan.port}{bind}\n"
        f"password_file {folder / 'clients.passwd'}\n" + tls + "\n"
        "# Engines and devices: one login is one connection; the client id is the user name.\n"
        f"listener {plan.room_port}{bind}\n"
        "use_username_as_clientid true\n"
        f"password_file {folder / 'rooms.passwd'}\n" + tls
    )


def facility_login(login: str, plan: FacilityPlan) -> str:
    """The broker settings of a facility-wide login (`sessionroom console --facility`)."""
    return (
        f"# The {login} login; paths are relative to this file's folder.\n"
        "# sessionroom console --facility FILE shows every room, read-only.\n"
        "broker:\n"
        "  mode: external\n"
        f"  host: {plan.names[0]}\n"
        f"  port: {plan.port}\n"
        "  tls:\n"
        "    ca_file: ca.pem\n"
        f"  username: {login}\n"
        f"  password_file: {login}.password\n"
    )


def broker_section(access: RoomAccess, plan: FacilityPlan) -> str:
    """The `broker:` section of the room's config.yaml (paths relative to the room's folder)."""
    room_id = access.room.room_id
    folder = ROOM_FOLDER
    return (
        "broker:\n"
        "  mode: external\n"
        f"  host: {plan.names[0]}\n"
        f"  port: {plan.port}\n"
        "  tls:\n"
        f"    ca_file: {folder}/ca.pem\n"
        "  credentials:\n"
        "    engine:\n"
        f"      username: engine.{room_id}\n"
        f"      password_file: {folder}/engine.password\n"
        f"      port: {plan.room_port}\n"
        "    intake:\n"
        f"      username: intake.{room_id}\n"
        f"      password_file: {folder}/intake.password\n"
        f"      port: {plan.room_port}\n"
        "    devices:\n"
        f'      username: "device.{room_id}.{{device}}"\n'
        f'      password_file: "{folder}/devices/{{device}}.password"\n'
        f"      port: {plan.room_port}\n"
        "    zigbee2mqtt:\n"
        f'      username: "{zigbee2mqtt_user(room_id, "{base}")}"\n'
        f'      password_file: "{folder}/{ZIGBEE2MQTT_FOLDER}/{{base}}.password"\n'
        f"      port: {plan.room_port}\n"
        "    console:\n"
        f"      username: console.{room_id}\n"
        f"      password_file: {folder}/console.password\n"
        "    replay:\n"
        f"      username: replay.{room_id}\n"
        f"      password_file: {folder}/replay.password\n"
    )


def room_broker_conf(access: RoomAccess, plan: FacilityPlan, folder: Path, password: str) -> str:
    """The room's own Mosquitto: on the room PC's loopback, bridged to the facility broker.

    The room's engine, simulated devices and consoles connect to it, so the room runs on when
    the facility network fails; `sessionroom/<room>/#` crosses the bridge both ways (state and
    status out, commands in), and `sessionroom/<room>/bridge` says `1` or `0` (the bridge's
    will) on both brokers. Commands sent while the bridge is down are not kept for later.
    """
    room_id = access.room.room_id
    return (
        f"# Room {room_id}'s own broker, bridged to the facility broker; written by\n"
        "# `sessionroom facility init --bridge`. Run: mosquitto -c mosquitto-room.conf\n"
        "persistence true\n"
        f"persistence_location {folder / 'local-data'}/\n"
        "set_tcp_nodelay true\n"
        f"listener {plan.local_port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "\n"
        f"connection facility-{room_id}\n"
        f"address {plan.names[0]}:{plan.room_port}\n"
        f"bridge_cafile {folder / 'ca.pem'}\n"
        f"remote_username bridge.{room_id}\n"
        f"remote_password {password}\n"
        f"remote_clientid sessionroom-bridge-{room_id}\n"
        "cleansession true\n"
        "restart_timeout 1 10\n"
        "notifications true\n"
        f"notification_topic sessionroom/{room_id}/bridge\n"
        f"topic sessionroom/{room_id}/# both 1\n"
    )


def bridged_facility(room_folder: Path, room_id: str) -> BrokerSettings | None:
    """For a room with a broker of its own: the facility broker at the `address` its bridge
    connects to (the room listener), as the room's engine login reaches it; None for a room
    without one. The engine login, not the bridge's: on the room listener a login's client id
    is its user name, and nobody uses the engine's there while the engine runs on the room's
    broker, where the bridge's own would cut the room's bridge off. ValueError when the
    file names no address; OSError when it cannot be read."""
    conf = room_folder / ROOM_FOLDER / ROOM_BROKER_CONF
    if not conf.exists():
        return None
    text = read_room_file(conf, MAX_ROOM_BROKER_CONF_BYTES).decode("utf-8", "replace")
    addresses = [line.split()[1:] for line in text.splitlines() if line.startswith("address ")]
    if len(addresses) != 1 or len(addresses[0]) != 1 or ":" not in addresses[0][0]:
        raise ValueError(f"{conf}: no single `address HOST:PORT` of the facility broker")
    host, _, port = addresses[0][0].rpartition(":")
    return BrokerSettings(
        mode="external",
        host=host,
        port=int(port),
        tls=TlsSettings(ca_file=f"{ROOM_FOLDER}/ca.pem"),
        username=f"engine.{room_id}",
        password_file=f"{ROOM_FOLDER}/engine.password",
    )


def local_broker_section(plan: FacilityPlan) -> str:
    """The `broker:` section of a bridged room: its own broker on the room PC."""
    return (
        "# The room's own broker (facility/mosquitto-room.conf), bridged to the facility's.\n"
        "broker:\n"
        "  mode: external\n"
        "  host: 127.0.0.1\n"
        f"  port: {plan.local_port}\n"
    )


def _room_files(
    access: RoomAccess,
    plan: FacilityPlan,
    ca_pem: bytes,
    passwords: dict[str, str],
    *,
    update_configs: bool,
) -> list[Path]:
    folder = access.room.root.resolve() / ROOM_FOLDER
    private_folder(folder)
    private_folder(folder / "devices")
    private_folder(folder / ZIGBEE2MQTT_FOLDER)
    roles: list[tuple[Login, Path]] = [
        (access.engine, folder / "engine.password"),
        (access.intake, folder / "intake.password"),
        (access.console, folder / "console.password"),
        (access.replay, folder / "replay.password"),
    ]
    roles += [(login, folder / "devices" / f"{d}.password") for d, login in access.devices.items()]
    roles += [
        (login, folder / ZIGBEE2MQTT_FOLDER / f"{base}.password")
        for base, login in access.zigbee2mqtt.items()
    ]
    written = []
    for login, path in roles:
        passwords[login.username] = keep_password(path)
        written.append(path)
    for stale in {*(folder / "devices").glob("*"), *(folder / ZIGBEE2MQTT_FOLDER).glob("*")}:
        if stale not in written and stale.suffix == ".password":
            stale.unlink()  # a login no longer on the broker: e.g. a Zigbee light's own
    (folder / "ca.pem").write_bytes(ca_pem)
    section = broker_section(access, plan)
    if access.bridge is not None:
        password = keep_password(folder / "bridge.password")
        passwords[access.bridge.username] = password
        private_folder(folder / "local-data")
        _secret(folder / ROOM_BROKER_CONF, room_broker_conf(access, plan, folder, password))
        written += [folder / "bridge.password", folder / ROOM_BROKER_CONF]
        section = local_broker_section(plan)
    else:  # set up again without a broker of its own: its old one's files name no login now
        for stale in (folder / "bridge.password", folder / ROOM_BROKER_CONF):
            stale.unlink(missing_ok=True)
    _secret(folder / "broker.yaml", section)
    written += [folder / "ca.pem", folder / "broker.yaml"]
    if update_configs:
        config = access.room.config_path
        config.write_text(replace_broker_section(config.read_text(encoding="utf-8"), section))
        written.append(config)
    return written


TOP_LEVEL_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:")


def replace_broker_section(config_text: str, section: str) -> str:
    """config.yaml's text with its top-level `broker:` entry replaced by `section` (or added)."""
    lines = config_text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("broker:")), None)
    if start is None:
        return config_text.rstrip("\n") + "\n\n" + section
    end = start + 1
    while end < len(lines) and not TOP_LEVEL_KEY.match(lines[end]):
        end += 1
    while end - 1 > start and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1  # blank lines and comments before the next key stay with it
    return "".join([*lines[:start], section, *lines[end:]])


def keep_password(path: Path) -> str:
    """The password kept in `path`, or a new one written there (mode 0600, folder 0700)."""
    if path.exists():
        password = path.read_text(encoding="utf-8").strip()
        if password:
            keep_secret(path)
            return password
    password = new_password()
    private_folder(path.parent)
    _secret(path, password + "\n")
    return password


def _secret(path: Path, text: str) -> None:
    write_secret(path, text.encode("utf-8"))
