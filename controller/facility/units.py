"""systemd units that run a room as a service: its engine, and its console for a tablet.

`sessionroom facility units` writes one engine unit and one web-console unit per room, with
the paths of this installation. The engine restarts on failure (a session it had open is
resumed from the journal), stops on SIGTERM (the session stays open), and runs sandboxed: the
file system is read-only but for the room's data folder, no new privileges, private /tmp,
files it creates are its user's alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controller.config import Room

SANDBOX = """\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
UMask=0077
Environment=XDG_CACHE_HOME=/tmp PYTHONUNBUFFERED=1
"""
"""Sandboxing shared by both units (audio devices stay reachable: VLC plays the music)."""

DEFAULT_WEB_PORT = 8765


@dataclass(frozen=True)
class UnitFile:
    name: str
    text: str


def engine_unit(room: Room, sessionroom: Path, user: str) -> UnitFile:
    """The unit running `sessionroom run` for `room`."""
    folder = room.root.resolve()
    text = f"""\
[Unit]
Description=Sessionroom engine of room {room.room_id}
Documentation=file://{folder}/config.yaml
After=network-online.target mosquitto.service
Wants=network-online.target

[Service]
Type=simple
User={user}
SupplementaryGroups=audio
WorkingDirectory={folder}
ExecStart={sessionroom} run --config {folder}/config.yaml
Restart=on-failure
RestartSec=2
KillSignal=SIGTERM
TimeoutStopSec=20
ReadWritePaths={room.data_dir}
{SANDBOX}
[Install]
WantedBy=multi-user.target
"""
    return UnitFile(f"sessionroom-engine-{room.room_id}.service", text)


def web_console_unit(room: Room, sessionroom: Path, user: str, port: int) -> UnitFile:
    """The unit serving `room`'s console to a browser on every address, behind a sign-in."""
    folder = room.root.resolve()
    password = folder / "facility" / "web-console.password"
    text = f"""\
[Unit]
Description=Sessionroom console of room {room.room_id} for a browser (port {port})
After=network-online.target sessionroom-engine-{room.room_id}.service
Wants=network-online.target

[Service]
Type=simple
User={user}
WorkingDirectory={folder}
ExecStart={sessionroom} console --web --config {folder}/config.yaml --host 0.0.0.0 \\
    --port {port} --password-file {password}
Restart=on-failure
RestartSec=2
{SANDBOX}
[Install]
WantedBy=multi-user.target
"""
    return UnitFile(f"sessionroom-console-{room.room_id}.service", text)
