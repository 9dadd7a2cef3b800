"""`sessionroom console`: its options, and clear errors instead of tracebacks for bad input."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main
from controller.console.overview import OverviewApp
from controller.console.web import console_command


def test_console_help_names_every_option() -> None:
    result = CliRunner().invoke(main, ["console", "--help"])
    assert result.exit_code == 0
    for option in ("--config", "--broker", "--room", "--keys", "--stale-after", "--web", "--host"):
        assert option in result.output


def test_a_bad_keymap_is_a_usage_error_naming_the_file(
    example_config: Path, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("hold: n\n")
    result = CliRunner().invoke(
        main, ["console", "--config", str(example_config), "--keys", str(keys)]
    )
    assert result.exit_code == 2
    assert "Invalid value for --keys" in result.output
    assert "key 'n' is given to both next_phase and hold" in result.output
    assert "Traceback" not in result.output


def test_a_bad_broker_url_is_a_usage_error(example_config: Path) -> None:
    result = CliRunner().invoke(
        main, ["console", "--config", str(example_config), "--broker", "http://nowhere"]
    )
    assert result.exit_code == 2
    assert "--broker" in result.output


def test_a_missing_config_lists_the_problem_and_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["console", "--config", str(tmp_path / "config.yaml")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_the_web_console_runs_the_same_console_command_per_page() -> None:
    command = shlex.split(console_command(["--room", "room-a", "--config", "/rooms/a.yaml"]))
    assert command == [
        sys.executable,
        "-m",
        "controller.console",
        "--room",
        "room-a",
        "--config",
        "/rooms/a.yaml",
    ]


def test_the_terminal_console_imports_neither_the_engine_nor_a_web_server() -> None:
    """The console talks MQTT only; loading it must not load `controller.engine`. Nor does
    the terminal console load aiohttp (the web console's): about a hundred milliseconds of
    its start (bench: console start against a bare Textual app)."""
    probe = (
        "import sys, controller.cli.console, controller.console.app; "
        "print(sorted(m for m in sys.modules if m.startswith(('controller.engine', 'aiohttp'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_a_tls_certificate_that_is_a_fifo_is_a_usage_error_not_a_wait(
    example_config: Path, tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "cert.pem")
    result = CliRunner().invoke(
        main,
        [
            "console",
            "--config",
            str(example_config),
            "--web",
            "--tls-cert",
            str(tmp_path / "cert.pem"),
        ],
    )
    assert result.exit_code == 2
    assert "Invalid value for --tls-cert" in result.output
    assert "not a regular file" in result.output


def test_a_broken_room_of_the_overview_is_named_by_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ten rooms, `config.yaml:2` alone leaves the technician guessing which one."""
    overview = tmp_path / "overview.yaml"
    overview.write_text("broker: {mode: external, host: 127.0.0.1, port: 1}\n")
    for name, config in (("a", "room: a\n"), ("b", "room: b\ntime_scale: fast\n")):
        (tmp_path / "rooms" / name).mkdir(parents=True)
        (tmp_path / "rooms" / name / "config.yaml").write_text(config)
    monkeypatch.chdir(tmp_path)
    for folder in ("rooms/b", str(tmp_path / "rooms" / "b")):
        arguments = ["--facility", str(overview), "--rooms", f"rooms/a,{folder}"]
        result = CliRunner().invoke(main, ["console", *arguments])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"{folder}/config.yaml:2: time_scale 'fast' ")


def test_two_overview_rooms_with_one_room_id_are_a_usage_error_naming_both_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enter on the room's row would open one folder's console for the other (the second
    replaced the first without a word). The same folder given twice is one room."""
    overview = tmp_path / "overview.yaml"
    overview.write_text("broker: {mode: external, host: 127.0.0.1, port: 1}\n")
    for name in ("a", "b"):
        (tmp_path / "rooms" / name).mkdir(parents=True)
        (tmp_path / "rooms" / name / "config.yaml").write_text("room: room-a\n")
    monkeypatch.chdir(tmp_path)
    opened: list[dict[str, Path]] = []
    monkeypatch.setattr(OverviewApp, "run", lambda app: opened.append(app.consoles))
    same = ["console", "--facility", str(overview), "--rooms", "rooms/a,./rooms/a/config.yaml"]
    assert CliRunner().invoke(main, same).exit_code == 0
    assert opened == [{"room-a": (tmp_path / "rooms" / "a" / "config.yaml").resolve()}]
    arguments = ["console", "--facility", str(overview), "--rooms", "rooms/a,rooms/b"]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2, result.output
    assert "Invalid value for --rooms: rooms/a and rooms/b are both room 'room-a'" in (
        result.stderr
    )
    assert "Traceback" not in result.output


def test_a_broken_room_whose_config_yaml_links_elsewhere_is_named_where_it_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A room's config.yaml may be a link to a file kept elsewhere: the room's files are read
    from that file's folder, so a problem names the file there, not one in the link's folder
    (`rooms/b/b.yaml`, which does not exist)."""
    overview = tmp_path / "overview.yaml"
    overview.write_text("broker: {mode: external, host: 127.0.0.1, port: 1}\n")
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "b.yaml").write_text("room: b\ntime_scale: fast\n")
    for name in ("a", "b"):
        (tmp_path / "rooms" / name).mkdir(parents=True)
    (tmp_path / "rooms" / "a" / "config.yaml").write_text("room: a\n")
    (tmp_path / "rooms" / "b" / "config.yaml").symlink_to(tmp_path / "shared" / "b.yaml")
    monkeypatch.chdir(tmp_path)
    arguments = ["--facility", str(overview), "--rooms", "rooms/a,rooms/b"]
    result = CliRunner().invoke(main, ["console", *arguments])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"{tmp_path / 'shared' / 'b.yaml'}:2: time_scale 'fast' ")
