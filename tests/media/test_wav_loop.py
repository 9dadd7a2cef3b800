"""The WAV loop against real libvlc: it loops without losing samples, at its own volume, and
changes file with only VLC's start-up gap."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from controller.media.vlc_output import OutputSelection
from controller.media.wav_loop import WavLoop, WavLoopError
from tests.media.audio_capture import (
    ObservedOutput,
    eventually,
    read_wav,
    tone_amplitude,
    tone_sequence,
    write_tone,
)
from tests.support.requirements import require_libvlc

ALSA_NULL = OutputSelection(aout="alsa", audio_device="null")


@pytest.fixture(autouse=True)
def libvlc() -> None:
    require_libvlc()


@pytest.fixture
def make_loop() -> Iterator[Callable[..., tuple[WavLoop, ObservedOutput, list[str]]]]:
    loops: list[WavLoop] = []

    def make(
        selection: OutputSelection = ALSA_NULL, *, capture: bool = False, cap: float = 1.0
    ) -> tuple[WavLoop, ObservedOutput, list[str]]:
        output = ObservedOutput(selection, capture=capture)
        errors: list[str] = []
        loops.append(WavLoop(output, cap=cap, on_error=errors.append))
        return loops[-1], output, errors

    yield make
    for loop in loops:
        loop.close()


@pytest.fixture
def tones(tmp_path: Path) -> dict[int, Path]:
    return {hz: write_tone(tmp_path / f"{hz}.wav", hz, 2.0) for hz in (400, 500)}


def test_the_loop_repeats_the_file_without_losing_a_sample(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]],
    tones: dict[int, Path],
    tmp_path: Path,
) -> None:
    """VLC's file output records one input from start to stop, so it shows every loop point."""
    recording = tmp_path / "recording.wav"
    file_output = OutputSelection(aout="afile", options=(f"--audiofile-file={recording}",))
    loop, _, errors = make_loop(file_output)
    half_second = write_tone(tmp_path / "short.wav", 500, 0.5)
    loop.start(half_second, volume=1.0)
    assert loop.playing
    two_seconds = 2 * 16_000 * 2
    assert eventually(lambda: recording.exists() and recording.stat().st_size > two_seconds)
    loop.stop()
    assert not loop.playing
    samples, rate = read_wav(recording)
    assert len(samples) / rate >= 2.0, "the recording spans at least three loop points"
    expected = 0.5 * np.sin(2 * np.pi * 500 * np.arange(len(samples)) / rate)
    assert np.abs(samples - expected).max() < 1e-3, "a continuous sine across the loop points"
    assert errors == []


def test_it_plays_at_its_own_volume_held_at_the_cap(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]], tones: dict[int, Path]
) -> None:
    loop, output, _ = make_loop(cap=0.6)
    loop.start(tones[500], volume=0.4)
    player = output.players[0]
    assert player.audio_get_volume() == 40
    assert eventually(lambda: player.get_time() > 100)
    loop.set_volume(0.9)
    assert loop.volume == 0.6
    # VLC may take a volume a moment later (its audio output busy): the loop's poll keeps it
    # set until it does, as the engine's tick does
    assert eventually(lambda: loop.poll() or player.audio_get_volume() == 60)
    loop.set_volume(0.25)
    assert eventually(lambda: loop.poll() or player.audio_get_volume() == 25)


def test_the_volume_scales_what_vlc_plays(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]], tones: dict[int, Path]
) -> None:
    loop, output, _ = make_loop(OutputSelection(aout="dummy"), capture=True)
    capture = output.captures[0]
    loop.start(tones[500], volume=0.5)
    assert eventually(lambda: loop.poll() or capture.seconds() > 3.0)
    assert tone_amplitude(capture.samples()[-8000:], 500) == pytest.approx(0.5 * 0.5**3, rel=0.03)


def test_changing_the_file_switches_within_vlc_s_start_up_time(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]], tones: dict[int, Path]
) -> None:
    loop, output, errors = make_loop(OutputSelection(aout="dummy"), capture=True)
    capture = output.captures[0]
    loop.start(tones[500], volume=1.0)
    assert eventually(lambda: capture.seconds() > 1.0)
    changed_at = time.monotonic()
    loop.change_file(tones[400])
    assert loop.path == tones[400]

    def now_400() -> bool:
        blocks = capture.blocks()
        return bool(blocks) and tone_amplitude(blocks[-1][1] / 32768, 400) > 0.1

    assert eventually(now_400, timeout=1.0)
    assert time.monotonic() - changed_at < 0.2
    assert loop.playing
    assert tone_sequence(capture.samples(), [400, 500]) == [500, 400]
    assert errors == []


