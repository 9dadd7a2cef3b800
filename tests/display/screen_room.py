"""A small room with two screens (a meditation display and a light bar) for the display tests.

The room's files are written into a test's folder: its two displays on free loopback
ports, scenes that play a video of the content folder or a breathing guide, a plan that
starts with the video, and a short WebM clip made by ffmpeg at test time.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.mosquitto import free_port
from tests.support.requirements import missing

CLIP = "clip.webm"
CLIP_SECONDS = 6
BREATHING = "breathing:20:1:2"
"""20 breaths a minute (a 3 s period), inhale:exhale 1:2 (1 s in, 2 s out)."""
BAR_COLOUR = "#33aa66"


def make_clip(path: Path) -> None:
    """A small WebM (VP8 test picture and an Opus tone) made by ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        missing("ffmpeg", "apt-get install ffmpeg")
    subprocess.run(
        [
            ffmpeg, "-hide_banner", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(CLIP_SECONDS), "-c:v", "libvpx", "-b:v", "200k", "-c:a", "libopus",
            "-y", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip


def write_screen_room(folder: Path) -> Path:
    """The room's files in `folder`; returns its config.yaml."""
    for sub in ("devices", "scenes/plans", "playlists", "content"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    make_clip(folder / "content" / CLIP)
    (folder / "config.yaml").write_text(
        "room: screens\nidle_scene: idle\nsafe_scene: lights-up\ndefault_plan: screens\n"
        "broker: {mode: external, port: 1883}\n"
    )
    (folder / "devices" / "screens.yaml").write_text(
        "devices:\n"
        "  - {id: headset, kind: vr, driver: mqtt-vr, topic: headset,\n"
        f"     display: {{port: {free_port()}, tone: true}}}}\n"
        "  - {id: lightbar, kind: bls, driver: mqtt-bls, topic: lightbar, mode: visual,\n"
        f"     display: {{port: {free_port()}, colour: '{BAR_COLOUR}', dot_size: 0.08}}}}\n"
    )
    stop_all = "vr:\n  headset: {action: stop}\nbls:\n  lightbar: {running: false}\n"
    scenes = folder / "scenes"
    (scenes / "idle.yaml").write_text(stop_all)
    (scenes / "lights-up.yaml").write_text("fade_s: 0\n" + stop_all)
    (scenes / "video.yaml").write_text(
        f"fade_s: 1\nvr:\n  headset: {{action: play, content: '{CLIP}', volume: 40}}\n"
    )
    (scenes / "breathing.yaml").write_text(
        f"fade_s: 1\nvr:\n  headset: {{action: play, content: '{BREATHING}', volume: 30}}\n"
    )
    (scenes / "plans" / "screens.yaml").write_text(
        "title: Screens\nphases:\n"
        "  - {name: centering, scene: video, duration: 10m}\n"
        "  - {name: peak, scene: breathing, duration: 10m}\n"
    )
    return folder / "config.yaml"
