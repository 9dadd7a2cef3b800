"""One libvlc instance per audio output: its VLC output module and device, no video, quiet.

Facts about libvlc 3.0 this module relies on (measured on Debian's libvlc5 3.0.24):

* An unknown or failing `--aout` does not fail: VLC silently falls back to another output
  module, or keeps "playing" (state Playing, time advancing) with no audio at all when the
  device cannot be opened. So the module name is checked against VLC's list here, and the
  output's own error messages are caught from VLC's log (`failure`), since no event reports them.
* `audio_set_volume(v)` scales amplitude by (v/100)³ on outputs with a volume (measured on
  alsa and amem; pulse passes v on as PulseAudio's cubic software volume); `dummy` and
  `afile` ignore the volume.
* A volume is only taken while the player has an audio output: not while it is stopped
  (`audio_set_volume` returns -1 and the value is lost). alsa keeps its last volume for the
  next input, and a new alsa output starts at the last volume any player of the process had
  (VLC's volume-save: in a crossfade, the other deck's) unless the instance starts it at
  `--alsa-gain` (`SILENT_START`); amem starts every input at 100 %. `PlayerVolume` deals with
  all three.
* While the output is busy (it starts as an input's buffering ends, or plays a block),
  `audio_set_volume` returns 0 and VLC applies the volume once the output is free, a few
  milliseconds later (the newest one asked for wins); `audio_get_volume` reports it from then.
* A stop ends the player's audio output, and the next input gets a new one on the module's
  default device: `audio_output_device_set(None, device)` only reaches the output the player
  has. alsa (and every module with a `<module>-audio-device` option) takes the device from
  `audio_output_device_set(module, device)` for each new output; pulse does not, so the device
  is selected again on each new output (`VlcOutput.refresh_devices`).
"""

from __future__ import annotations

import ctypes
import functools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Self

from controller.config.models import Device

DEBIAN_PACKAGES = "libvlc5 vlc-plugin-base"

VLC_MAX_VOLUME = 100
"""VLC's volume at the room's calibrated full output (libvlc takes up to 200, which amplifies)."""

OUTPUT_ALIASES = {"dummy": "adummy", "file": "afile", "audiofile": "afile"}
"""Short names VLC accepts for `--aout` besides the module names it lists."""

SILENT_START = {"alsa": "--alsa-gain=0"}
"""Options that start each new output of a module silent, until the player sets its volume."""

UNUSABLE_OUTPUTS = {
    "amem": "amem hands the audio to the program itself and plays nothing; "
    "choose an output such as pulse or alsa",
}

_LOG_ERROR = 4
"""libvlc's LIBVLC_ERROR log level."""

_LogCallback = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p
)
_LOG_LINE_BYTES = 512

_LIVE_LOG_CALLBACKS: dict[int, Any] = {}
"""Log callbacks of outputs not closed yet: VLC calls them from its threads until `close()`,
so they must outlive a VlcOutput that is dropped without being closed."""


class VlcUnavailableError(RuntimeError):
    """libvlc or its plugins are missing on this machine."""


class OutputUnusableError(ValueError):
    """The configured VLC output module cannot be used."""


def load_vlc() -> ModuleType:
    """Import python-vlc; without libvlc, a VlcUnavailableError naming the packages to install."""
    try:
        import vlc
    except (ImportError, OSError, NotImplementedError) as error:
        raise VlcUnavailableError(
            f"libvlc is not available ({error}); install the Debian packages {DEBIAN_PACKAGES}"
        ) from None
    module: ModuleType = vlc
    return module


def vlc_volume(level: float) -> int:
    """VLC's integer volume for an engine volume 0–1, rounded down so that a cap is never passed."""
    bounded = min(max(level, 0.0), 1.0)
    return math.floor(bounded * VLC_MAX_VOLUME + 1e-6)


@dataclass(frozen=True)
class OutputSelection:
    """Which VLC output to play through: the module (`pulse`, `alsa`, ...) and its device."""

    aout: str | None = None
    """VLC's default order of output modules when None."""
    audio_device: str | None = None
    """A device of that module (a PulseAudio sink, an ALSA PCM such as `hw:1,0`)."""
    options: tuple[str, ...] = ()
    """Further libvlc options for the module, e.g. `--audiofile-file=out.wav` for afile."""

    @classmethod
    def from_device(cls, device: Device) -> OutputSelection:
        return cls(aout=device.aout, audio_device=device.audio_device)

    def instance_args(self) -> list[str]:
        args = ["--no-video", "--quiet"]
        if self.aout:
            args.append(f"--aout={self.aout}")
        if self.aout in SILENT_START:
            args.append(SILENT_START[self.aout])
        return [*args, *self.options]

    def describe(self) -> str:
        module = self.aout or "VLC's default output"
        return f"{module} ({self.audio_device})" if self.audio_device else module


