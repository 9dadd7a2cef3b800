"""The room PC's own outputs for the engine: the music player and the bilateral-tone player.

A machine without libvlc runs the room without them: the engine then reports music and
tones as unavailable, naming the Debian packages to install, instead of failing.
"""

from __future__ import annotations

import importlib
import tempfile
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from controller.config import Room
from controller.config.models import Device
from controller.engine.safety import BlsRequest
from controller.media.music import MusicPlayer
from controller.media.vlc_output import OutputSelection, VlcOutput, VlcUnavailableError
from controller.media.wav_loop import WavLoop

if TYPE_CHECKING:
    from controller.media.tones import ToneSettings

LOOP_FILE_S = 4.0
"""A tone file holds whole cycles for at least this long: VLC pauses briefly at each loop."""

TONES_MODULE = "controller.media.tones"
"""What renders the tones (it imports numpy): imported by `TonePlayer.prepare`."""

TONE_LEVEL = 0.5
"""Peak level inside the tone file; the loop's volume scales it further."""


class TonePlayer:
    """Plays a BLS set's alternating tones on one output: rendered once, looped until stopped."""

    def __init__(self, device: Device, *, cap: float, on_error: Callable[[str], None]) -> None:
        self._loop = WavLoop(
            VlcOutput(OutputSelection.from_device(device)), cap=cap, on_error=on_error
        )
        self._folder = tempfile.TemporaryDirectory(prefix="sessionroom-tones-")

    def prepare(self) -> None:
        """Import what renders the tones (numpy, about 0.1 s) on a daemon thread of its own: at
        the first set, on the engine's event loop, it held up every command meanwhile (an
        emergency pressed as the set starts). The engine calls this once online: at its start
        the import would slow it."""
        threading.Thread(
            target=importlib.import_module,
            args=(TONES_MODULE,),
            name="sessionroom-tones-import",
            daemon=True,
        ).start()

    def start(self, request: BlsRequest, *, volume: float) -> None:
        # numpy renders the tones: imported once online (`prepare`), not at the engine's start
        from controller.media.tones import ToneSettings

        settings = ToneSettings(
            tone_hz=request.tone_hz or 440.0, speed_hz=request.speed_hz, level=TONE_LEVEL
        )
        path = Path(self._folder.name) / f"bls-{request.speed_hz:g}hz-{settings.tone_hz:g}.wav"
        if not path.exists():
            write_loop_file(path, settings)
        if self._loop.playing:
            self._loop.change_file(path)
            self._loop.set_volume(volume)
        else:
            self._loop.start(path, volume)

    def set_volume(self, volume: float) -> None:
        """The loop's volume (0–1; capped), for the engine's ramp."""
        self._loop.set_volume(volume)

    def stop(self) -> None:
        self._loop.stop()

    @property
    def playing(self) -> Path | None:
        """The tone file being looped, or None when the tones are stopped."""
        return self._loop.path if self._loop.playing else None

    def poll(self) -> None:
        self._loop.poll()

    @property
    def output(self) -> VlcOutput:
        return self._loop.output

    def close(self) -> None:
        self._loop.close()
        self._folder.cleanup()


def write_loop_file(path: Path, settings: ToneSettings) -> None:
    """Whole cycles of the tones, at least LOOP_FILE_S long, as a 16-bit stereo WAV."""
    from controller.media.tones import render_cycle

    cycle = render_cycle(settings)
    repeats = max(1, round(LOOP_FILE_S * settings.speed_hz))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(cycle.sample_rate)
        out.writeframes(cycle.pcm16() * repeats)


@dataclass
class LocalOutputs:
    """What the room PC can play; `problem` says why something is missing."""

    music: MusicPlayer | None = None
    tones: TonePlayer | None = None
    problem: str | None = None

    def on_report(self, callback: Callable[[], None]) -> None:
        """Have `callback` called (on a VLC thread) whenever the music or the tones report
        something for the engine's next tick (`VlcOutput.on_report`)."""
        for player in (self.music, self.tones):
            if player is not None:
                player.output.on_report = callback

    def close(self) -> None:
        if self.music is not None:
            self.music.close()
        if self.tones is not None:
            self.tones.close()


def open_local_outputs(room: Room, *, on_error: Callable[[str], None]) -> LocalOutputs:
    """Open the room's `vlc` and `tones` devices; a missing libvlc or output is a `problem`."""
    outputs = LocalOutputs()
    safety = room.settings.safety
    try:
        for device in room.devices.values():
            if device.driver == "vlc" and outputs.music is None:
                outputs.music = MusicPlayer.for_device(device, safety, on_error=on_error)
            elif device.driver == "tones" and outputs.tones is None:
                cap = safety.volume_cap / 100
                outputs.tones = TonePlayer(device, cap=cap, on_error=on_error)
    except (VlcUnavailableError, ValueError) as problem:
        outputs.close()
        return LocalOutputs(problem=f"music and tones are unavailable: {problem}")
    return outputs
