"""Music on one output: playlists on two VLC decks, crossfades and ramps on the engine's clock.

Volume is an engine level 0–1 on VLC's own volume scale (1.0 = VLC 100 % = the room's calibrated
output). VLC turns a volume v into amplitude v³ (measured on alsa and amem; VLC's pulse module
hands v to PulseAudio as its software volume, which is cubic as well), so a deck's
share of a crossfade is mixed in amplitude: a deck plays at `master · (weight · gain)^(1/3)`,
and the decks' weights sum to at most 1 (the rising deck lags one update behind the falling
one), so together they never exceed the master volume.

Nothing here sleeps or reads a clock (but for a look at a track VLC could not play, at most
`LOOK_WAIT_S`): every change takes `now` (seconds on the engine's session
clock) and `tick(now)` moves ramps on. VLC's events arrive on VLC's threads; they are only queued
there and handled in `tick`, on the engine's thread.
"""

from __future__ import annotations

import math
import os
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Self

from controller.config.models import Device
from controller.config.playlists import Playlist, Track
from controller.config.settings import SafetyLimits
from controller.media.vlc_output import OutputSelection, PlayerVolume, VlcOutput, vlc_volume

UPDATE_INTERVAL_S = 0.25
"""Deck volumes and track positions are refreshed at most this often (4 updates/s per deck)."""

STALL_S = 0.5
"""A rise goes on at most this long past the last refresh without one: after a longer gap (the
engine's event loop was blocked) it takes up from there rather than catching up in one jump,
so a single step up is at most half a second of ramp (docs/safety.md#volume-ramp)."""

LOOK_WAIT_S = 0.05
"""How long the engine's thread waits for a look at a track VLC could not play (gone, not a
file, not readable): on a music mount that does not answer (a network share whose server is
gone) the look hangs, and the reason then says so instead of holding the engine up."""

PlayState = Literal["stopped", "playing", "paused"]
Order = Literal["sequential", "shuffle"]
ErrorCallback = Callable[[str], None]


@dataclass(frozen=True)
class VolumeLimits:
    """The room's loudness limits as fractions: a volume cap and the fastest allowed rise."""

    cap: float = 0.7
    ramp_per_s: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.cap <= 1.0:
            raise ValueError(f"volume cap {self.cap} must lie between 0 and 1")
        if not self.ramp_per_s > 0.0:
            raise ValueError(f"volume ramp {self.ramp_per_s}/s must be above 0")

    @classmethod
    def from_safety(cls, safety: SafetyLimits) -> VolumeLimits:
        """The room's `volume_cap` and `volume_ramp_per_s` (in %) as fractions."""
        return cls(cap=safety.volume_cap / 100, ramp_per_s=safety.volume_ramp_per_s / 100)


@dataclass(frozen=True)
class Ramp:
    """A straight line from `start` to `end` over `duration` seconds from `start_time`."""

    start: float
    end: float
    start_time: float = 0.0
    duration: float = 0.0

    @classmethod
    def steady(cls, value: float) -> Ramp:
        return cls(value, value)

    def value_at(self, now: float) -> float:
        if self.duration <= 0.0 or now >= self.start_time + self.duration:
            return self.end
        if now <= self.start_time:
            return self.start
        return self.start + (self.end - self.start) * ((now - self.start_time) / self.duration)

    def finished(self, now: float) -> bool:
        return now >= self.start_time + self.duration


def crossfade(outgoing_weight: float, now: float, seconds: float) -> tuple[Ramp, Ramp]:
    """Ramps for the outgoing and the incoming deck; at every instant their sum is at most 1."""
    return Ramp(outgoing_weight, 0.0, now, seconds), Ramp(0.0, 1.0, now, seconds)


def deck_level(master: float, weight: float, gain_db: float, cap: float) -> float:
    """A deck's VLC volume level: its share `weight` of the master in amplitude, with track gain."""
    amplitude_share = max(weight, 0.0) * 10.0 ** (gain_db / 20.0)
    return min(cap, master * math.pow(amplitude_share, 1.0 / 3.0))