def test_start_and_stop_are_immediate_and_playing_says_so(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]], tones: dict[int, Path]
) -> None:
    loop, output, _ = make_loop()
    assert not loop.playing
    loop.start(tones[400], volume=0.3)
    assert loop.playing
    assert eventually(lambda: output.players[0].get_time() > 100)
    loop.stop()
    assert not loop.playing
    assert not output.players[0].is_playing()
    loop.change_file(tones[500])
    assert not loop.playing, "a stopped loop stays stopped when its file changes"
    loop.start(tones[500], volume=0.3)
    assert loop.playing


def test_polling_keeps_the_volume_while_it_plays_and_leaves_a_stopped_player_alone(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]], tones: dict[int, Path]
) -> None:
    """The engine polls the loop on every tick; a stopped player takes no volume, so polling
    it then would only be work on every tick of a session without BLS tones."""
    loop, output, _ = make_loop()
    player = output.players[0]
    set_volumes: list[int] = []
    vlc_set_volume = player.audio_set_volume

    def counted(volume: int) -> int:
        set_volumes.append(volume)
        return int(vlc_set_volume(volume))

    player.audio_set_volume = counted  # the real call, counted
    loop.start(tones[400], volume=0.3)
    set_volumes.clear()
    loop.poll()
    assert set_volumes == [30], "a playing loop is held at its volume"
    loop.stop()
    set_volumes.clear()
    for _ in range(5):
        loop.poll()
    assert set_volumes == []
    loop.start(tones[500], volume=0.2)
    assert set_volumes[-1:] == [20], "a start sets the volume again"


def test_started_again_after_a_stop_the_loop_plays_on_its_device(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]], tones: dict[int, Path]
) -> None:
    """The tones' device (the headphones) holds across stops: polled as the engine does, the
    loop selects it on the new output VLC makes after a stop, whose module (VLC's default
    here) cannot be told the device ahead."""
    loop, output, _ = make_loop(OutputSelection(audio_device="null"))
    player = output.players[0]
    for hz in (400, 500):
        loop.start(tones[hz], volume=0.3)
        assert eventually(lambda: loop.poll() or player.get_time() > 500)
        assert player.audio_output_device_get() == "null"
        loop.stop()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "not found"),
        (b"not a wav file at all", "is not a PCM WAV file"),
        (b"RIFF", "is not a PCM WAV file"),
    ],
)
def test_a_file_it_cannot_play_is_refused_with_a_clear_error(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]],
    tmp_path: Path,
    content: bytes | None,
    problem: str,
) -> None:
    loop, _, _ = make_loop()
    path = tmp_path / "tone.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WavLoopError, match=f"tone file .*tone.wav {problem}"):
        loop.start(path, volume=0.5)
    assert not loop.playing


def test_an_empty_wav_is_refused(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]], tmp_path: Path
) -> None:
    loop, _, _ = make_loop()
    with pytest.raises(WavLoopError, match="holds no audio"):
        loop.start(write_tone(tmp_path / "empty.wav", 500, 0.0), volume=0.5)


def test_a_failing_output_stops_playing_and_is_reported(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]], tones: dict[int, Path]
) -> None:
    loop, _, errors = make_loop(OutputSelection(aout="alsa", audio_device="sessionroom-no-such"))
    loop.start(tones[400], volume=0.5)
    assert eventually(lambda: not loop.playing)
    loop.poll()
    assert len(errors) == 1
    assert errors[0].startswith("audio output alsa (sessionroom-no-such) failed: ")


def test_a_wav_vlc_finds_no_audio_in_stops_the_loop_and_is_reported(
    make_loop: Callable[..., tuple[WavLoop, ObservedOutput, list[str]]],
    tones: dict[int, Path],
    tmp_path: Path,
) -> None:
    """A WAV cut after its header: its header promises audio, VLC finds none and gives up."""
    cut = tmp_path / "cut.wav"
    cut.write_bytes(tones[400].read_bytes()[:44])
    loop, _, errors = make_loop()
    loop.start(cut, volume=0.5)
    # VLC opens the empty input again for each of the loop's 65,535 repeats before it ends:
    # about 4.7 s on the 2-core machine, more under load
    assert eventually(lambda: not loop.playing, timeout=30)
    loop.poll()
    assert errors == [f"tone file {cut}: VLC stopped looping it"]
