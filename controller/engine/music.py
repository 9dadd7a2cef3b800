"""The room's music: each scene's playlist, its master volume, the operator's controls.

The room PC plays the music itself (`controller.media.music` through VLC); this module
decides what plays and how loud. The master volume fades on the engine's clock and every
step passes the output path (cap, ramp, and no rise during an emergency). Times given to
the player are real seconds (session time divided by the time scale).
"""

from __future__ import annotations

from controller.api.commands import Music
from controller.api.state import MusicInfo
from controller.config import Room
from controller.engine.local import MusicOutput
from controller.engine.output import MUSIC, Record, RoomOutput
from controller.engine.phases import CommandRefused
from controller.engine.targets import MusicTarget
from controller.engine.volume import VolumeFades

DEFAULT_FADE_OUT_S = 5.0
"""An operator's fade-out without `seconds` lasts this long (real seconds)."""


class MusicControl:
    """What the music player plays and at which volume."""

    def __init__(
        self,
        room: Room,
        player: MusicOutput | None,
        *,
        output: RoomOutput,
        volumes: VolumeFades,
        record: Record,
        time_scale: float,
        problem: str | None = None,
    ) -> None:
        self._room = room
        self.player = player
        self.problem = problem
        """Why there is no player (no libvlc), for the state and refusals."""
        self.media_problem: str | None = None
        """The player's latest problem (a missing track, a failed output)."""
        self._output = output
        self._volumes = volumes
        self._record = record
        self._scale = time_scale
        self.target: MusicTarget | None = None

    def available(self) -> MusicOutput:
        """The player, or CommandRefused saying why there is none."""
        if self.player is None:
            raise CommandRefused(self.problem or "music is not available on this room PC")
        return self.player

    @property
    def volume(self) -> float:
        """The master volume let out last."""
        return self._output.volume_of(MUSIC)

    def scene_volume(self) -> float:
        return self.target.volume if self.target else 0.0

    def apply(self, target: MusicTarget, override: float | None, now: float) -> None:
        """A scene's music: crossfade to its playlist (or fade out) and fade the volume."""
        self.target = target
        if self.player is None:
            return
        if target.playlist is None:
            self.fade_out(target.crossfade_s / self._scale, now)
            return
        self.player.play(
            self._room.playlists[target.playlist],
            self._real(now),
            volume=self.volume,
            crossfade_s=target.crossfade_s / self._scale,
            track_crossfade_s=target.track_crossfade_s / self._scale,
            order=target.order,
            loop=target.loop,
        )
        self.fade_volume(target.volume if override is None else override, target.crossfade_s, now)

    def fade_volume(self, level: float, fade_s: float, now: float) -> None:
        """Fade the master volume to `level`; journaled as the music's target."""
        duration = self._volumes.fade_to(MUSIC, level, fade_s, now)
        self._record("command", {"volume": level, "fade_s": duration}, device=MUSIC)

    def fade_out(self, seconds: float, now: float) -> None:
        """Fade to silence over `seconds` (real time), then stop; 0 stops at once."""
        if self.player is None:
            return
        self._volumes.silence(MUSIC, now)
        if seconds > 0:
            self.player.fade_out(seconds, self._real(now))
        else:
            self.player.stop(self._real(now))

    def control(self, command: Music, now: float) -> None:
        """The operator's pause, resume, skip, previous or fade-out."""
        player = self.available()
        real_now = self._real(now)
        if command.op == "fade_out":
            self.fade_out(
                command.seconds if command.seconds is not None else DEFAULT_FADE_OUT_S, now
            )
        elif command.op == "pause":
            player.pause()
        elif command.op == "resume":
            player.resume(real_now)
        elif command.op == "skip":
            player.skip(real_now)
        else:
            player.previous(real_now)

    def tick(self, now: float) -> None:
        if self.player is not None:
            self.player.tick(self._real(now))

    def moving(self, now: float) -> bool:
        return self.player is not None and self.player.moving(self._real(now))

    def reported(self, problem: str) -> bool:
        """The player reports a problem; False when it is the one reported last."""
        if problem == self.media_problem:
            return False
        self.media_problem = problem
        return True

    def info(self, now: float) -> MusicInfo:
        if self.player is None:
            return MusicInfo(available=False, status="unavailable", error=self.problem)
        playing = self.player.snapshot(self._real(now))
        status = playing.state if playing.state in ("playing", "paused", "stopped") else "playing"
        return MusicInfo(
            status=status,
            playlist=playing.playlist,
            title=playing.title,
            position_s=playing.position_s,
            duration_s=playing.duration_s,
            volume=playing.volume,
            error=self.media_problem,
        )

    def _real(self, now: float) -> float:
        return now / self._scale
