"""The VLC output a room's music device names, and the libvlc behaviour the players rely on."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from controller.config.models import Device
from controller.media.vlc_output import (
    DEBIAN_PACKAGES,
    OutputSelection,
    OutputUnusableError,
    PlayerVolume,
    VlcOutput,
    VlcUnavailableError,
    load_vlc,
)
from tests.media.audio_capture import Capture, ObservedOutput, eventually, write_tone
from tests.support.requirements import require_libvlc

NO_SUCH_ALSA_DEVICE = "sessionroom-no-such-pcm"


@pytest.fixture(autouse=True)
def libvlc() -> None:
    require_libvlc()


@pytest.fixture
def tone(tmp_path: Path) -> Path:
    return write_tone(tmp_path / "a440.wav", 440, 3.0)


def test_the_output_comes_from_the_room_s_device() -> None:
    device = Device(id="music", kind="music", driver="vlc", aout="alsa", audio_device="null")
    selection = OutputSelection.from_device(device)
    assert selection == OutputSelection(aout="alsa", audio_device="null")
    assert selection.instance_args() == ["--no-video", "--quiet", "--aout=alsa", "--alsa-gain=0"]


def test_without_an_aout_vlc_picks_its_default_output() -> None:
    assert OutputSelection().instance_args() == ["--no-video", "--quiet"]


def test_module_options_are_passed_to_vlc(tmp_path: Path) -> None:
    selection = OutputSelection(aout="afile", options=(f"--audiofile-file={tmp_path / 'x.wav'}",))
    assert selection.instance_args()[-1] == f"--audiofile-file={tmp_path / 'x.wav'}"


def test_an_unknown_output_module_is_refused_naming_the_available_ones() -> None:
    """VLC itself would silently fall back to another output."""
    with pytest.raises(OutputUnusableError, match=r"no audio output 'pulsee'.*available: .*alsa"):
        VlcOutput(OutputSelection(aout="pulsee"))


def test_amem_is_refused_because_it_plays_nothing() -> None:
    with pytest.raises(OutputUnusableError, match="amem"):
        VlcOutput(OutputSelection(aout="amem"))


@pytest.mark.parametrize("aout", ["dummy", "adummy", "afile", "file", "alsa"])
def test_vlc_s_module_names_and_short_names_are_accepted(aout: str, tmp_path: Path) -> None:
    options = (f"--audiofile-file={tmp_path / 'out.wav'}",) if "file" in aout else ()
    VlcOutput(OutputSelection(aout=aout, options=options)).close()


def test_without_libvlc_the_error_names_the_debian_packages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No machine without libvlc is at hand: a None in sys.modules makes `import vlc` fail."""
    monkeypatch.setitem(sys.modules, "vlc", None)
    with pytest.raises(VlcUnavailableError) as raised:
        load_vlc()
    message = str(raised.value)
    assert DEBIAN_PACKAGES in message
    assert "\n" not in message


def test_a_player_on_the_configured_device_reports_the_volume_set(tone: Path) -> None:
    with ObservedOutput(OutputSelection(aout="alsa", audio_device="null")) as output:
        player = output.new_player()
        player.audio_set_volume(37)
        assert player.audio_output_device_get() == "null"
        player.set_media(output.media(tone))
        player.play()
        assert eventually(lambda: player.get_time() > 300)
        assert player.audio_get_volume() == 37
        assert output.failure is None


def test_a_device_that_cannot_be_opened_is_reported_once(tone: Path) -> None:
    """VLC keeps 'playing' without sound; only its log tells, and the output says so once."""
    with VlcOutput(OutputSelection(aout="alsa", audio_device=NO_SUCH_ALSA_DEVICE)) as output:
        player = output.new_player()
        player.set_media(output.media(tone))
        player.play()
        assert eventually(lambda: output.failure is not None)
        failure = output.take_failure()
        assert failure is not None
        assert failure.startswith(f"audio output alsa ({NO_SUCH_ALSA_DEVICE}) failed: ")
        assert NO_SUCH_ALSA_DEVICE in failure
        assert output.take_failure() is None
        output.clear_failure()
        assert output.failure is None


def _blocks_after_now(capture: Capture, count: int) -> np.ndarray:
    """The samples of the next `count` blocks VLC delivers, skipping one that may be under way."""
    delivered = len(capture.blocks())
    assert eventually(lambda: len(capture.blocks()) > delivered + count)
    return np.concatenate([block for _, block in capture.blocks()[delivered + 1 :]])


def test_vlc_plays_a_volume_as_the_cube_of_it_in_amplitude(tone: Path) -> None:
    """The fact behind the crossfade law (software volume, as alsa and amem apply it)."""
    with ObservedOutput(OutputSelection(aout="dummy"), capture=True) as output:
        player = output.new_player()
        capture = output.captures[0]
        player.set_media(output.media(tone))
        player.play()
        assert eventually(lambda: capture.seconds() > 0)
        assert player.audio_set_volume(50) == 0
        later = _blocks_after_now(capture, count=10)
        player.stop()
        assert float(np.abs(later).max()) / 32768 == pytest.approx(0.5 * 0.5**3, rel=0.02)