class MasterVolume:
    """The output's master volume: ramps only, never above the cap, never rising too fast."""

    def __init__(self, limits: VolumeLimits) -> None:
        self.limits = limits
        self._ramp = Ramp.steady(0.0)

    def value_at(self, now: float) -> float:
        return self._ramp.value_at(now)

    @property
    def target(self) -> float:
        return self._ramp.end

    def ramp_to(self, level: float, now: float, over_s: float | None = None) -> None:
        """Ramp to `level` (capped); over `over_s`, or at the ramp limit when None.

        A rise never goes faster than the ramp limit, whatever `over_s` asks; a fall may.
        """
        current = self.value_at(now)
        target = min(max(level, 0.0), self.limits.cap)
        change = target - current
        slowest_allowed = max(change, 0.0) / self.limits.ramp_per_s
        asked = abs(change) / self.limits.ramp_per_s if over_s is None else max(over_s, 0.0)
        self._ramp = Ramp(current, target, now, max(asked, slowest_allowed))

    def ramping(self, now: float) -> bool:
        return not self._ramp.finished(now)

    def stalled(self, since: float, now: float) -> None:
        """Nothing was applied from `since` to `now`: a rise under way pauses for what of
        that gap is longer than `STALL_S`, so the output is not handed it in one jump."""
        ramp = self._ramp
        late = now - max(since, ramp.start_time) - STALL_S
        if late > 0 and ramp.end > ramp.start and not ramp.finished(since):
            self._ramp = replace(ramp, start_time=ramp.start_time + late)

    def silence(self, now: float) -> None:
        """Drop to 0 at once (nothing is audible any more)."""
        self._ramp = Ramp(0.0, 0.0, now)


@dataclass(frozen=True)
class NowPlaying:
    """What the output plays, for the engine's state report."""

    playlist: str | None
    title: str | None
    position_s: float | None
    duration_s: float | None
    volume: float
    state: PlayState

    def as_dict(self) -> dict[str, Any]:
        return {
            "playlist": self.playlist,
            "title": self.title,
            "position_s": self.position_s,
            "duration_s": self.duration_s,
            "volume": self.volume,
            "state": self.state,
        }


@dataclass(frozen=True)
class _Program:
    """A playlist in play order, as one VLC media list, and how it goes on."""

    playlist: Playlist
    order: tuple[int, ...]
    loop: bool
    track_crossfade_s: float
    media_list: Any
    positions_by_media: dict[int, int]

    def track_at(self, position: int) -> Track:
        return self.playlist.tracks[self.order[position]]

    def after(self, position: int) -> int | None:
        if position + 1 < len(self.order):
            return position + 1
        return 0 if self.loop else None

    def before(self, position: int) -> int:
        if position > 0:
            return position - 1
        return len(self.order) - 1 if self.loop else 0


def _pointer(vlc_object: Any) -> int:
    """The address of a libvlc object behind its python-vlc wrapper (stable while it lives)."""
    address: int = vlc_object._as_parameter_.value or 0
    return address


