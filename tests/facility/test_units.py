"""The systemd units `sessionroom facility units` writes, checked by systemd-analyze verify."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.requirements import missing
from tests.support.room import copy_room, sessionroom


def unit_settings(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a unit file (continuation lines joined)."""
    text = path.read_text().replace("\\\n", "")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def write_units(tmp_path: Path) -> tuple[Path, Path]:
    room = copy_room(tmp_path / "a", "room-a")
    (room / "data").mkdir()
    result = sessionroom(
        "facility", "units", "--rooms", str(room), "-o", str(tmp_path / "units"), "--user", "root"
    )
    assert result.returncode == 0, result.stderr
    return room, tmp_path / "units"


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing("systemd-analyze", "apt-get install systemd")
    _, units = write_units(tmp_path)
    names = sorted(p.name for p in units.iterdir())
    assert names == ["sessionroom-console-room-a.service", "sessionroom-engine-room-a.service"]
    for name in names:
        result = subprocess.run(
            [analyze, "verify", str(units / name)], capture_output=True, text=True, timeout=60
        )
        assert (result.returncode, result.stderr) == (0, ""), name


def test_the_engine_restarts_on_failure_sandboxed_writing_only_its_journals(
    tmp_path: Path,
) -> None:
    room, units = write_units(tmp_path)
    engine = unit_settings(units / "sessionroom-engine-room-a.service")
    assert engine["Restart"] == "on-failure"
    assert engine["ExecStart"].endswith(f"run --config {room.resolve()}/config.yaml")
    assert engine["ReadWritePaths"] == str((room / "data").resolve())
    assert (engine["ProtectSystem"], engine["NoNewPrivileges"], engine["UMask"]) == (
        "strict", "yes", "0077",
    )  # fmt: skip


def test_the_web_console_unit_signs_in_with_the_rooms_own_password(tmp_path: Path) -> None:
    room, units = write_units(tmp_path)
    console = unit_settings(units / "sessionroom-console-room-a.service")
    password = room.resolve() / "facility" / "web-console.password"
    assert "--host 0.0.0.0" in console["ExecStart"]
    assert f"--password-file {password}" in console["ExecStart"]
    assert password.stat().st_mode & 0o077 == 0 and password.read_text().strip()


def test_two_room_folders_with_one_id_are_a_usage_error_naming_both(tmp_path: Path) -> None:
    """The second room's units were written over the first's without a word: one engine
    unit, for whichever folder came last."""
    rooms = copy_room(tmp_path / "a", "room-a"), copy_room(tmp_path / "b", "room-a")
    arguments = ["--rooms", f"{rooms[0]},{rooms[1]}", "-o", str(tmp_path / "units")]
    result = sessionroom("facility", "units", *arguments)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        f"Invalid value for --rooms: {rooms[0]} and {rooms[1]} are both room 'room-a' "
        "(the `room:` of their config.yaml): give each room once"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "units").exists()
