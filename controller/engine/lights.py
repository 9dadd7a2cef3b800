"""Bringing lights to their targets: the safety gate, native transitions, and stepped fades.

A change is sent as one message with the device's own transition when the device can fade
that far natively; otherwise the fade engine steps the level (at most 4 updates per second
per device) and each step passes the gate again. A change the gate refuses stays wanted
and is tried again on later ticks, so nothing is lost and nothing flashes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.drivers.base import LightCommand, LightDriver, Outgoing
from controller.engine.fades import FadeEngine
from controller.engine.safety import SafetyGate, Status, Verdict
from controller.engine.targets import LightTarget

LEVEL_EPSILON = 1e-6


@dataclass(frozen=True)
class SentLight:
    """What a light was last asked to be."""

    on: bool
    level: float
    kelvin: int | None
    rgb: tuple[int, int, int] | None


SafetyReport = Callable[[str, Verdict[float]], None]


class LightControl:
    """Drives every light of the room from its wanted target."""

    def __init__(
        self,
        drivers: dict[str, LightDriver],
        *,
        gate: SafetyGate,
        fades: FadeEngine,
        time_scale: float,
        on_safety: SafetyReport,
    ) -> None:
        self._drivers = drivers
        self._gate = gate
        self._fades = fades
        self._scale = time_scale
        self._on_safety = on_safety
        self._sent: dict[str, SentLight] = {}
        self._refused: set[str] = set()

    def forget(self, device_id: str | None = None) -> None:
        """Forget what was sent (a device came back, the broker reconnected): resend it all."""
        if device_id is None:
            self._sent.clear()
        else:
            self._sent.pop(device_id, None)

    def level(self, device_id: str, now: float) -> float | None:
        """The level the light is at (or fading through) now, as far as the engine knows."""
        value = self._fades.value((device_id, "level"), now)
        if value is not None:
            return value
        sent = self._sent.get(device_id)
        return sent.level if sent else None

    def apply(
        self, device_id: str, target: LightTarget, transition_s: float, now: float
    ) -> list[Outgoing]:
        """Bring one light towards `target` over `transition_s` session seconds."""
        driver = self._drivers[device_id]
        current = self.level(device_id, now)
        wanted = 0.0 if not target.on else (target.level if target.level is not None else 1.0)
        sent = self._sent.get(device_id)
        if (
            sent is not None
            and abs(sent.level - wanted) < LEVEL_EPSILON
            and sent.on == target.on
            and (sent.kelvin, sent.rgb) == (target.kelvin, target.rgb)
        ):
            return []
        real_transition = transition_s / self._scale
        verdict = self._gate.check_light(
            device_id, wanted, now / self._scale, transition_s=real_transition
        )
        if not verdict.allowed or verdict.value is None:
            if device_id not in self._refused:
                self._refused.add(device_id)
                self._on_safety(device_id, verdict)
            return []
        self._refused.discard(device_id)
        if verdict.status is Status.CLAMPED:
            self._on_safety(device_id, verdict)
        level = verdict.value
        change = abs(level - (current if current is not None else 0.0))
        native = current is None or real_transition <= driver.native_fade_s(change) + 1e-9
        self._sent[device_id] = SentLight(target.on, level, target.kelvin, target.rgb)
        if native:
            self._fades.set((device_id, "level"), level, now, sent=True)
            command = LightCommand(
                on=target.on and level > 0,
                level=level if target.on else None,
                kelvin=target.kelvin if target.on else None,
                rgb=target.rgb if target.on else None,
                transition_s=real_transition,
            )
            return driver.command(command)
        self._fades.fade_to((device_id, "level"), level, transition_s, now)
        colour_change = (target.kelvin, target.rgb) != (
            (sent.kelvin, sent.rgb) if sent else (None, None)
        )
        if colour_change and target.on:
            start = current if current is not None else level
            colour = LightCommand(
                on=True,
                level=start,
                kelvin=target.kelvin,
                rgb=target.rgb,
                transition_s=min(real_transition, driver.native_fade_s(1.0)),
            )
            return driver.command(colour)
        return []

    def step(self, device_id: str, level: float, step_s: float, now: float) -> list[Outgoing]:
        """One step of a fade the engine runs itself; it passes the gate like any change."""
        driver = self._drivers[device_id]
        verdict = self._gate.check_light(device_id, level, now / self._scale, transition_s=step_s)
        if not verdict.allowed or verdict.value is None:
            self._on_safety(device_id, verdict)
            return []
        on = verdict.value > 0
        return driver.command(
            LightCommand(on=on, level=verdict.value if on else None, transition_s=step_s)
        )
