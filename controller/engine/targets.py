"""What each device should be doing: a scene expanded per device, in engine units (0–1 levels).

A scene names devices, `group:<name>` or `all`; the more specific key wins (`all` <
group < device id). Levels, volumes and intensities become fractions 0–1 here, so the
rest of the engine never sees percentages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from controller.config import Room
from controller.config import models as config


@dataclass(frozen=True)
class LightTarget:
    on: bool
    level: float | None = None
    kelvin: int | None = None
    rgb: tuple[int, int, int] | None = None
    fade_s: float | None = None
    """The light's own fade time, when the scene gives one."""


@dataclass(frozen=True)
class MusicTarget:
    playlist: str | None
    volume: float
    crossfade_s: float = 5.0
    track_crossfade_s: float = 0.0
    order: Literal["sequential", "shuffle"] = "sequential"
    loop: bool = True


@dataclass(frozen=True)
class VrTarget:
    action: Literal["play", "stop"]
    content: str | None = None
    volume: float | None = None
    brightness: float | None = None


@dataclass(frozen=True)
class BlsTarget:
    running: bool
    mode: str | None = None
    speed_hz: float | None = None
    tone_hz: float | None = None
    intensity: float | None = None
    passes: int | None = None
    seconds: float | None = None
    pause_s: float = 0.0
    colour: str | None = None
    confirmed: bool = False


DeviceTarget = LightTarget | MusicTarget | VrTarget | BlsTarget


def _rgb(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    return (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))


def _fraction(percent: float | None) -> float | None:
    return None if percent is None else percent / 100.0


def _light(target: config.LightTarget) -> LightTarget:
    return LightTarget(
        on=target.on,
        level=_fraction(target.level),
        kelvin=target.kelvin,
        rgb=_rgb(target.rgb),
        fade_s=target.fade_s,
    )


def _music(target: config.MusicTarget) -> MusicTarget:
    return MusicTarget(
        playlist=target.playlist,
        volume=target.volume / 100.0,
        crossfade_s=target.crossfade_s,
        track_crossfade_s=target.track_crossfade_s,
        order=target.order,
        loop=target.loop,
    )


def _vr(target: config.VrTarget) -> VrTarget:
    return VrTarget(
        action=target.action,
        content=target.content,
        volume=_fraction(target.volume),
        brightness=_fraction(target.brightness),
    )


def _bls(target: config.BlsTarget) -> BlsTarget:
    return BlsTarget(
        running=target.running,
        mode=target.mode,
        speed_hz=target.speed_hz,
        tone_hz=target.tone_hz,
        intensity=_fraction(target.intensity),
        passes=target.passes,
        seconds=target.seconds,
        pause_s=target.pause_s,
        colour=target.colour,
        confirmed=target.confirm_long_set,
    )


def scene_targets(room: Room, scene: config.Scene) -> dict[str, DeviceTarget]:
    """Every device the scene speaks of, with its target; devices it does not name are absent."""
    targets: dict[str, DeviceTarget] = {}
    sections: list[tuple[str, dict[str, DeviceTarget]]] = [
        ("light", {key: _light(value) for key, value in scene.lights.items()}),
        ("music", {key: _music(value) for key, value in scene.music.items()}),
        ("vr", {key: _vr(value) for key, value in scene.vr.items()}),
        ("bls", {key: _bls(value) for key, value in scene.bls.items()}),
    ]
    devices = config.DeviceIndex(room.devices.values())
    for kind, section in sections:
        for key in sorted(section, key=config.key_specificity):
            for device in devices.select(key, kind):
                targets[device.id] = section[key]
    return targets
