"""`sessionroom demo --headless`: engine, embedded broker and simulated room run a rehearsal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.support.mosquitto import free_port


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
    phases = [line.split()[2] for line in result.stdout.splitlines() if " phase " in line]
    assert phases == ["centering", "peak", "return", "integration"]
    assert "Rehearsal complete: 4 phases, 5m of session time." in result.stdout
    assert "Screen headset (VR headset / meditation display): open http://127.0.0.1:8781/" in (
        result.stdout
    )
    assert list((tmp_path / "data" / "sessions").glob("room-a-*.sqlite"))