class _Deck:
    """One VLC media list player with its media player: a playlist and its gain in the mix."""

    def __init__(self, output: VlcOutput, events: deque[tuple[_Deck, int, str]]) -> None:
        vlc = output.vlc
        self.player = output.new_player()
        self.list_player = output.instance.media_list_player_new()
        self.list_player.set_media_player(self.player)
        self.program: _Program | None = None
        self.position = 0
        self.weight = Ramp.steady(0.0)
        self.retiring = False
        self.generation = 0
        self._volume = PlayerVolume(self.player, vlc, on_new_input=lambda: output.on_report())
        self._output = output
        self._events = events
        self._modes = {True: vlc.PlaybackMode.loop, False: vlc.PlaybackMode.default}
        player_events = self.player.event_manager()
        player_events.event_attach(vlc.EventType.MediaPlayerMediaChanged, self._queue, "track")
        player_events.event_attach(vlc.EventType.MediaPlayerPlaying, self._queue, "playing")
        player_events.event_attach(vlc.EventType.MediaPlayerEncounteredError, self._queue, "error")
        list_events = self.list_player.event_manager()
        list_events.event_attach(vlc.EventType.MediaListPlayerNextItemSet, self._queue, "track")
        list_events.event_attach(vlc.EventType.MediaListPlayerPlayed, self._queue, "finished")

    def _queue(self, _event: Any, kind: str) -> None:
        """On a VLC thread: only note the event; `MusicPlayer.tick` handles it."""
        self._events.append((self, self.generation, kind))
        self._output.on_report()

    @property
    def busy(self) -> bool:
        return self.program is not None

    def load(self, program: _Program, position: int, weight: Ramp) -> None:
        """Take `program` (not playing yet); events of what played before are ignored from now."""
        self.stop()
        self.generation += 1
        self.program, self.position, self.weight = program, position, weight
        self.list_player.set_media_list(program.media_list)
        self.set_looping(program.loop)

    def play_position(self) -> None:
        self.list_player.play_item_at_index(self.position)

    def set_looping(self, loop: bool) -> None:
        self.list_player.set_playback_mode(self._modes[loop])

    def retire(self, weight: Ramp) -> None:
        self.weight, self.retiring = weight, True

    def set_level(self, level: float) -> None:
        self._volume.set(vlc_volume(level))

    def refresh_volume(self) -> None:
        self._volume.refresh()

    def moving(self, now: float) -> bool:
        """Crossfading, or VLC has not yet taken the volume for the input it plays now."""
        return not self.weight.finished(now) or self._volume.pending

    def reassert_level(self, level: float) -> None:
        self._volume.set(vlc_volume(level), again=True)

    def set_paused(self, paused: bool) -> None:
        self.list_player.set_pause(1 if paused else 0)

    def refresh_position(self) -> bool:
        """Read which track VLC plays now; True when it moved to another one."""
        media = self.player.get_media()
        if media is None or self.program is None:
            return False
        position = self.program.positions_by_media.get(_pointer(media))
        media.release()
        if position is None or position == self.position:
            return False
        self.position = position
        return True

    def time_s(self) -> float | None:
        milliseconds = self.player.get_time()
        return milliseconds / 1000 if milliseconds >= 0 else None

    def length_s(self) -> float | None:
        milliseconds = self.player.get_length()
        return milliseconds / 1000 if milliseconds > 0 else None

    def stop(self) -> None:
        if self.program is not None:
            self._volume.silence()
            self.list_player.stop()
        self.program, self.retiring = None, False
        self.weight = Ramp.steady(0.0)

    def release(self) -> None:
        """Release the list player; the media player belongs to the output."""
        self.stop()
        self.list_player.release()


