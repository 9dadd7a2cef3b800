"""The music player against real libvlc: volumes on the injected clock, controls, bad tracks.

Volumes are read back from VLC on ALSA's `null` device, which reports the volume a player has;
the position and track changes play on VLC's dummy output.

libvlc 3 does not always apply a volume at once: while a player's audio output is busy (it
starts as the input's buffering ends, or plays a block) `audio_set_volume` returns 0 and VLC
applies the volume when the output is free, a few milliseconds later (the newest one asked for
wins). So a volume is read back by waiting for VLC to report it (`Rig.reports`), never right
after the tick that set it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.config.playlists import Playlist, Track
from controller.media.music import LOOK_WAIT_S, MusicPlayer, VolumeLimits
from controller.media.vlc_output import OutputSelection
from tests.media.audio_capture import ObservedOutput, eventually, write_tone
from tests.support.requirements import require_libvlc

ALSA_NULL = OutputSelection(aout="alsa", audio_device="null")
DUMMY = OutputSelection(aout="dummy")
STEADY = VolumeLimits(cap=1.0, ramp_per_s=1.0)


@pytest.fixture(autouse=True)
def libvlc() -> None:
    require_libvlc()


@dataclass
class Rig:
    """A music player on an observed output, the errors it reported, and an injected clock."""

    player: MusicPlayer
    output: ObservedOutput
    errors: list[str] = field(default_factory=list)
    now: float = 0.0

    def tick(self, now: float) -> None:
        self.now = now
        self.player.tick(now)

    def ticking(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll `predicate` while the clock goes on 50 ms per poll and the player is ticked."""

        def ticked() -> bool:
            self.tick(self.now + 0.05)
            return predicate()

        return eventually(ticked, timeout)

    def volumes(self) -> list[int]:
        return self.output.volumes()

    def reports(self, expected: list[int], *, first: int = 0, timeout: float = 2.0) -> bool:
        """VLC reports `expected` for the decks from `first` on within `timeout`, with no
        further tick: the volumes the player set last, once VLC has applied them."""
        decks = slice(first, first + len(expected))
        return eventually(lambda: self.volumes()[decks] == expected, timeout)

    def volumes_settle_at(self, now: float, expected: list[int], timeout: float = 2.0) -> bool:
        """Tick at `now` until VLC reports `expected` (for the first decks).

        A volume set before a deck's new input has an audio output is refused (the player sets
        it again on its next tick), and one set while the output is busy comes a little later.
        """

        def ticked() -> bool:
            self.tick(now)
            return self.volumes()[: len(expected)] == expected

        return eventually(ticked, timeout)

    def title(self) -> str | None:
        return self.player.snapshot(self.now).title

    def started(self) -> bool:
        """The active deck's input runs (VLC takes volumes reliably from then on)."""
        position = self.player.snapshot(self.now).position_s
        return position is not None and position > 0.1


@pytest.fixture
def make_rig() -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(
        selection: OutputSelection = DUMMY, limits: VolumeLimits = STEADY, seed: int | None = None
    ) -> Rig:
        output = ObservedOutput(selection)
        errors: list[str] = []
        rig = Rig(MusicPlayer(output, limits, on_error=errors.append, seed=seed), output, errors)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.player.close()


@pytest.fixture
def track(tmp_path: Path) -> Callable[..., Track]:
    def make(title: str, seconds: float = 10.0, hz: float = 440.0, gain_db: float = 0.0) -> Track:
        path = write_tone(tmp_path / f"{title}.wav", hz, seconds)
        return Track(path, title, gain_db, seconds)

    return make


def playlist(name: str, *tracks: Track) -> Playlist:
    return Playlist(name, Path(f"{name}.m3u"), name.title(), tuple(tracks))


# ---------------------------------------------------------------- volume on the injected clock


