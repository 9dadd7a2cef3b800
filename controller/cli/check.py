"""`sessionroom check`: validate the room's files and print a summary of the room."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import click

from controller.cli.common import config_option, load_room_or_exit
from controller.config import Room
from controller.config.durations import format_duration


@click.command(epilog="Example: sessionroom check --config /etc/sessionroom/room-a/config.yaml")
@config_option
def check(config_path: Path) -> None:
    """Validate config.yaml, devices, scenes, plans and playlists.

    Prints a summary of the room and exits 0 when everything is valid; otherwise lists
    every problem as FILE:LINE: message and exits 2.
    """
    room = load_room_or_exit(config_path)
    click.echo(summary(room))


def summary(room: Room) -> str:
    """A readable overview of a valid room."""
    settings = room.settings
    broker = settings.broker
    where = f"{broker.host}:{broker.port}" if broker.port else f"{broker.host}, a free port"
    lines = [
        f"Room {settings.room}" + (f" — {settings.name}" if settings.name else ""),
        f"  config   {room.config_path}",
        f"  broker   {broker.mode} ({where}{', TLS' if broker.tls else ''})",
        f"  journals {room.data_dir}",
        "",
        f"Devices ({len(room.devices)}):",
    ]
    by_kind: dict[str, list[str]] = defaultdict(list)
    for device in room.devices.values():
        by_kind[device.kind].append(f"{device.id} ({device.driver})")
    lines += [f"  {kind:<7} {', '.join(names)}" for kind, names in sorted(by_kind.items())]
    lines += ["", f"Scenes ({len(room.scenes)}): {', '.join(sorted(room.scenes))}"]
    lines += [
        f"  idle scene: {settings.idle_scene}; safe scene (emergency): {settings.safe_scene}",
        "",
        f"Plans ({len(room.plans)}):",
    ]
    for name, plan in sorted(room.plans.items()):
        phases = " → ".join(f"{p.name} {format_duration(p.duration)}" for p in plan.phases)
        lines.append(f"  {name:<12} {format_duration(plan.total_s):>6}  {plan.title}")
        lines.append(f"  {'':<12} {'':>6}  {phases}")
        checks = "; ".join(
            f"{p.name}: "
            + ", ".join(f"{s} every {format_duration(i)}" for s, i in p.measure_every.items())
            for p in plan.phases
            if p.measure_every
        )
        if checks:
            lines.append(f"  {'':<12} {'':>6}  readings due in {checks}")
    baseline = settings.checks.baseline
    lines += [
        "",
        "Vitals checks: a start needs no reason with every reading",
        f"  HR {baseline.hr_low:g} to under {baseline.hr_below:g}, SpO2 at least "
        f"{baseline.spo2_low:g} %, BP under {baseline.sys_below:g}/{baseline.dia_below:g}, "
        f"under {format_duration(baseline.max_age_s)} old",
        f"  recovery checklist: {', '.join(settings.checks.recovery)}",
    ]
    lines += ["", f"Playlists ({len(room.playlists)}):"]
    for name, playlist in sorted(room.playlists.items()):
        count = len(playlist.tracks)
        lines.append(f"  {name:<12} {count} track{'s' if count != 1 else ''}")
    lines += ["", "The room is valid."]
    return "\n".join(lines)