class MusicPlayer:
    """Plays playlists on one VLC output with crossfades, ramps and the room's loudness limits.

    The engine calls `tick(now)` regularly (a few times a second is plenty) and `snapshot(now)`
    to report. Problems (a track that cannot be played, a failing output) go to `on_error`,
    always from within a call on the engine's thread.
    """

    def __init__(
        self,
        output: VlcOutput,
        limits: VolumeLimits,
        *,
        on_error: ErrorCallback,
        seed: int | None = None,
    ) -> None:
        self.output = output
        self.limits = limits
        self._on_error = on_error
        self._random = random.Random(seed)
        self._master = MasterVolume(limits)
        self._events: deque[tuple[_Deck, int, str]] = deque()
        self._decks = (_Deck(output, self._events), _Deck(output, self._events))
        self._active: _Deck | None = None
        self._paused = False
        self._stop_when_silent = False
        self._failures_in_a_row = 0
        self._refreshed_at = -math.inf
        self._looking: threading.Thread | None = None
        """The last look at a track VLC could not play (`_why_unplayable`)."""

    @classmethod
    def for_device(
        cls,
        device: Device,
        safety: SafetyLimits,
        *,
        on_error: ErrorCallback,
        seed: int | None = None,
    ) -> MusicPlayer:
        """A player on the output a room's music device names (`aout`, `audio_device`)."""
        output = VlcOutput(OutputSelection.from_device(device))
        return cls(output, VolumeLimits.from_safety(safety), on_error=on_error, seed=seed)

    # ------------------------------------------------------------------ operator controls

    def play(
        self,
        playlist: Playlist,
        now: float,
        *,
        volume: float,
        crossfade_s: float = 0.0,
        track_crossfade_s: float = 0.0,
        order: Order = "sequential",
        loop: bool = True,
    ) -> None:
        """Play `playlist`, crossfading from what plays now; the same playlist only changes volume.

        The order of a playlist that already plays is kept; its loop and track crossfade change.
        """
        self._stop_when_silent = False
        self._master.ramp_to(volume, now)
        playing = self._active.program if self._active is not None else None
        if playing is not None and playing.playlist.name == playlist.name:
            self._change_program(playing, loop, track_crossfade_s)
            return
        if not playlist.tracks:
            self._on_error(f"playlist {playlist.name!r} has no tracks; nothing to play")
            return
        self.output.clear_failure()
        self._failures_in_a_row = 0
        program = self._program(playlist, order, loop, track_crossfade_s)
        self._switch(program, 0, crossfade_s, now)

    def pause(self) -> None:
        """Pause at once (both decks, during a crossfade); ramps go on with the clock."""
        if self._active is None or self._paused:
            return
        self._paused = True
        for deck in self._busy_decks():
            deck.set_paused(True)

    def resume(self, now: float) -> None:
        """Go on where paused, fading in from silence at the ramp limit."""
        if not self._paused:
            return
        self._paused = False
        self._fade_in_from_silence(now)
        for deck in self._busy_decks():
            deck.set_level(self._level(deck, now))
            deck.set_paused(False)

    def skip(self, now: float) -> None:
        """The next track (crossfaded if the playlist has a track crossfade); past the end, stop."""
        active = self._active
        if active is None or active.program is None:
            return
        following = active.program.after(active.position)
        if following is None:
            self.stop(now)
            return
        self._go_to(active, following, now)

    def previous(self, now: float) -> None:
        """The previous track; at the first track of a playlist that does not loop, its start."""
        active = self._active
        if active is None or active.program is None:
            return
        self._go_to(active, active.program.before(active.position), now)

    def set_volume(self, level: float, now: float, over_s: float | None = None) -> None:
        """Ramp the master volume (capped; a rise never faster than the ramp limit)."""
        self._stop_when_silent = False
        self._master.ramp_to(level, now, over_s)

    def fade_out(self, seconds: float, now: float) -> None:
        """Fade to silence over `seconds`, then stop."""
        if self._active is None:
            return
        self._master.ramp_to(0.0, now, over_s=seconds)
        self._stop_when_silent = True

    def stop(self, now: float) -> None:
        """Stop at once; the next start fades in from silence."""
        for deck in self._decks:
            deck.stop()
        self._active = None
        self._paused = False
        self._stop_when_silent = False
        self._master.silence(now)

    # ------------------------------------------------------------------ engine interface

    def moving(self, now: float) -> bool:
        """Whether a ramp, a crossfade or a fade-out is under way, or a VLC event waits:
        until then `tick` has work on every call, afterwards only every UPDATE_INTERVAL_S."""
        return (
            bool(self._events)
            or self._stop_when_silent
            or self._master.ramping(now)
            or any(deck.moving(now) for deck in self._busy_decks())
        )

    def tick(self, now: float) -> None:
        """Handle VLC's events, report problems, move ramps and track crossfades on."""
        self._handle_events(now)
        failure = self.output.take_failure()
        if failure is not None:
            self._on_error(failure)
        if self._stop_when_silent and self._master.value_at(now) <= 0.0:
            self.stop(now)
            return
        self.output.refresh_devices()
        for deck in self._busy_decks():
            deck.refresh_volume()
        if now < self._refreshed_at + UPDATE_INTERVAL_S:
            return
        self._master.stalled(self._refreshed_at, now)
        self._refreshed_at = now
        retiring_first = sorted(self._busy_decks(), key=lambda deck: not deck.retiring)
        for deck in retiring_first:  # the outgoing deck steps down before the incoming steps up
            if deck.retiring and deck.weight.finished(now):
                deck.stop()
            else:
                deck.reassert_level(self._level(deck, now))
        self._start_track_crossfade(now)

    def snapshot(self, now: float) -> NowPlaying:
        """What plays now: playlist, title, position, duration, master volume and state."""
        volume = self._master.value_at(now)
        active = self._active
        if active is None or active.program is None:
            return NowPlaying(None, None, None, None, volume, "stopped")
        track = active.program.track_at(active.position)
        return NowPlaying(
            playlist=active.program.playlist.name,
            title=track.title,
            position_s=active.time_s(),
            duration_s=active.length_s() or track.duration_s,
            volume=volume,
            state="paused" if self._paused else "playing",
        )

    def close(self) -> None:
        """Stop, and close the output (which releases the players)."""
        for deck in self._decks:
            deck.release()
        self.output.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ inside

    def _busy_decks(self) -> list[_Deck]:
        return [deck for deck in self._decks if deck.busy]

    def _level(self, deck: _Deck, now: float) -> float:
        """The deck's level now; during a crossfade the incoming deck lags one update behind.

        The two decks are two VLC streams that apply their volume steps a few milliseconds
        apart; lagging the rising deck by one step keeps their sum below the master even then.
        """
        if deck.program is None:
            return 0.0
        gain_db = deck.program.track_at(deck.position).gain_db
        master = self._master.value_at(now)
        rising = deck is self._active and any(other.retiring for other in self._decks)
        weight = deck.weight.value_at(now - UPDATE_INTERVAL_S if rising else now)
        return deck_level(master, weight, gain_db, self.limits.cap)

    def _change_program(self, program: _Program, loop: bool, track_crossfade_s: float) -> None:
        changed = replace(program, loop=loop, track_crossfade_s=track_crossfade_s)
        for deck in self._decks:
            if deck.program is program:
                deck.program = changed
                deck.set_looping(loop)

    def _fade_in_from_silence(self, now: float) -> None:
        """Start again from silence: the master rises to its target at the ramp limit."""
        target = self._master.target
        self._master.silence(now)
        self._master.ramp_to(target, now)

    def _program(
        self, playlist: Playlist, order: Order, loop: bool, track_crossfade_s: float
    ) -> _Program:
        play_order = list(range(len(playlist.tracks)))
        if order == "shuffle":
            self._random.shuffle(play_order)
        media_list = self.output.instance.media_list_new()
        positions_by_media: dict[int, int] = {}
        for position, index in enumerate(play_order):
            media = self.output.media(playlist.tracks[index].path)
            media_list.add_media(media)
            positions_by_media[_pointer(media)] = position
            media.release()
        return _Program(
            playlist, tuple(play_order), loop, track_crossfade_s, media_list, positions_by_media
        )

    def _switch(self, program: _Program, position: int, seconds: float, now: float) -> None:
        """Start `program` at `position` on the free deck, crossfading over `seconds`."""
        outgoing = self._active
        incoming = next(deck for deck in self._decks if deck is not outgoing)
        incoming.stop()  # a deck still fading out from an earlier crossfade: the quieter one
        if outgoing is not None and seconds > 0.0 and not self._paused:
            outgoing_ramp, incoming_ramp = crossfade(outgoing.weight.value_at(now), now, seconds)
            outgoing.retire(outgoing_ramp)
        else:
            if outgoing is not None:
                outgoing.stop()
            if self._paused:
                self._paused = False
                self._fade_in_from_silence(now)
            incoming_ramp = Ramp(0.0, 1.0, now, seconds)
        self._active = incoming
        incoming.load(program, position, incoming_ramp)
        self._jump(incoming, position, now)

    def _jump(self, deck: _Deck, position: int, now: float) -> None:
        """Play `position` on `deck`, its volume set first so that it never starts too loud."""
        deck.position = position
        deck.set_level(self._level(deck, now))
        deck.play_position()

    def _go_to(self, deck: _Deck, position: int, now: float) -> None:
        program = deck.program
        if program is None:
            return
        self.resume(now)
        if program.track_crossfade_s > 0.0:
            self._switch(program, position, program.track_crossfade_s, now)
        else:
            self._jump(deck, position, now)

    def _start_track_crossfade(self, now: float) -> None:
        """Near the end of a track, start the next one on the other deck and crossfade."""
        active = self._active
        if active is None or active.program is None or self._paused:
            return
        program = active.program
        if program.track_crossfade_s <= 0.0 or any(deck.retiring for deck in self._decks):
            return
        following = program.after(active.position)
        length, time = active.length_s(), active.time_s()
        if following is None or length is None or time is None:
            return
        remaining = length - time
        if remaining <= program.track_crossfade_s:
            self._switch(program, following, min(program.track_crossfade_s, remaining), now)

    def _handle_events(self, now: float) -> None:
        while self._events:
            deck, generation, kind = self._events.popleft()
            if generation != deck.generation or deck.program is None:
                continue
            if kind == "track":
                if deck.refresh_position() and deck.retiring:
                    deck.stop()  # the outgoing deck moved on to its next track: it is done
                else:
                    deck.set_level(self._level(deck, now))
            elif kind == "playing" and deck is self._active:
                self._failures_in_a_row = 0
            elif kind == "error":
                self._skip_failed_track(deck, now)
            elif kind == "finished":
                if deck is self._active:
                    self.stop(now)
                else:
                    deck.stop()

    def _skip_failed_track(self, deck: _Deck, now: float) -> None:
        program = deck.program
        if program is None:
            return
        deck.refresh_position()
        track = program.track_at(deck.position)
        self._on_error(
            f"track {track.title!r} of playlist {program.playlist.name!r} ({track.path}) "
            f"could not be played ({self._why_unplayable(track)}); skipped"
        )
        if deck is not self._active:
            deck.stop()
            return
        self._failures_in_a_row += 1
        if self._failures_in_a_row >= len(program.order):
            self._on_error(
                f"none of the {len(program.order)} tracks of playlist "
                f"{program.playlist.name!r} could be played; music stopped"
            )
            self.stop(now)
            return
        following = program.after(deck.position)
        if following is None:
            self.stop(now)
            return
        self._jump(deck, following, now)

    def _why_unplayable(self, track: Track) -> str:
        """Why VLC could not play `track`, looked at on a daemon thread of its own, for at most
        `LOOK_WAIT_S`; one look at a time (a look still hung says the folder does not answer)."""
        if self._looking is not None and self._looking.is_alive():
            return "its folder has not answered a look at an earlier track"
        seen: list[str] = []
        look = threading.Thread(
            target=lambda: seen.append(_look_at(track)), name="sessionroom-track-look", daemon=True
        )
        look.start()
        look.join(LOOK_WAIT_S)
        self._looking = look
        return seen[0] if seen else f"its folder has not answered for {LOOK_WAIT_S * 1000:g} ms"


def _look_at(track: Track) -> str:
    """Why VLC could not play `track`, by its file; blocks as long as its disk does."""
    if not track.path.exists():
        return "file not found"
    if not track.path.is_file():
        return "not a file"
    if not os.access(track.path, os.R_OK):
        return "file not readable"
    return "VLC could not open or decode it"