def test_the_volume_rises_along_its_ramp_tick_by_tick(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig(ALSA_NULL, VolumeLimits(cap=1.0, ramp_per_s=0.1))
    rig.player.play(playlist("calm", track("one")), 0.0, volume=0.5)
    assert rig.volumes()[0] == 0
    assert eventually(rig.started)
    for step in range(1, 11):  # every half second, 5 % more
        now, percent = step / 2, 5 * step
        rig.tick(now)
        assert rig.player.snapshot(now).volume == pytest.approx(percent / 100)
        assert rig.reports([percent]), (now, rig.volumes())


def test_a_tick_that_comes_late_does_not_hand_vlc_the_ramp_s_rise_in_one_jump(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    """The engine's event loop was blocked for 3 s while the volume rose at 10 % a second:
    VLC is handed half a second's rise more (5 %), not the 30 % the ramp would have reached,
    and the ramp takes up from there (docs/safety.md#volume-ramp)."""
    rig = make_rig(ALSA_NULL, VolumeLimits(cap=1.0, ramp_per_s=0.1))
    rig.player.play(playlist("calm", track("one")), 0.0, volume=0.5)
    assert eventually(rig.started)
    assert rig.volumes_settle_at(0.5, [5])
    rig.tick(3.5)
    assert rig.reports([10]), rig.volumes()
    assert rig.player.snapshot(3.5).volume == pytest.approx(0.1)
    for quarter in range(15, 30):
        rig.tick(quarter / 4)
    assert rig.player.snapshot(5.0).volume == pytest.approx(0.25)
    assert rig.volumes_settle_at(7.5, [50])


def test_the_player_says_when_it_moves_and_reports_what_vlc_says(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    """The engine ticks at its idle pace while the music neither ramps nor waits for VLC; a
    new input, which starts at a volume of its own, calls the output's `on_report` at once."""
    rig = make_rig(ALSA_NULL, VolumeLimits(cap=1.0, ramp_per_s=0.5))
    reports: list[int] = []
    rig.output.on_report = lambda: reports.append(1)
    assert rig.player.moving(0.0) is False, "nothing plays"
    rig.player.play(playlist("calm", track("one")), 0.0, volume=0.5)
    assert eventually(lambda: bool(reports)), "VLC's new input is reported"
    assert rig.player.moving(0.5) is True, "the volume rises along its ramp"
    assert eventually(rig.started)
    rig.tick(0.5)
    rig.tick(1.0)
    assert rig.player.moving(1.0) is False, "at its volume, VLC's events handled"
    rig.player.fade_out(2.0, 1.0)
    assert rig.player.moving(2.0) is True


def test_the_room_s_cap_is_never_exceeded(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig(ALSA_NULL, VolumeLimits(cap=0.6, ramp_per_s=1.0))
    rig.player.play(playlist("loud", track("boosted", gain_db=12.0)), 0.0, volume=0.9)
    assert eventually(rig.started)
    for now in (0.5, 1.0, 2.0, 3.0):
        rig.tick(now)
        assert rig.reports([60]), (now, rig.volumes())
    rig.player.set_volume(1.0, 3.0)
    rig.tick(10.0)
    assert rig.reports([60]), rig.volumes()
    assert rig.player.snapshot(10.0).volume == 0.6


def test_a_track_s_gain_scales_its_amplitude(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    """-6.02 dB halves the amplitude: VLC volume 0.5 · 0.5^(1/3) = 0.397."""
    rig = make_rig(ALSA_NULL)
    rig.player.play(playlist("soft", track("quiet", gain_db=-6.0206)), 0.0, volume=0.5)
    assert eventually(rig.started)
    rig.tick(1.0)
    assert rig.reports([39]), rig.volumes()


def test_a_crossfade_hands_over_between_two_decks_never_louder_than_the_master(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    """Amplitude weights 1-x and x - 1/16 (the rising deck lags one 0.25 s update behind):
    VLC volumes 0.5·(1-x)^(1/3) and 0.5·(x-1/16)^(1/3)."""
    rig = make_rig(ALSA_NULL)
    rig.player.play(playlist("first", track("a")), 0.0, volume=0.5)
    assert eventually(rig.started)
    rig.tick(1.0)
    assert rig.reports([50]), rig.volumes()
    rig.player.play(playlist("second", track("b", hz=660)), 1.0, volume=0.5, crossfade_s=4.0)
    assert rig.title() == "b"
    assert eventually(rig.started)
    for now, volumes in ((2.0, [45, 28]), (3.0, [39, 37]), (4.0, [31, 44])):
        rig.tick(now)
        assert rig.reports(volumes), (now, rig.volumes())
    rig.tick(5.0)
    outgoing, incoming = rig.output.players
    assert rig.reports([50], first=1), rig.volumes()
    assert eventually(lambda: outgoing.get_state() == rig.output.vlc.State.Stopped)
    assert incoming.is_playing()


def test_a_new_crossfade_during_a_crossfade_cuts_the_quieter_deck(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig(ALSA_NULL)
    rig.player.play(playlist("first", track("a")), 0.0, volume=0.5)
    rig.player.play(playlist("second", track("b")), 1.0, volume=0.5, crossfade_s=4.0)
    rig.player.play(playlist("third", track("c")), 2.0, volume=0.5, crossfade_s=4.0)
    first, second = rig.output.players
    assert eventually(lambda: first.get_media().get_mrl().endswith("c.wav"))
    assert second.get_media().get_mrl().endswith("b.wav")
    assert rig.title() == "c"


def test_a_deck_that_played_before_plays_again_on_the_room_s_device(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    """A deck's stop ends its VLC audio output; the next playlist on it (every crossfade after
    the first) gets a new one, which VLC would open on its default device (here: none)."""
    rig = make_rig(ALSA_NULL)
    for name in ("first", "second", "third"):  # the third plays on the first deck again
        rig.player.play(playlist(name, track(name)), rig.now, volume=0.5)
        assert rig.ticking(rig.started)
    first, second = rig.output.players
    assert rig.title() == "third" and first.is_playing() and not second.is_playing()
    assert first.audio_output_device_get() == "null"
    assert rig.errors == []


def test_fade_out_ramps_to_silence_then_stops(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig(ALSA_NULL)
    rig.player.play(playlist("calm", track("one")), 0.0, volume=0.6)
    assert eventually(rig.started)
    rig.tick(0.5)
    rig.tick(1.0)
    rig.player.fade_out(3.0, 1.0)
    for now, volume in ((2.0, 40), (3.0, 20)):
        rig.tick(now)
        assert rig.reports([volume]), (now, rig.volumes())
    rig.tick(4.0)
    snapshot = rig.player.snapshot(4.0)
    assert (snapshot.state, snapshot.volume, snapshot.playlist) == ("stopped", 0.0, None)
    assert eventually(lambda: not rig.output.players[0].is_playing())


def test_after_a_stop_the_music_starts_again_from_silence(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig(ALSA_NULL, VolumeLimits(cap=1.0, ramp_per_s=0.1))
    calm = playlist("calm", track("one"))
    rig.player.play(calm, 0.0, volume=0.3)
    for now in range(1, 21):
        rig.tick(now / 2)
    assert rig.player.snapshot(10.0).volume == 0.3
    rig.player.stop(10.0)
    assert rig.player.snapshot(10.0).state == "stopped"
    rig.player.play(calm, 10.0, volume=0.3)
    assert [rig.player.snapshot(t).volume for t in (10.0, 11.0, 13.0)] == [0.0, 0.1, 0.3]


def test_playing_the_same_playlist_again_only_changes_the_volume(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig(ALSA_NULL)
    calm = playlist("calm", track("one"), track("two"))
    rig.player.play(calm, 0.0, volume=0.5)
    assert eventually(rig.started)
    rig.tick(1.0)
    rig.player.play(calm, 1.0, volume=0.3, crossfade_s=5.0)
    assert rig.volumes_settle_at(1.25, [30])
    assert rig.title() == "one"
    assert rig.started()


# ---------------------------------------------------------------- operator controls


def test_the_position_really_advances_and_the_duration_is_the_track_s(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig()
    rig.player.play(playlist("calm", track("one", seconds=8.0)), 0.0, volume=0.5)
    assert rig.ticking(lambda: (rig.player.snapshot(rig.now).position_s or 0.0) >= 0.6)
    snapshot = rig.player.snapshot(rig.now)
    assert snapshot.duration_s == pytest.approx(8.0, abs=0.05)
    assert (snapshot.playlist, snapshot.title, snapshot.state) == ("calm", "one", "playing")
    assert snapshot.as_dict()["title"] == "one"


def test_pause_holds_the_position_and_resume_fades_in_from_silence(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig(DUMMY, VolumeLimits(cap=1.0, ramp_per_s=0.1))
    rig.player.play(playlist("calm", track("one")), 0.0, volume=0.2)
    assert rig.ticking(rig.started)
    rig.player.pause()
    assert rig.ticking(lambda: rig.output.players[0].get_state() == rig.output.vlc.State.Paused)
    held = rig.player.snapshot(rig.now).position_s
    assert rig.player.snapshot(rig.now).state == "paused"
    assert not rig.ticking(lambda: rig.player.snapshot(rig.now).position_s != held, timeout=0.4)
    resumed_at = rig.now
    rig.player.resume(resumed_at)
    assert rig.player.snapshot(resumed_at).volume == 0.0
    assert rig.player.snapshot(resumed_at + 1.0).volume == pytest.approx(0.1)
    assert rig.ticking(lambda: rig.player.snapshot(rig.now).position_s != held)
    assert rig.player.snapshot(rig.now).state == "playing"


def test_skip_and_previous_move_through_the_playlist(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig()
    calm = playlist("calm", track("one"), track("two"), track("three"))
    rig.player.play(calm, 0.0, volume=0.5, loop=False)
    titles = [rig.title()]
    for move in ("skip", "skip", "previous", "previous", "previous"):
        getattr(rig.player, move)(rig.now)
        assert rig.ticking(lambda: rig.started() and rig.title() is not None)
        titles.append(rig.title())
    assert titles == ["one", "two", "three", "two", "one", "one"]


def test_past_the_ends_a_looping_playlist_wraps_around(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig()
    rig.player.play(playlist("calm", track("one"), track("two")), 0.0, volume=0.5, loop=True)
    rig.player.previous(0.0)
    assert rig.title() == "two"
    rig.player.skip(0.0)
    assert rig.title() == "one"
    assert rig.ticking(lambda: rig.output.players[0].get_media().get_mrl().endswith("one.wav"))


def test_skip_past_the_end_of_a_playlist_that_does_not_loop_stops(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig()
    rig.player.play(playlist("calm", track("one"), track("two")), 0.0, volume=0.5, loop=False)
    rig.player.skip(0.0)
    rig.player.skip(0.0)
    assert rig.player.snapshot(0.0).state == "stopped"


def test_skip_with_a_track_crossfade_crossfades_to_the_next_track(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig(ALSA_NULL)
    calm = playlist("calm", track("one"), track("two"))
    rig.player.play(calm, 0.0, volume=0.5, track_crossfade_s=2.0)
    assert eventually(rig.started)
    rig.player.skip(0.0)
    assert rig.title() == "two"
    assert eventually(rig.started)
    assert rig.volumes_settle_at(1.0, [39, 36])
    rig.tick(2.0)
    assert eventually(lambda: not rig.output.players[0].is_playing())
    assert rig.reports([50], first=1), rig.volumes()


def test_a_seeded_shuffle_plays_every_track_once_in_a_repeatable_order(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    tracks = [track(name) for name in ("a", "b", "c", "d", "e", "f")]

    def order(seed: int) -> list[str | None]:
        rig = make_rig(seed=seed)
        rig.player.play(playlist("mix", *tracks), 0.0, volume=0.5, order="shuffle", loop=False)
        titles = [rig.title()]
        for _ in tracks[1:]:
            rig.player.skip(0.0)
            titles.append(rig.title())
        return titles

    first = order(seed=7)
    assert sorted(first) == ["a", "b", "c", "d", "e", "f"]
    assert first != ["a", "b", "c", "d", "e", "f"]
    assert order(seed=7) == first
    assert order(seed=8) != first


def test_a_track_near_its_end_crossfades_into_the_next_one(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig()
    calm = playlist("calm", track("one", seconds=2.5), track("two"))
    rig.player.play(calm, 0.0, volume=0.5, track_crossfade_s=1.5)
    assert rig.ticking(lambda: rig.title() == "two", timeout=4.0)
    first, second = rig.output.players
    assert second.get_media().get_mrl().endswith("two.wav")
    assert rig.ticking(lambda: not first.is_playing())
    assert rig.errors == []


# ---------------------------------------------------------------- what goes wrong


def test_a_missing_track_is_skipped_and_reported(
    make_rig: Callable[..., Rig], track: Callable[..., Track], tmp_path: Path
) -> None:
    rig = make_rig()
    gone = Track(tmp_path / "gone.wav", "gone")
    rig.player.play(playlist("calm", gone, track("two")), 0.0, volume=0.5)
    assert rig.ticking(lambda: rig.title() == "two" and rig.started())
    assert rig.errors == [
        f"track 'gone' of playlist 'calm' ({tmp_path / 'gone.wav'}) could not be played "
        "(file not found); skipped"
    ]


def test_a_track_on_a_music_mount_that_hangs_is_skipped_without_holding_up_the_engine(
    make_rig: Callable[..., Rig],
    track: Callable[..., Track],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stand-in for a network share whose server is gone (a real one needs an NFS server to
    kill): VLC reports the tracks there unplayable, and looking at one to say why blocks
    until the test lets it go. Each is skipped at once, its reason saying the folder has not
    answered, and one look is left hanging, not one per track."""
    share = tmp_path / "share"
    answers = threading.Event()
    exists = Path.exists

    def exists_on_a_hung_share(path: Path) -> bool:
        if path.parent == share:
            answers.wait(20)
        return exists(path)

    monkeypatch.setattr(Path, "exists", exists_on_a_hung_share)
    rig = make_rig()
    gone = [Track(share / f"{name}.wav", name) for name in ("first", "second")]
    try:
        rig.player.play(playlist("calm", *gone, track("two")), 0.0, volume=0.5)
        assert rig.ticking(lambda: rig.title() == "two" and rig.started())
        looks = [t for t in threading.enumerate() if t.name == "sessionroom-track-look"]
    finally:
        answers.set()
    assert rig.errors == [
        f"track 'first' of playlist 'calm' ({gone[0].path}) could not be played "
        f"(its folder has not answered for {LOOK_WAIT_S * 1000:g} ms); skipped",
        f"track 'second' of playlist 'calm' ({gone[1].path}) could not be played "
        "(its folder has not answered a look at an earlier track); skipped",
    ]
    assert len(looks) == 1


def test_when_every_track_is_bad_the_player_reports_and_stops(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF")
    tracks = (Track(tmp_path / "gone.wav", "gone"), Track(broken, "broken"))
    rig = make_rig()
    rig.player.play(playlist("calm", *tracks), 0.0, volume=0.5)
    assert rig.ticking(lambda: rig.player.snapshot(rig.now).state == "stopped")
    assert rig.errors == [
        f"track 'gone' of playlist 'calm' ({tmp_path / 'gone.wav'}) could not be played "
        "(file not found); skipped",
        f"track 'broken' of playlist 'calm' ({broken}) could not be played "
        "(VLC could not open or decode it); skipped",
        "none of the 2 tracks of playlist 'calm' could be played; music stopped",
    ]


def test_an_output_that_fails_is_reported_once(
    make_rig: Callable[..., Rig], track: Callable[..., Track]
) -> None:
    rig = make_rig(OutputSelection(aout="alsa", audio_device="sessionroom-no-such-pcm"))
    rig.player.play(playlist("calm", track("one")), 0.0, volume=0.5)
    assert rig.ticking(lambda: bool(rig.errors))
    rig.ticking(lambda: False, timeout=0.3)
    assert len(rig.errors) == 1
    assert rig.errors[0].startswith("audio output alsa (sessionroom-no-such-pcm) failed: ")
