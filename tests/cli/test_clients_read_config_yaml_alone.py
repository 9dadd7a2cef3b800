"""A client of the engine (`ctl`, the console) loads the room's config.yaml alone.

A scene, plan or device file edited into an error while the engine runs leaves the engine on
the files it checked at its start; the operator's tools must still reach it (the emergency
above all), while `sessionroom check` and a new engine refuse the broken room.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main
from controller.cli.common import load_room_or_exit, load_settings_or_exit
from tests.support.mosquitto import Mosquitto
from tests.support.room import copy_room, room_on, sessionroom, until

BROKEN_SCENE = "lights: [not closed\n"


def broken_scene_room(folder: Path) -> Path:
    config = copy_room(folder, "room-a") / "config.yaml"
    (config.parent / "scenes" / "peak.yaml").write_text(BROKEN_SCENE)
    return config


def test_a_client_loads_config_yaml_while_a_scene_file_is_broken(tmp_path: Path) -> None:
    config = broken_scene_room(tmp_path / "room")
    with pytest.raises(SystemExit) as refused:
        load_room_or_exit(config)
    assert refused.value.code == 2
    settings = load_settings_or_exit(config, role="console")
    assert settings.room_id == "room-a"
    assert settings.root == config.parent.resolve()


def test_a_broken_config_yaml_still_stops_a_client_naming_file_and_line(tmp_path: Path) -> None:
    config = copy_room(tmp_path / "room", "room-a") / "config.yaml"
    config.write_text(config.read_text() + "time_scale: fast\n")
    result = CliRunner().invoke(main, ["ctl", "--config", str(config), "state"])
    assert result.exit_code == 2
    assert "config.yaml:" in result.output
    assert "time_scale" in result.output
    assert "Traceback" not in result.output


EMBEDDED = "broker:\n  mode: embedded\n  port: 18830\n"


@pytest.mark.parametrize(
    ("login", "unusable"),
    [
        ("username: console, password_file: missing.txt", "password_file"),
        ("tls: {ca_file: scenes}", "tls ca_file"),  # a folder, no CA bundle
    ],
)
def test_a_file_of_the_broker_login_ctl_cannot_use_stops_it_naming_the_room(
    tmp_path: Path, login: str, unusable: str
) -> None:
    config = copy_room(tmp_path / "room", "room-a") / "config.yaml"
    text = config.read_text()
    assert EMBEDDED in text
    external = f"broker: {{mode: external, host: 127.0.0.1, port: 1, {login}}}\n"
    config.write_text(text.replace(EMBEDDED, external))
    result = CliRunner().invoke(main, ["ctl", "--config", str(config), "state"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"{config.resolve()}: broker {unusable} ")
    assert "Traceback" not in result.output


def test_a_room_id_override_that_is_no_id_is_a_usage_error(tmp_path: Path) -> None:
    config = copy_room(tmp_path / "room", "room-a") / "config.yaml"
    result = CliRunner().invoke(main, ["ctl", "--config", str(config), "--room", "Room B", "state"])
    assert result.exit_code == 2
    assert "Invalid value for --room: room 'Room B' is not a valid id" in result.stderr
    assert "Traceback" not in result.output


def test_the_terminal_console_loads_no_model_of_devices_scenes_or_plans() -> None:
    """Nor the cross-checks of a whole room and the command models they need: about 40 ms of
    the console's start (bench: console start against a bare Textual app)."""
    probe = (
        "import sys, controller.cli.console, controller.console.app; "
        "from controller.cli.common import load_settings_or_exit; "
        "load_settings_or_exit(__import__('pathlib').Path('config.yaml'), role='console'); "
        "print(sorted(m for m in sys.modules if m in ('controller.config.models', "
        "'controller.config.crossref', 'controller.config.loader', 'controller.api.commands', "
        "'controller.drivers')))"
    )
    repo = Path(__file__).resolve().parents[2]
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=repo
    )
    assert loaded.stdout.strip() == "[]"


@pytest.mark.mosquitto
def test_the_emergency_reaches_a_running_engine_after_a_scene_file_broke(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    config = copy_room(tmp_path / "room", "room-a") / "config.yaml"
    with room_on(private_mosquitto, tmp_path / "data", config) as room:
        wire = room.watch()
        room.bring_up(wire)
        (config.parent / "scenes" / "peak.yaml").write_text(BROKEN_SCENE)
        assert sessionroom("check", "--config", str(config)).returncode == 2

        pressed = room.ctl("emergency")
        assert (pressed.returncode, pressed.stdout.strip()) == (0, "ok"), pressed.stderr
        until(lambda: room.state().get("emergency"), "the emergency latched")
        assert json.loads(room.ctl("state").stdout)["emergency"]