def test_a_volume_set_while_no_input_plays_is_lost_by_vlc(tone: Path) -> None:
    """Why PlayerVolume exists: VLC refuses it, and amem starts every input at 100 %."""
    with ObservedOutput(OutputSelection(aout="dummy"), capture=True) as output:
        player = output.new_player()
        assert player.audio_set_volume(20) == -1
        player.set_media(output.media(tone))
        player.play()
        assert eventually(lambda: output.captures[0].seconds() > 0.2)
        player.stop()
        assert player.audio_set_volume(20) == -1
        first_block = output.captures[0].blocks()[0][1]
        assert float(np.abs(first_block).max()) / 32768 == pytest.approx(0.5, rel=0.01)


def test_a_new_player_is_silent_whatever_volume_another_player_has() -> None:
    """VLC's volume-save would start a new alsa output at the last volume any player of the
    process had (42 here): the output starts it silent (`SILENT_START`)."""
    with ObservedOutput(OutputSelection(aout="alsa", audio_device="null")) as output:
        output.new_player().audio_set_volume(42)
        assert output.new_player().audio_get_volume() == 0


def test_a_player_stopped_once_starts_its_next_input_silent_while_another_plays(
    tone: Path,
) -> None:
    """A crossfade into a deck that played before: VLC makes the deck a new output for it,
    which would start at the volume the other deck plays at (45 here), not silent."""
    with ObservedOutput(OutputSelection(aout="alsa", audio_device="null")) as output:
        playing, stopped = output.new_player(), output.new_player()
        stopped.set_media(output.media(tone))
        stopped.play()
        playing.set_media(output.media(tone))
        playing.play()
        assert eventually(lambda: min(stopped.get_time(), playing.get_time()) > 200)
        stopped.stop()
        playing.audio_set_volume(45)
        assert eventually(lambda: playing.audio_get_volume() == 45)
        stopped.set_media(output.media(tone))
        stopped.play()
        assert eventually(lambda: stopped.audio_get_volume() >= 0)  # its new output exists
        assert stopped.audio_get_volume() == 0


def _kept(volume: PlayerVolume) -> None:
    """What the engine does: refresh on every tick, and set again a few times a second."""
    volume.refresh()
    volume.set(volume.wanted, again=True)


def test_a_volume_wanted_while_stopped_reaches_vlc_once_the_player_plays(tone: Path) -> None:
    with ObservedOutput(OutputSelection(aout="alsa", audio_device="null")) as output:
        player = output.new_player()
        volume = PlayerVolume(player, output.vlc)
        player.set_media(output.media(tone))
        player.play()
        assert eventually(lambda: player.get_time() > 200)
        player.stop()
        volume.set(37)
        assert volume.pending
        player.play()
        assert eventually(lambda: _kept(volume) or player.audio_get_volume() == 37)
        assert not volume.pending


def test_a_player_silenced_before_a_stop_starts_its_next_input_silent(tone: Path) -> None:
    """alsa keeps a player's last volume for its next input: silence() makes that 0."""
    with ObservedOutput(OutputSelection(aout="alsa", audio_device="null")) as output:
        player = output.new_player()
        volume = PlayerVolume(player, output.vlc)
        player.set_media(output.media(tone))
        player.play()
        assert eventually(lambda: _kept(volume) or player.get_time() > 200)
        volume.set(60)
        assert eventually(lambda: _kept(volume) or player.audio_get_volume() == 60)
        volume.silence()
        player.stop()
        player.play()
        assert eventually(lambda: player.audio_get_volume() >= 0)
        assert player.audio_get_volume() == 0
        assert volume.pending


def test_on_amem_the_wanted_volume_comes_back_after_each_new_input(tone: Path) -> None:
    with ObservedOutput(OutputSelection(aout="dummy"), capture=True) as output:
        player = output.new_player()
        capture = output.captures[0]
        volume = PlayerVolume(player, output.vlc)
        volume.set(20)
        for _ in range(2):
            player.set_media(output.media(tone))
            player.play()
            assert eventually(lambda: capture.seconds() > 0 and volume.pending)
            assert eventually(lambda: _kept(volume) or not volume.pending)
            later = _blocks_after_now(capture, count=5)
            player.stop()
            assert float(np.abs(later).max()) / 32768 == pytest.approx(0.5 * 0.2**3, rel=0.05)


def _played_twice_on(output: ObservedOutput, tone: Path, *, ticking: bool) -> list[str | None]:
    """Play `tone` on a new player, stop, play it again; the device of each of its outputs.

    Between the two, VLC ends the player's audio output and makes a new one for the next input.
    `ticking`: `refresh_devices` is called as the engine's tick would, while it plays.
    """
    player = output.new_player()
    devices = []
    for _ in range(2):
        player.set_media(output.media(tone))
        player.play()
        assert eventually(lambda: (ticking and output.refresh_devices()) or player.get_time() > 500)
        devices.append(player.audio_output_device_get())
        player.stop()
    return devices


def test_a_player_s_next_input_plays_on_the_configured_device_after_a_stop(tone: Path) -> None:
    """alsa's new output takes the device from the player (VLC would open its default device:
    on this machine there is none, an error)."""
    with ObservedOutput(OutputSelection(aout="alsa", audio_device="null")) as output:
        assert _played_twice_on(output, tone, ticking=False) == ["null", "null"]
        assert output.failure is None


def test_without_a_module_named_the_device_is_selected_again_for_each_new_output(
    tone: Path,
) -> None:
    """VLC's default output module (alsa here, after PulseAudio, which does not run) cannot be
    told the device ahead: `refresh_devices` selects it on the new output."""
    with ObservedOutput(OutputSelection(audio_device="null")) as output:
        assert _played_twice_on(output, tone, ticking=True) == ["null", "null"]
