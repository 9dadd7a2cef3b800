"""The engine with real VLC music and tones (headless outputs): phases bring their playlists,
volume steps obey the cap and ramp, and an emergency fades the music out."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.api.commands import parse_command
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.engine.clock import ManualClock
from controller.engine.engine import Engine
from controller.media.outputs import LocalOutputs, TonePlayer, open_local_outputs
from tests.conftest import REPO
from tests.support.requirements import require_libvlc


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    require_libvlc()
    room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=tmp_path))
    for device_id in ("music", "tones"):
        room.devices[device_id] = room.devices[device_id].model_copy(update={"aout": "adummy"})
    errors: list[str] = []
    outputs: LocalOutputs = open_local_outputs(room, on_error=errors.append)
    assert outputs.problem is None
    engine = Engine(room, clock=ManualClock(), music=outputs.music, tones=outputs.tones)
    yield engine
    outputs.close()


def do(engine: Engine, action: str, **fields: object) -> None:
    engine.command(parse_command(json.dumps({"id": "t", "action": action, **fields}).encode()))


def run_for(engine: Engine, seconds: float, step: float = 0.25) -> None:
    clock = engine.clock
    assert isinstance(clock, ManualClock)
    for _ in range(round(seconds / step)):
        clock.advance(step)
        engine.tick()


def test_a_phase_plays_its_playlist_and_the_volume_rises_within_the_ramp(engine: Engine) -> None:
    do(engine, "start", plan="standard", participant="P014")
    volumes = []
    for _ in range(20):
        run_for(engine, 0.5)
        volumes.append(engine.snapshot().music.volume)
    music = engine.snapshot().music
    assert (music.status, music.playlist, music.title) == ("playing", "centering", "Still Water")
    assert volumes[-1] == pytest.approx(0.35, abs=0.01)
    rises = [later - earlier for earlier, later in itertools.pairwise(volumes)]
    assert max(rises) <= 0.10 * 0.5 + 0.05 + 1e-9


def test_the_next_phase_crossfades_to_its_own_playlist(engine: Engine) -> None:
    do(engine, "start", plan="standard", participant="P014")
    run_for(engine, 5.0)
    do(engine, "next")
    run_for(engine, 15.0)
    assert engine.snapshot().music.playlist == "peak"


def test_an_emergency_fades_the_music_out_within_three_seconds(engine: Engine) -> None:
    do(engine, "start", plan="standard", participant="P014")
    run_for(engine, 5.0)
    do(engine, "emergency")
    run_for(engine, 3.25)
    music = engine.snapshot().music
    assert (music.status, music.volume) == ("stopped", 0.0)


def test_an_emergency_pressed_before_the_scene_s_music_started_keeps_it_silent(
    engine: Engine,
) -> None:
    """A scene's music starts on the tick after its lights; an emergency pressed in between
    (a double press: start, then emergency at once) must not be followed by the music."""
    do(engine, "start", plan="standard", participant="P014")
    do(engine, "emergency")
    run_for(engine, 5.0)
    music = engine.snapshot().music
    assert (music.status, music.playlist, music.volume) == ("stopped", None, 0.0)


def test_a_volume_override_above_the_cap_is_clamped_and_journaled(engine: Engine) -> None:
    do(engine, "start", plan="standard", participant="P014")
    engine.take_events()
    do(engine, "volume", level=0.95)
    run_for(engine, 10.0)
    assert engine.snapshot().music.volume == pytest.approx(0.70, abs=0.011)
    reasons = [e["payload"]["reason"] for e in engine.take_events() if e["kind"] == "safety"]
    assert any("above the room's cap of 70 %" in reason for reason in reasons)


def test_bilateral_tones_play_for_the_set_and_stop(engine: Engine) -> None:
    do(engine, "start", plan="standard", participant="P014")
    do(engine, "bls", op="start", device="tones", speed_hz=1.0, passes=4)
    bls = engine.snapshot().bls
    assert (bls.running, bls.devices, bls.tone_hz) == (True, ["tones"], 440.0)
    run_for(engine, 4.25)
    assert engine.snapshot().bls.running is False


def test_bilateral_tones_change_speed_while_a_set_runs(engine: Engine) -> None:
    do(engine, "start", plan="standard", participant="P014")
    do(engine, "bls", op="start", device="tones", speed_hz=1.0, passes=20)
    run_for(engine, 2.0)
    tones = engine.tones
    assert isinstance(tones, TonePlayer)
    assert tones.playing is not None and tones.playing.name.startswith("bls-1hz-440")
    do(engine, "bls", op="start", device="tones", speed_hz=1.5, passes=20)
    assert engine.snapshot().bls.speed_hz == 1.5
    assert tones.playing is not None and tones.playing.name.startswith("bls-1.5hz-440")
    do(engine, "bls", op="stop", device="tones")
    assert tones.playing is None
    assert engine.snapshot().bls.running is False
