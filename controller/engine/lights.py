"""The room's lights: wanted targets, operator overrides, native transitions and stepped fades.

Each light has a wanted target (from the scene) and a transition; the operator may
override its level until the next phase. On every tick a light whose wanted state differs
from what was sent is brought towards it: as one message with the device's own transition
when the device can fade that far natively, otherwise by the fade engine stepping the level
(at most 4 updates per second per device). Every message leaves through the output path
(`controller.engine.output`), which applies the safety gate and the emergency latch. A
change it refuses stays wanted and is tried again on later ticks (journaled once), so
nothing is lost and nothing flashes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.drivers.base import LightCommand, LightDriver
from controller.engine.fades import FadeEngine
from controller.engine.output import LEVEL_EPSILON, RoomOutput
from controller.engine.safety import Status, Verdict
from controller.engine.targets import LightTarget


@dataclass(frozen=True)
class SentLight:
    """What a light was last asked to be."""

    on: bool
    level: float
    kelvin: int | None
    rgb: tuple[int, int, int] | None


SafetyReport = Callable[[str, Verdict[Any]], None]


def wanted_level(target: LightTarget) -> float:
    """The level a target asks for (0 when off; full when on without a level)."""
    if not target.on:
        return 0.0
    return target.level if target.level is not None else 1.0


class LightControl:
    """Drives every light of the room from its wanted target."""

    def __init__(
        self,
        drivers: Mapping[str, LightDriver],
        *,
        output: RoomOutput,
        fades: FadeEngine,
        time_scale: float,
        on_safety: SafetyReport,
    ) -> None:
        self._drivers = drivers
        self._output = output
        self._fades = fades
        self._scale = time_scale
        self._on_safety = on_safety
        self._sent: dict[str, SentLight] = {}
        self._arriving: dict[str, tuple[SentLight, float]] = {}
        """Light → what it was last sent and the session time its transition there ends.
        Kept when what was sent is forgotten: sent again, the target arrives when it was to."""
        self._refused: set[str] = set()
        self.targets: dict[str, LightTarget] = {}
        self.transitions: dict[str, float] = {}
        """Light → the transition (session seconds) its current target is reached over."""
        self.overrides: dict[str, float] = {}
        """Light → the operator's level, until the next phase."""

    @property
    def ids(self) -> list[str]:
        return list(self._drivers)

    def want(self, device_id: str, target: LightTarget, transition_s: float) -> None:
        """Make `target` the light's wanted state, reached over `transition_s` session seconds."""
        self.targets[device_id] = target
        self.transitions[device_id] = transition_s

    def override(self, device_id: str, level: float, transition_s: float) -> None:
        """The operator's level for a light (0–1), until the overrides are cleared."""
        self.overrides[device_id] = min(1.0, max(0.0, level))
        self.transitions[device_id] = transition_s
        self.targets.setdefault(device_id, LightTarget(on=True))

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

    def tick(self, now: float) -> None:
        """Bring every light towards its wanted state."""
        for device_id, target in self.targets.items():
            self._apply(device_id, self._with_override(device_id, target), now)

    def pending(self) -> bool:
        """Whether a light's wanted state has not gone out yet (held back by the gate, or
        forgotten to be sent again): `tick` tries again every time."""
        return any(
            not self._sent_already(device_id, self._with_override(device_id, target))
            for device_id, target in self.targets.items()
        )

    def _sent_already(self, device_id: str, target: LightTarget) -> bool:
        return _asks_for(self._sent.get(device_id), target)

    def _transition_s(self, device_id: str, target: LightTarget, now: float) -> float:
        """Real seconds the light is to reach `target` over: its transition, or, when the
        target goes out again (forgotten, the emergency's confirmation) while the light's
        transition to it still runs, what is left of that transition. Sent again in full, a
        light fading from where it is would get there that much later (a safe scene fading
        3 s would finish its lights-up a second late)."""
        transition_s = self.transitions.get(device_id, 0.0) / self._scale
        arriving = self._arriving.get(device_id)
        if device_id in self._sent or arriving is None or not _asks_for(arriving[0], target):
            return transition_s
        left_s = (arriving[1] - now) / self._scale
        return min(transition_s, left_s) if left_s > 0 else transition_s

    def _sent_now(self, device_id: str, sent: SentLight, transition_s: float, now: float) -> None:
        self._sent[device_id] = sent
        self._arriving[device_id] = (sent, now + transition_s * self._scale)

    def lights_up(
        self, targets: Mapping[str, LightTarget], transition_s: float, now: float
    ) -> None:
        """The emergency's lights-up: one message per light, at once, never held back.

        The transition is at most what each light fades natively, so no stepping follows.
        """
        for device_id, target in targets.items():
            driver = self._drivers[device_id]
            level = wanted_level(target)
            real_transition = min(transition_s / self._scale, driver.native_fade_s())
            self.targets[device_id] = target
            self.transitions[device_id] = real_transition * self._scale
            self._fades.set((device_id, "level"), level, now, sent=True)
            sent = SentLight(target.on, level, target.kelvin, target.rgb)
            self._sent_now(device_id, sent, real_transition, now)
            self._refused.discard(device_id)
            self._output.light(
                device_id, _command(target, level, real_transition), now, lights_up=True
            )

    def step(self, device_id: str, level: float, step_s: float, now: float) -> None:
        """One step of a fade the engine runs itself; it passes the gate like any change."""
        on = level > 0
        command = LightCommand(on=on, level=level if on else None, transition_s=step_s)
        verdict = self._output.light(device_id, command, now)
        if verdict.status is not Status.OK:
            self._on_safety(device_id, verdict)

    def _with_override(self, device_id: str, target: LightTarget) -> LightTarget:
        level = self.overrides.get(device_id)
        if level is None:
            return target
        return LightTarget(on=level > 0, level=level, kelvin=target.kelvin, rgb=target.rgb)

    def _apply(self, device_id: str, target: LightTarget, now: float) -> None:
        if self._sent_already(device_id, target):
            return
        driver = self._drivers[device_id]
        current = self.level(device_id, now)
        wanted = wanted_level(target)
        sent = self._sent.get(device_id)
        real_transition = self._transition_s(device_id, target, now)
        change = abs(wanted - (current if current is not None else 0.0))
        native = (
            current is None
            # forgotten (back online, broker back) and already there: the target goes out again
            or (sent is None and change < LEVEL_EPSILON)
            or real_transition <= driver.native_fade_s() + 1e-9
        )
        if native:
            verdict = self._output.light(device_id, _command(target, wanted, real_transition), now)
        else:
            verdict = self._output.check_light_plan(device_id, wanted, real_transition, now)
        if not self._accepted(device_id, verdict):
            return
        assert verdict.value is not None  # accepted
        level = verdict.value
        sent_now = SentLight(target.on, level, target.kelvin, target.rgb)
        self._sent_now(device_id, sent_now, real_transition, now)
        if native:
            self._fades.set((device_id, "level"), level, now, sent=True)
            return
        self._fades.fade_to((device_id, "level"), level, real_transition * self._scale, now)
        colour_change = (target.kelvin, target.rgb) != (
            (sent.kelvin, sent.rgb) if sent else (None, None)
        )
        if colour_change and target.on:
            start = current if current is not None else level
            transition = min(real_transition, driver.native_fade_s())
            command = _command(target, start, transition)
            self._output.light(device_id, command, now, fade_colour=True)

    def _accepted(self, device_id: str, verdict: Verdict[float]) -> bool:
        """Journal a refusal once (until the light is let through again) and any clamp."""
        if not verdict.allowed or verdict.value is None:
            if device_id not in self._refused:
                self._refused.add(device_id)
                self._on_safety(device_id, verdict)
            return False
        self._refused.discard(device_id)
        if verdict.status is Status.CLAMPED:
            self._on_safety(device_id, verdict)
        return True


def _asks_for(sent: SentLight | None, target: LightTarget) -> bool:
    """Whether what was sent is what `target` asks for."""
    return (
        sent is not None
        and abs(sent.level - wanted_level(target)) < LEVEL_EPSILON
        and sent.on == target.on
        and (sent.kelvin, sent.rgb) == (target.kelvin, target.rgb)
    )


def _command(target: LightTarget, level: float, transition_s: float) -> LightCommand:
    on = target.on and level > 0
    return LightCommand(
        on=on,
        level=level if target.on else None,
        kelvin=target.kelvin if target.on else None,
        rgb=target.rgb if target.on else None,
        transition_s=transition_s,
    )
