"""`sessionroom demo --headless`: engine, embedded broker and simulated room run a rehearsal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from controller.cli import main
from tests.conftest import REPO
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.room import child_env


def demo_config(folder: Path) -> Path:
    """The shipped room, with its embedded broker on a free port so the test meets no other."""
    config = folder / "config.yaml"
    text = (REPO / "config.yaml").read_text().replace("port: 18830", f"port: {free_port()}")
    text = text.replace("  devices: devices", f"  devices: {REPO / 'devices'}")
    text = text.replace("  scenes: scenes ", f"  scenes: {REPO / 'scenes'} ")
    text = text.replace("  playlists: playlists", f"  playlists: {REPO / 'playlists'}")
    config.write_text(text)
    return config


def test_the_headless_demo_runs_the_rehearsal_through_every_phase(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller.cli",
            "demo",
            "--headless",
            "--config",
            str(config),
            "--time-scale",
            "100",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    port = next(line for line in config.read_text().splitlines() if line.startswith("  port: "))
    broker = f"engine with embedded broker on mqtt://127.0.0.1:{port.split()[1]}, simulated devices"
    assert f"Room room-a: {broker};" in result.stdout
    phases = [line.split()[2] for line in result.stdout.splitlines() if " phase " in line]
    assert phases == ["centering", "peak", "return", "integration"]
    assert "Rehearsal complete: 4 phases, 5m of session time." in result.stdout
    assert "Screen headset (VR headset / meditation display): open http://127.0.0.1:8781/" in (
        result.stdout
    )
    assert list((tmp_path / "data" / "sessions").glob("room-a-*.sqlite"))


def test_the_demo_on_the_broker_sessionroom_broker_names_says_so_and_runs_on_it(
    tmp_path: Path, private_mosquitto: Mosquitto
) -> None:
    """Its engine, devices and screens read SESSIONROOM_BROKER as their --broker: the demo
    said it ran an embedded broker, and waited for the engine on config.yaml's port."""
    url = f"mqtt://127.0.0.1:{private_mosquitto.port}"
    demo = ["demo", "--headless", "--config", str(demo_config(tmp_path)), "--time-scale", "1000"]
    result = subprocess.run(
        [sys.executable, "-m", "controller.cli", *demo, "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=90,
        env={**child_env(), "SESSIONROOM_BROKER": url},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    external = f"engine and simulated devices on the external broker at {url}"
    assert f"Room room-a: {external};" in result.stdout
    assert "Rehearsal complete" in result.stdout


def test_a_sessionroom_broker_that_names_no_broker_stops_the_demo_before_it_starts(
    tmp_path: Path,
) -> None:
    """In the words of --broker's refusal, naming the variable: the demo has no --broker."""
    config = str(demo_config(tmp_path))
    env = {"SESSIONROOM_BROKER": "mqtt://127.0.0.1:1883/room-b"}
    demo = ["demo", "--headless", "--config", config, "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(main, demo, env=env)
    assert result.exit_code == 2, result.output
    refusal = "broker 'mqtt://127.0.0.1:1883/room-b' is not 'embedded', mqtt://HOST:PORT"
    assert f"Error: SESSIONROOM_BROKER: {refusal}" in result.stderr
    assert "embedded broker" not in result.stdout


def test_an_embedded_broker_on_port_0_stops_the_demo_with_advice_it_can_follow(
    tmp_path: Path,
) -> None:
    """It said to give --broker, which the demo has not (and an external broker's URL would
    not run the embedded one): config.yaml's port is what the demo's clients can know."""
    config = demo_config(tmp_path)
    text = config.read_text()
    port_line = next(line for line in text.splitlines() if line.startswith("  port: "))
    config.write_text(text.replace(port_line, "  port: 0"))
    demo = ["demo", "--headless", "--config", str(config), "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(main, demo)
    assert result.exit_code == 2, result.output
    assert f"Error: {config}: the demo's embedded broker needs a port in config.yaml" in (
        result.stderr
    )
    assert "--broker" not in result.stderr
    assert "--broker" not in CliRunner().invoke(main, ["demo", "--help"]).output


def room_with_login(folder: Path) -> Path:
    """The demo room, its broker login's password in a file named relative to its folder."""
    folder.mkdir()
    config = demo_config(folder)
    text = config.read_text()
    port_line = next(line for line in text.splitlines() if line.startswith("  port: "))
    login = f"{port_line}\n  username: demo\n  password_file: broker.pass"
    config.write_text(text.replace(port_line, login, 1))
    return config


def headless_demo(config: Path, data: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    cwd.mkdir()
    demo = ["demo", "--headless", "--config", str(config), "--data-dir", str(data)]
    return subprocess.run(
        [sys.executable, "-m", "controller.cli", *demo, "--time-scale", "1000"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=cwd,
        env=child_env(),
    )


def test_the_demo_reads_the_broker_password_file_from_the_room_folder(tmp_path: Path) -> None:
    """A relative password_file in config.yaml is in the room's folder, whatever the cwd."""
    config = room_with_login(tmp_path / "room")
    (config.parent / "broker.pass").write_text("demo-password\n")
    result = headless_demo(config, tmp_path / "data", cwd=tmp_path / "elsewhere")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Rehearsal complete" in result.stdout


def test_a_password_file_the_demo_cannot_read_stops_it_before_it_starts(tmp_path: Path) -> None:
    config = room_with_login(tmp_path / "room")
    result = headless_demo(config, tmp_path / "data", cwd=tmp_path / "elsewhere")
    assert result.returncode == 2, result.stdout + result.stderr
    missing = config.parent.resolve() / "broker.pass"
    assert f"{config.resolve()}: broker password_file {missing}: No such file" in result.stderr
    assert "Traceback" not in result.stderr
    assert "engine with embedded broker" not in result.stdout
