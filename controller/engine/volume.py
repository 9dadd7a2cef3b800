"""Volume fades for every sound the room makes: music, BLS tones and VR/display content.

A channel (`music`, `tones`, or a VR device's id) fades on the engine's fade engine, never
faster than the room's ramp allows (docs/safety.md#loudness); each step leaves through the
output path, which caps it, holds it to the ramp and, during an emergency, lets no
volume rise.
"""

from __future__ import annotations

from controller.engine.fades import FadeEngine
from controller.engine.output import LEVEL_EPSILON, RoomOutput
from controller.engine.safety import SafetyGate

ATTRIBUTE = "volume"


class VolumeFades:
    """The room's volume channels on the shared fade engine."""

    def __init__(
        self,
        fades: FadeEngine,
        output: RoomOutput,
        gate: SafetyGate,
        *,
        time_scale: float,
        step_s: float,
    ) -> None:
        self._fades = fades
        self._output = output
        self._gate = gate
        self._scale = time_scale
        self._step_s = step_s

    def fade_to(self, channel: str, level: float, fade_s: float, now: float) -> float:
        """Fade a channel to `level` over at least `fade_s` session seconds; the fade's length.

        A rise takes at least as long as the room's ramp allows.
        """
        key = (channel, ATTRIBUTE)
        current = self._fades.value(key, now)
        if current is None:
            self._fades.set(key, 0.0, now)
            current = 0.0
        shortest = self._gate.shortest_volume_fade_s(current, level) * self._scale
        duration = max(fade_s, shortest)
        self._fades.fade_to(key, level, duration, now)
        return duration

    def started_at(self, channel: str, level: float, now: float) -> None:
        """The channel started sounding at `level` (let out by the output path) just now."""
        self._fades.set((channel, ATTRIBUTE), level, now, sent=True)

    def silence(self, channel: str, now: float) -> None:
        """The channel is silent from now on (stopped or fading out by itself)."""
        self._fades.set((channel, ATTRIBUTE), 0.0, now, sent=True)
        self._output.silenced(channel, now)

    def target(self, channel: str, now: float) -> float:
        """Where the channel is (or is fading through) now; 0 if it never sounded."""
        return self._fades.value((channel, ATTRIBUTE), now) or 0.0

    def step(self, channel: str, level: float, now: float) -> None:
        """One step of a fade, out through the gate.

        A rise the ramp held back (the step came late: the event loop was blocked) goes on
        from the volume let out, at no more than the ramp and arriving no sooner than
        planned, rather than ending short of its level with the fade believed done.
        """
        before = self._output.volume_of(channel)
        value = self._output.volume(channel, level, now, over_s=self._step_s)
        course = self._fades.course((channel, ATTRIBUTE))
        if value is None or course is None or not before < value < level - LEVEL_EPSILON:
            return  # as asked, or not rising at all (the cap, the emergency's latch)
        target, end_t = course
        self._fades.set((channel, ATTRIBUTE), value, now, sent=True)
        self.fade_to(channel, target, max(end_t - now, 0.0), now)