class VlcOutput:
    """A libvlc instance bound to one audio output; players made here play through it.

    One user (a music player or a tone loop) per output, since `failure` belongs to the output.
    The output owns its players: `close()` (or leaving `with`) stops and releases them.
    """

    def __init__(self, selection: OutputSelection | None = None) -> None:
        self.selection = selection or OutputSelection()
        self.vlc = load_vlc()
        self.instance: Any = self.vlc.Instance(*self.selection.instance_args())
        if self.instance is None:
            raise VlcUnavailableError(
                f"libvlc could not start with {self.selection.instance_args()}; "
                f"install the Debian packages {DEBIAN_PACKAGES}"
            )
        self._failure: str | None = None
        self._failure_taken = False
        self._players: list[Any] = []
        self._devices: list[PlayerDevice] = []
        self.on_report: Callable[[], None] = lambda: None
        """Called on a VLC thread once the output's failure or a player's event (a new input,
        a track change, an error) has been noted for the engine's next tick: the engine's
        loop then ticks at once rather than at its idle pace. It must not call libvlc."""
        self._lock = threading.Lock()
        self._vsnprintf = _libc_vsnprintf()
        self._log_object = _log_object_function(self.vlc)
        try:
            self._check_module()
        except Exception:
            self.instance.release()
            raise
        self._log_callback = _LogCallback(self._on_log)
        _LIVE_LOG_CALLBACKS[id(self)] = self._log_callback
        self.instance.log_set(self._log_callback, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _check_module(self) -> None:
        available = [
            entry["name"].decode("utf-8", "replace")
            for entry in self.instance.audio_output_enumerate_devices()
        ]
        if not available:
            raise VlcUnavailableError(
                f"VLC found no audio output plugins; install the Debian packages {DEBIAN_PACKAGES}"
            )
        aout = self.selection.aout
        if aout is None:
            return
        if aout in UNUSABLE_OUTPUTS:
            raise OutputUnusableError(f"VLC output {aout!r}: {UNUSABLE_OUTPUTS[aout]}")
        if OUTPUT_ALIASES.get(aout, aout) not in available:
            raise OutputUnusableError(
                f"VLC has no audio output {aout!r} on this machine "
                f"(available: {', '.join(sorted(available))})"
            )

    def new_player(self) -> Any:
        """A media player on this output, its device selected (see `refresh_devices`)."""
        player = self.instance.media_player_new()
        device = self.selection.audio_device
        if device:
            module = OUTPUT_ALIASES.get(self.selection.aout or "", self.selection.aout)
            self._devices.append(PlayerDevice(player, self.vlc, module, device))
        self._players.append(player)
        return player

    def refresh_devices(self) -> None:
        """Select the device on a player's new audio output (one made after a stop) that VLC
        opened on another; its user calls this on every tick, from the engine's thread."""
        for device in self._devices:
            device.refresh()

    def media(self, path: Path) -> Any:
        """A VLC media for a local file, made on this instance."""
        return self.instance.media_new_path(str(path))

    @property
    def failure(self) -> str | None:
        """The first error the output reported since `clear_failure` (e.g. a device that fails)."""
        with self._lock:
            return self._failure

    def take_failure(self) -> str | None:
        """The output's failure, once: later calls return None until the next failure."""
        with self._lock:
            if self._failure is None or self._failure_taken:
                return None
            self._failure_taken = True
            return f"audio output {self.selection.describe()} failed: {self._failure}"

    def clear_failure(self) -> None:
        """Forget a reported failure, e.g. before starting anew, so that a recurrence is noticed."""
        with self._lock:
            self._failure = None
            self._failure_taken = False

    def close(self) -> None:
        """Stop and release the players, then the instance."""
        for player in self._players:
            player.stop()
            player.release()
        self._players.clear()
        self._devices.clear()
        self.instance.log_unset()
        _LIVE_LOG_CALLBACKS.pop(id(self), None)
        self.instance.release()

    def _on_log(self, _data: Any, level: int, context: Any, fmt: bytes, args: Any) -> None:
        """VLC's log (on VLC's threads): keep the first error of an audio output object."""
        if level < _LOG_ERROR or self._failure is not None:
            return
        kind = ctypes.c_char_p()
        header = ctypes.c_char_p()
        object_id = ctypes.c_size_t()
        self._log_object(context, ctypes.byref(kind), ctypes.byref(header), ctypes.byref(object_id))
        if kind.value != b"audio output":
            return
        line = ctypes.create_string_buffer(_LOG_LINE_BYTES)
        self._vsnprintf(line, _LOG_LINE_BYTES, fmt, args)
        text = " ".join(line.value.decode("utf-8", "replace").split())
        with self._lock:
            if self._failure is None:
                self._failure = text
        self.on_report()


class PlayerDevice:
    """Keeps a VLC player on the configured device across the audio outputs VLC makes it."""

    def __init__(self, player: Any, vlc: ModuleType, module: str | None, device: str) -> None:
        """`module`: the output module, told the device for the outputs to come (alsa)."""
        self._player = player
        self._device = device
        self._tracks = 0
        self._selected_for = 0
        player.audio_output_device_set(None, device)
        if module:
            player.audio_output_device_set(module, device)
        events = player.event_manager()
        events.event_attach(vlc.EventType.MediaPlayerESAdded, self._on_track)

    def refresh(self) -> None:
        """Once per new track, as soon as its audio output exists: the device, if VLC chose
        another (only once, so a device VLC names differently is not selected over and over)."""
        tracks = self._tracks
        if tracks == self._selected_for:
            return
        current = self._player.audio_output_device_get()
        if current is None:  # no output yet
            return
        if current != self._device:
            self._player.audio_output_device_set(None, self._device)
        self._selected_for = tracks

    def _on_track(self, _event: Any) -> None:
        """On a VLC thread: a new track, whose output may be a new one."""
        self._tracks += 1


class PlayerVolume:
    """Keeps a VLC player at the volume wanted, across stops and new inputs.

    VLC takes a volume only while the player has an audio output (not while it is stopped),
    amem starts every new input at 100 %, and a volume VLC accepted while an input starts can
    still be lost (measured on alsa). So the wanted volume is kept here: `refresh()` (every
    tick) sets it again until VLC took it for the current input, and `set(..., again=True)` (a
    few times a second) sets it again in any case. A new player is silent until a volume is wanted.
    """

    def __init__(
        self, player: Any, vlc: ModuleType, *, on_new_input: Callable[[], None] = lambda: None
    ) -> None:
        """`on_new_input` is called on VLC's thread once a new input is noted (see `pending`)."""
        self._player = player
        self._new_input_noted = on_new_input
        self._wanted = 0
        self._inputs = 0
        self._taken_for: int | None = None
        events = player.event_manager()
        events.event_attach(vlc.EventType.MediaPlayerOpening, self._on_new_input)
        self._apply()

    @property
    def wanted(self) -> int:
        return self._wanted

    @property
    def pending(self) -> bool:
        """VLC has not taken the wanted volume for the input it plays now."""
        return self._taken_for != self._inputs

    def set(self, volume: int, *, again: bool = False) -> None:
        """Want `volume` (VLC's 0–100) from now on; VLC gets it now if it can take it.

        An unchanged volume VLC already took is not sent again, unless `again`.
        """
        changed = volume != self._wanted
        self._wanted = volume
        if changed or again or self.pending:
            self._apply()

    def refresh(self) -> None:
        if self.pending:
            self._apply()

    def silence(self) -> None:
        """Before a stop: 0 while VLC still takes it, so an output that keeps its volume (alsa,
        pulse) starts the player's next input silent rather than at the last volume."""
        self._player.audio_set_volume(0)
        self._taken_for = None

    def _apply(self) -> None:
        inputs = self._inputs
        if self._player.audio_set_volume(self._wanted) == 0:
            self._taken_for = inputs

    def _on_new_input(self, _event: Any) -> None:
        """On a VLC thread: a new input begins; its output may not have the volume yet."""
        self._inputs += 1
        self._new_input_noted()


@functools.cache
def _libc_vsnprintf() -> Any:
    """libc's vsnprintf, to format VLC's log lines (their arguments come as a va_list).

    Looked up among the symbols the process already has (libc is linked into Python), not
    with ctypes.util.find_library, which runs `ldconfig -p` in a subprocess every time.
    """
    libc = ctypes.CDLL(None)
    function = libc.vsnprintf
    function.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


def _log_object_function(vlc: ModuleType) -> Any:
    """libvlc_log_get_object(context, &type_name, &header, &id) with plain ctypes types."""
    prototype = ctypes.CFUNCTYPE(
        None,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.c_size_t),
    )
    return prototype(("libvlc_log_get_object", vlc.dll))
