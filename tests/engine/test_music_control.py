"""The music (`MusicControl`): what the room PC's player is told to play and how loud, per tick.

The player is `RecordingMusic` (the real VLC player has its own tests in tests/media): a
scene's music crossfades to its playlist while the master volume fades to the scene's
volume (or the operator's override) at the room's ramp; times given to the player are real
seconds; without a player every operator command is refused with the reason.
"""

from __future__ import annotations

from typing import Literal

import pytest

from controller.api.commands import Music
from controller.api.state import MusicInfo
from controller.engine.output import MUSIC
from controller.engine.phases import CommandRefused
from controller.engine.targets import MusicTarget, scene_targets
from tests.engine.room_parts import Playing, Recorded, RoomParts, ticks


def scene_music(parts: RoomParts, scene: str) -> MusicTarget:
    target = scene_targets(parts.room, parts.room.scenes[scene])["music"]
    assert isinstance(target, MusicTarget)
    return target


def music(op: str, seconds: float | None = None) -> Music:
    return Music.model_validate({"id": "c1", "action": "music", "op": op, "seconds": seconds})


@pytest.mark.parametrize(("override", "level"), [(None, 0.35), (0.6, 0.6)])
def test_a_scene_crossfades_to_its_playlist_and_fades_the_volume_in(
    parts: RoomParts, override: float | None, level: float
) -> None:
    parts.music.apply(scene_music(parts, "centering"), override, 0.0)
    assert parts.player.calls == [("play", "centering", 0.0, 0.0, 8.0, 0.0, "sequential", True)]
    assert parts.journal.take() == [
        Recorded("command", {"volume": level, "fade_s": 8.0}, device=MUSIC)
    ]
    parts.run(ticks(0.0, 10.0))
    volumes = parts.player.volumes()
    assert len(volumes) == 33  # 8 s at 4 steps a second, from silence
    assert volumes == sorted(volumes)
    assert volumes[-1] == pytest.approx(level)
    assert parts.music.volume == pytest.approx(level)
    assert parts.music.scene_volume() == 0.35


def test_the_next_scene_crossfades_from_the_volume_playing(parts: RoomParts) -> None:
    parts.music.apply(scene_music(parts, "centering"), None, 0.0)
    parts.run(ticks(0.0, 10.0))
    parts.music.apply(scene_music(parts, "peak"), None, 10.0)
    assert parts.player.calls[-1] == (
        "play",
        "peak",
        10.0,
        pytest.approx(0.35),
        12.0,
        0.0,
        "sequential",
        True,
    )
    assert parts.journal.take()[-1] == Recorded(
        "command", {"volume": 0.5, "fade_s": 12.0}, device=MUSIC
    )


def test_the_player_is_told_real_seconds_in_a_rehearsal() -> None:
    parts = RoomParts(scale=10.0)
    parts.music.apply(scene_music(parts, "centering"), None, 100.0)
    assert parts.player.calls == [("play", "centering", 10.0, 0.0, 0.8, 0.0, "sequential", True)]
    parts.music.fade_out(2.0, 150.0)
    assert parts.player.calls[-1] == ("fade_out", 2.0, 15.0)


def test_a_scene_without_music_fades_it_out_and_silences_the_channel(parts: RoomParts) -> None:
    parts.music.apply(scene_music(parts, "centering"), None, 0.0)
    parts.run(ticks(0.0, 10.0))
    parts.music.apply(scene_music(parts, "idle"), None, 10.0)
    assert parts.player.calls[-1] == ("fade_out", 5.0, 10.0)
    assert parts.music.volume == 0.0
    assert parts.volumes.target(MUSIC, 10.0) == 0.0
    calls = len(parts.player.calls)
    parts.run(ticks(10.0, 20.0))
    assert len(parts.player.calls) == calls  # the player fades out by itself


def test_a_fade_out_of_no_time_stops_at_once(parts: RoomParts) -> None:
    parts.music.fade_out(0.0, 3.0)
    assert parts.player.calls == [("stop", 3.0)]


@pytest.mark.parametrize(
    ("command", "call"),
    [
        (music("pause"), ("pause",)),
        (music("resume"), ("resume", 2.0)),
        (music("skip"), ("skip", 2.0)),
        (music("previous"), ("previous", 2.0)),
        (music("fade_out"), ("fade_out", 5.0, 2.0)),
        (music("fade_out", 2.5), ("fade_out", 2.5, 2.0)),
        (music("fade_out", 0.0), ("stop", 2.0)),
    ],
)
def test_the_operators_controls_go_to_the_player(
    parts: RoomParts, command: Music, call: tuple[object, ...]
) -> None:
    parts.music.control(command, 2.0)
    assert parts.player.calls == [call]


@pytest.mark.parametrize(
    ("problem", "reason"),
    [
        ("libvlc is not installed", "libvlc is not installed"),
        (None, "music is not available on this room PC"),
    ],
)
def test_without_a_player_the_controls_are_refused_with_the_reason(
    problem: str | None, reason: str
) -> None:
    parts = RoomParts(music=False, music_problem=problem)
    with pytest.raises(CommandRefused) as refused:
        parts.music.control(music("resume"), 0.0)
    assert str(refused.value) == reason
    assert parts.music.info(0.0) == MusicInfo(available=False, status="unavailable", error=problem)


def test_without_a_player_a_scene_keeps_its_target_and_sends_nothing() -> None:
    parts = RoomParts(music=False)
    target = scene_music(parts, "centering")
    parts.music.apply(target, None, 0.0)
    parts.music.fade_out(3.0, 1.0)
    assert parts.music.target == target
    assert parts.run(ticks(0.0, 2.0)) == []
    assert parts.journal.events == []


def test_the_same_problem_of_the_player_is_reported_once(parts: RoomParts) -> None:
    missing = "playlist centering: track still-water.wav is missing"
    failed = "audio output failed"
    reports = [parts.music.reported(p) for p in (missing, missing, failed, failed, missing)]
    assert reports == [True, False, True, False, True]
    assert parts.music.info(0.0).error == missing


@pytest.mark.parametrize("state", ["playing", "paused", "stopped"])
def test_info_says_what_the_player_plays(
    parts: RoomParts, state: Literal["playing", "paused", "stopped"]
) -> None:
    parts.player.playing = Playing("centering", "Still Water", 12.5, 300.0, 0.35, state)
    assert parts.music.info(0.0) == MusicInfo(
        status=state,
        playlist="centering",
        title="Still Water",
        position_s=12.5,
        duration_s=300.0,
        volume=0.35,
    )
