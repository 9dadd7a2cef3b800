"""The one path from the engine to the room: the safety gate, the emergency latch, the journal.

Every message to a device, whatever caused it (a scene, an override, a cue, a fade step, a
BLS set, VR, a vitals sensor asked to measure, a re-assert after a reconnect or resume, the
emergency, a live replay), is
asked of `RoomOutput` (docs/safety.md#one-guarded-path). It checks the change with the
safety gate, applies the emergency latch (docs/emergency.md), builds the device's own
messages with its driver, journals each message as a `command` event and queues it as a
`GatedMessage`: the only kind of device message the bus publishes (`Bus.publish_gated`),
and one that nothing outside this module can make. The room PC's own outputs pass here
too: the music's and the tones' volume, and the start of a tone set.

While the latch is engaged (an emergency is active):

* a light may not go below its level in the safe scene (the lights-up itself is the one
  change that bypasses flash pacing, `lights_up=True`);
* no volume rises (music, tones, VR content): a rise is held at the level already let out;
* nothing starts: VR play/resume and BLS sets are refused; stops and pauses pass.

A visual light bar's sets and a VR screen's content pass the flash-rate rule as a light's
changes do: a start lights the bar at the set's intensity, a play lights the screen at its
brightness, a stop darkens either (docs/safety.md#flash-rate).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from controller.drivers.base import (
    WHITE,
    Availability,
    BlsCommand,
    BlsDriver,
    ColourShares,
    Driver,
    LightCommand,
    LightDriver,
    Outgoing,
    VitalsDriver,
    VrCommand,
    VrDriver,
    commanded_topics,
)
from controller.drivers.payloads import PayloadError
from controller.engine.local import MusicOutput, ToneOutput
from controller.engine.safety import BlsRequest, LightMeasure, Rule, SafetyGate, Status, Verdict

LEVEL_EPSILON = 1e-6
"""Levels closer than this are the same level (float rounding of scene percentages)."""

LATCHED = "emergency active: clear it first"
"""The reason given for anything the latch holds back."""

MUSIC = "music"
TONES = "tones"
"""The volume channels of the room PC's own outputs; every other channel is a VR device."""

_PASSED_THE_GATE = object()

VOLUME_RISE_LATE_S = 0.5
"""A VR volume rise still waiting for the broker this long (real seconds) after the gate let
it out is dropped: sent later, it would come together with the steps after it, a ramp of
seconds arriving at once (docs/safety.md#volume-ramp; the rule's half second)."""

LIT_LATE_S = 0.5
"""What lights a visual light bar or a screen (a set's start, a play, a brightness rise)
still waiting for the broker this long (real seconds) after the gate let it out is dropped:
sent later, it would come together with the starts and stops after it, changes seconds apart
lighting and darkening the device within milliseconds (docs/safety.md#flash-rate)."""

FADE_COLOUR_KEY = " colour"
"""Appended to a light's topic for the key of a stepped fade's colour (`GatedMessage.key`)."""
QUERY_KEY = " query"
"""Appended to a light's topic for the key of a state query: a Shelly takes its commands and
its `GetStatus` on one topic, and neither may replace the other while they wait."""


@dataclass(frozen=True)
class GatedMessage:
    """A device message that passed the gate and the latch; only `RoomOutput` makes these."""

    topic: str
    payload: str
    qos: int = 1
    retain: bool = False
    key: str | None = None
    """Set for a light: a newer message waiting for the broker replaces the older one. The
    new colour of a fade the engine steps goes once, at the level the fade starts from, and
    the steps carry the level alone: that colour message has a key of its own, so no step
    replaces it (and, as it does not move the level, it adds no change the gate did not
    judge). A state query has a key of its own too (`QUERY_KEY`). VR and BLS commands have
    none: each one counts, in order (a play, then its volume ramp)."""
    expires_s: float | None = None
    """Set for a VR volume rise (`VOLUME_RISE_LATE_S`) and what lights a light bar or a
    screen (`LIT_LATE_S`): it is dropped rather than sent later."""
    chain: str | None = None
    """Set for a VR volume above 0 and what lights a light bar or a screen: the device's id.
    Each is judged against the one before, so when one is dropped unsent the later ones
    waiting are dropped with it, and the engine is told (`Engine.sends_lost`): a headset's
    volume counts as silent, its screen as dark, the bar's set as stopped. What darkens a
    light bar or a screen is of its chain too (`keep`)."""
    keep: bool = False
    """Set for what darkens a light bar or a screen (a stop, a brightness fall): sent however
    late, never dropped with what lit the device before it; sent after `LIT_LATE_S`, it
    takes the device's later messages of its chain still waiting with it (the device would
    go dark and light again at once: a flash the gate never judged)."""
    token: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.token is not _PASSED_THE_GATE:
            raise TypeError("device messages leave only through RoomOutput (the safety gate)")

    def passed_the_gate(self) -> bool:
        return self.token is _PASSED_THE_GATE


class Record(Protocol):
    """How the output path journals what it did (the engine's recorder)."""

    def __call__(
        self,
        kind: str,
        payload: Any,
        *,
        device: str | None = None,
        topic: str | None = None,
        text: str | None = None,
    ) -> None: ...


SafetyReport = Callable[[str, Verdict[Any]], None]


@dataclass
class Latch:
    """The emergency's hold on the room: light floors from the safe scene."""

    floors: dict[str, float]
    """Light → the lowest level it may have while latched (its safe-scene level)."""


class RoomOutput:
    """The gate, the latch and the journal between the engine's media and the room."""

    def __init__(
        self,
        drivers: Mapping[str, Driver],
        gate: SafetyGate,
        *,
        time_scale: float,
        record: Record,
        on_safety: SafetyReport,
        music: MusicOutput | None = None,
        tones: ToneOutput | None = None,
    ) -> None:
        self.drivers = drivers
        self.gate = gate
        self.music = music
        self.tones = tones
        self._scale = time_scale
        self._record = record
        self._on_safety = on_safety
        self._queue: list[GatedMessage] = []
        self._volumes: dict[str, float] = {}
        """Channel → the volume last let out (music, tones, a VR device)."""
        self._screens: dict[str, float] = {}
        """VR device → the brightness of its screen when it shows content (full until told)."""
        self._dark: set[str] = set()
        """VR devices this path stopped and let no content play on since: the only screens
        known to show nothing (one never stopped here may show anything, e.g. an idle
        scene's content when a live replay begins)."""
        self._reported_dark: dict[str, float | None] = {}
        """VR devices that reported showing nothing (`screen_ended`) since this path last
        played or stopped content on them, each with the brightness it showed before (None
        once a brightness change since was judged from it). A report is no command: the
        screen may still show content, so its next brightness change is judged as from that
        brightness, and its next play as lighting it from dark."""
        self.latch: Latch | None = None
        self._colours: dict[str, ColourShares] = {}
        """Light → how much of its full output and luminance the colour last sent to it
        leaves (as its protocol shows a colour: `LightDriver.colour_shares`; all of both for
        white): its output and its luminance are its level times those, and the flash-rate
        rule judges both (docs/safety.md#flash-rate)."""

    def device_topics(self) -> frozenset[str]:
        """Every topic a device of the room takes commands or queries on: only this path
        publishes there."""
        return frozenset(topic for d in self.drivers.values() for topic in commanded_topics(d))

    # ------------------------------------------------------------------ the latch

    @property
    def latched(self) -> bool:
        return self.latch is not None

    def engage_latch(self, floors: Mapping[str, float]) -> None:
        self.latch = Latch(dict(floors))

    def release_latch(self) -> None:
        self.latch = None

    # ------------------------------------------------------------------ lights

    def check_light_plan(
        self, device_id: str, level: float, transition_s: float, now: float
    ) -> Verdict[float]:
        """Check a fade the engine will step itself (each step is then sent with `light`)."""
        floor = self._floor(device_id, level)
        if floor is not None:
            return floor
        colour = self._colours.get(device_id, WHITE)
        return self._check_light(device_id, level, colour, now, transition_s=transition_s)

    def _check_light(
        self,
        device_id: str,
        level: float,
        colour: ColourShares,
        now: float,
        *,
        transition_s: float,
        lights_up: bool = False,
    ) -> Verdict[float]:
        """The gate's verdict on a light going to `level` in a colour that leaves it
        `colour` of its full output and luminance: judged on both, said in the light's
        level. Both are judged before either is remembered."""
        real = self._real(now)
        if not math.isfinite(level):
            return self.gate.check_light(device_id, level, real, transition_s=transition_s)
        clamped = min(max(level, 0.0), 1.0)
        judged: tuple[tuple[LightMeasure, float], ...] = (
            ("output", clamped * colour.output),
            ("luminance", clamped * colour.luminance),
        )
        for trial in (True, False):
            for measure, value in judged:
                verdict = self.gate.check_light(
                    device_id,
                    value,
                    real,
                    transition_s=transition_s,
                    lights_up=lights_up,
                    trial=trial,
                    measure=measure,
                )
                if not verdict.allowed:
                    return replace(verdict, requested=level)
        if clamped != level:
            reason = f"{device_id}: level {level * 100:.3g} % is outside 0–100 %"
            return Verdict(Status.CLAMPED, level, clamped, reason, (Rule.OUT_OF_RANGE,))
        return Verdict(Status.OK, level, clamped)

    def light(
        self,
        device_id: str,
        command: LightCommand,
        now: float,
        *,
        lights_up: bool = False,
        fade_colour: bool = False,
    ) -> Verdict[float]:
        """Send one light change (session time `now`), or refuse it; the verdict says which.

        `fade_colour`: the new colour of a fade the engine steps (`GatedMessage.key`)."""
        driver = self.drivers[device_id]
        assert isinstance(driver, LightDriver)
        level = _light_level(command)
        refused = None if lights_up else self._floor(device_id, level)
        if refused is not None:
            return refused
        # judged as the light will run it: in the protocol's steps of time (docs/safety.md)
        command = replace(command, transition_s=driver.transition_sent_s(command.transition_s))
        colour = _colour_shares(driver, command, self._colours.get(device_id, WHITE))
        verdict = self._check_light(
            device_id, level, colour, now, transition_s=command.transition_s, lights_up=lights_up
        )
        if verdict.value is None:
            return verdict
        self._colours[device_id] = colour
        if abs(verdict.value - level) > LEVEL_EPSILON:
            on = command.on and verdict.value > 0
            command = replace(command, on=on, level=verdict.value if on else None)
        self._send(device_id, driver.command(command), slot=FADE_COLOUR_KEY if fade_colour else "")
        return verdict

    def _floor(self, device_id: str, level: float) -> Verdict[float] | None:
        floor = self.latch.floors.get(device_id) if self.latch is not None else None
        if floor is None or level >= floor - LEVEL_EPSILON:
            return None
        reason = (
            f"{device_id}: {LATCHED}; lights stay at least at the safe scene's "
            f"{floor * 100:.3g} % (asked {level * 100:.3g} %)"
        )
        return Verdict(Status.REFUSED, level, None, reason, (Rule.EMERGENCY_LATCH,))

    # ------------------------------------------------------------------ volume

    def volume(self, channel: str, level: float, now: float, *, over_s: float) -> float | None:
        """Let a volume through (capped, ramped, never rising while latched); the value set."""
        last = self._volumes.get(channel, 0.0)
        if self.latch is not None and level > last:
            level = last  # held before the gate, so the gate remembers what went out
        verdict = self.gate.check_volume(channel, level, self._real(now))
        value = verdict.value
        if verdict.status is not Status.OK:
            self._on_safety(channel, verdict)
        if value is None:
            return None
        self._volumes[channel] = value
        self._apply_volume(channel, value, now, over_s, rising=value > last + LEVEL_EPSILON)
        return value

    def silenced(self, channel: str, now: float) -> None:
        """The channel goes silent by a stop or a fade-out of its own (not through `volume`)."""
        self.gate.check_volume(channel, 0.0, self._real(now))
        self._volumes[channel] = 0.0

    def volume_of(self, channel: str) -> float:
        """The volume last let out on a channel (0 if none)."""
        return self._volumes.get(channel, 0.0)

    def _apply_volume(
        self, channel: str, value: float, now: float, over_s: float, *, rising: bool
    ) -> None:
        driver = self.drivers.get(channel)
        if isinstance(driver, VrDriver):
            self._send(
                channel,
                driver.command(VrCommand("volume", volume=value)),
                expires_s=VOLUME_RISE_LATE_S if rising else None,
                chain=channel if value > 0 else None,
            )
        elif channel == MUSIC:
            if self.music is not None:
                self.music.set_volume(value, self._real(now), over_s=over_s)
        elif channel == TONES and self.tones is not None:
            self.tones.set_volume(value)

    # ------------------------------------------------------------------ VR

    def vr(self, device_id: str, command: VrCommand, now: float) -> Verdict[Any]:
        """Send a VR command. Play/resume are refused while latched; a play's volume is gated.

        The screen's brightness passes the flash-rate rule as a light's: a play lights it at
        its brightness (refused when that would flash it), a stop darkens it (never held
        back), a brightness change changes it, unless this path stopped its content and let
        none play since: then it is kept for the next play."""
        if command.action in ("play", "resume") and self.latch is not None:
            return _refusal(command, f"{device_id}: {LATCHED}; VR content does not start")
        if command.action == "volume":
            assert command.volume is not None  # VrCommand requires it
            value = self.volume(device_id, command.volume, now, over_s=0.0)
            return Verdict(Status.OK, command, value)
        lights, darkens = command.action == "play", command.action == "stop"
        if command.action == "brightness":
            level = command.level
            assert level is not None  # VrCommand requires it (0–1)
            if device_id not in self._dark:
                shown = self._reported_dark.get(device_id)
                verdict = self.gate.check_light(device_id, level, self._real(now), from_level=shown)
                if verdict.value is None:
                    self._on_safety(device_id, verdict)
                    return verdict
                if device_id in self._reported_dark:
                    self._reported_dark[device_id] = None  # the gate follows it from here
                level = verdict.value
                command = replace(command, level=level)
                before = self._screens.get(device_id, 1.0)
                lights = level > before + LEVEL_EPSILON
                darkens = level < before - LEVEL_EPSILON
            self._screens[device_id] = level
        if command.action == "play":
            lit = self.gate.check_light(
                device_id,
                self._screens.get(device_id, 1.0),
                self._real(now),
                from_dark=device_id in self._reported_dark,
            )
            if lit.value is None:  # played and stopped faster than the flash rate
                refused = _too_soon(command, lit, f"{device_id}: content played")
                self._on_safety(device_id, refused)
                return refused
            self._dark.discard(device_id)
            self._reported_dark.pop(device_id, None)
            wanted = command.volume if command.volume is not None else 0.0
            verdict = self.gate.check_volume(device_id, wanted, self._real(now))
            if verdict.status is not Status.OK:
                self._on_safety(device_id, verdict)
            self._volumes[device_id] = verdict.value or 0.0
            command = replace(command, volume=verdict.value or 0.0)
        if command.action == "stop":
            self.gate.check_light(device_id, 0.0, self._real(now), lights_up=True)
            self._dark.add(device_id)
            self._reported_dark.pop(device_id, None)
            self.silenced(device_id, now)
        if command.action == "resume":  # paused content comes back silent, to ramp in again
            self._vr_send(device_id, VrCommand("volume", volume=0.0))
            self.silenced(device_id, now)
        self._vr_send(device_id, command, lights=lights, darkens=darkens)
        return Verdict(Status.OK, command, command)

    def brightness_again(self, device_id: str, now: float) -> None:
        """Tell a screen stopped after a loss the brightness last let out for it (lit or kept
        for its next play), if any: of its falls and rises, a fall that went late may be all
        it got. Stopped, it keeps it for its next play."""
        level = self._screens.get(device_id)
        if level is not None:
            self.vr(device_id, VrCommand("brightness", level=level), now)

    def screen_ended(self, device_id: str, now: float) -> None:
        """A screen reports that it shows nothing though this path did not stop it (its
        content ended by itself: a file played `:once`): it went dark, as a stop darkens it,
        and goes in its flash history like a stop (never held back), so content played on it
        again counts as lighting it (docs/safety.md#flash-rate). Its brightness is not kept
        for the next play, as after a stop: a report is no command, and one that says
        so wrongly only makes the gate count more: the screen may still show content at its
        brightness, so its next brightness change is judged as from there, and its next
        play as lighting it from dark (`_reported_dark`)."""
        if device_id not in self._dark and isinstance(self.drivers.get(device_id), VrDriver):
            self.gate.check_light(device_id, 0.0, self._real(now), lights_up=True)
            self._reported_dark[device_id] = self._screens.get(device_id, 1.0)

    def _vr_send(
        self, device_id: str, command: VrCommand, *, lights: bool = False, darkens: bool = False
    ) -> None:
        driver = self.drivers.get(device_id)
        if isinstance(driver, VrDriver):
            self._send_change(device_id, driver.command(command), lights=lights, darkens=darkens)

    # ------------------------------------------------------------------ BLS

    def bls_start(
        self,
        device_id: str,
        request: BlsRequest,
        now: float,
        *,
        colour: str | None = None,
        trial: bool = False,
    ) -> Verdict[BlsRequest]:
        """Check and start a set on a BLS device, or on the tones (silent; their volume ramps).

        `trial`: check only. Nothing is sent or remembered and only a refusal is reported: a
        set allowed on trial is started for real at the same time, where what the gate
        changed is reported (an operator's set on several devices starts on all or on none).
        """
        if self.latch is not None:
            return _refusal(request, f"{device_id}: {LATCHED}; no BLS set starts")
        verdict = self.gate.check_bls(device_id, request)
        allowed = verdict.value
        driver = self.drivers.get(device_id)
        if allowed is not None and _light_bar(driver):
            # a set replaces the bar's running one at once: its sweep starts again at the left
            level = _bar_level(allowed)
            lit = self.gate.check_light(
                device_id, level, self._real(now), from_dark=True, trial=trial
            )
            if lit.value is None:  # started and stopped (or restarted) faster than the flash rate
                verdict = _too_soon(request, lit, f"{device_id}: a set started")
                allowed = None
        if verdict.status is not Status.OK and not (trial and allowed is not None):
            self._on_safety(device_id, verdict)
        if allowed is None or trial:
            return verdict
        if isinstance(driver, BlsDriver):
            command = BlsCommand(
                running=True,
                mode=request.mode if request.mode != "audio" else None,
                speed_hz=allowed.speed_hz,
                intensity=allowed.intensity,
                passes=allowed.passes,
                duration_s=allowed.seconds,  # real seconds, as the gate judged them
                colour=colour,
            )
            self._send_change(device_id, driver.command(command), lights=_light_bar(driver))
        elif self.tones is not None:
            self.silenced(TONES, now)
            self.tones.start(allowed, volume=0.0)
        return verdict

    def bls_stop(self, device_id: str, now: float) -> None:
        """Stop a set at once: always allowed (a light bar's going dark is in its flash
        history, as the lights-up is in a light's: recorded, never held back)."""
        driver = self.drivers.get(device_id)
        if _light_bar(driver):
            self.gate.check_light(device_id, 0.0, self._real(now), lights_up=True)
        if isinstance(driver, BlsDriver):
            stop = driver.command(BlsCommand(running=False))
            self._send_change(device_id, stop, darkens=_light_bar(driver))
        elif self.tones is not None:
            self.tones.stop()
            self.silenced(TONES, now)

    # ------------------------------------------------------------------ vitals

    def measure(self, device_id: str) -> bool:
        """Ask a vitals sensor to take a reading now; False when it cannot be asked.

        A measurement changes nothing the participant sees or hears, so neither the gate nor
        the latch holds it back (a reading is wanted most during an emergency). A sensor known
        to be offline is not asked: the request is not retained, so it would never arrive
        (it is asked when it is back, `VitalsChecks.back_online`).
        """
        driver = self.drivers.get(device_id)
        if not isinstance(driver, VitalsDriver) or driver.availability is Availability.OFFLINE:
            return False
        messages = driver.measure()
        self._send(device_id, messages)
        return bool(messages)

    # ------------------------------------------------------------------ reading back

    def query(self, device_id: str) -> None:
        """Ask a device to report its state (no change: nothing to gate)."""
        self._send(device_id, self.drivers[device_id].query(), slot=QUERY_KEY)

    def take(self) -> list[GatedMessage]:
        """The messages let out since the last call, in order."""
        taken, self._queue = self._queue, []
        return taken

    # ------------------------------------------------------------------ sending

    def _send(
        self,
        device_id: str,
        messages: list[Outgoing],
        *,
        slot: str = "",
        expires_s: float | None = None,
        chain: str | None = None,
        keep: bool = False,
    ) -> None:
        """Let `messages` out; a light's are keyed by topic and `slot` (`GatedMessage.key`)."""
        latest_wins = isinstance(self.drivers[device_id], LightDriver)
        for message in messages:
            key = message.topic + slot if latest_wins else None
            self._queue.append(
                GatedMessage(
                    message.topic,
                    message.payload,
                    message.qos,
                    message.retain,
                    key,
                    expires_s,
                    chain,
                    keep,
                    _PASSED_THE_GATE,
                )
            )
            self._record(
                "command", {"payload": message.payload}, topic=message.topic, device=device_id
            )

    def _send_change(
        self,
        device_id: str,
        messages: list[Outgoing],
        *,
        lights: bool = False,
        darkens: bool = False,
    ) -> None:
        """Let out messages that light a light bar or a screen (on time or never: judged now)
        or darken it (however late, but what would light it again right after goes with it):
        both of the device's chain, with `LIT_LATE_S` (`GatedMessage.keep`)."""
        changes = lights or darkens
        self._send(
            device_id,
            messages,
            expires_s=LIT_LATE_S if changes else None,
            chain=device_id if changes else None,
            keep=darkens,
        )

    def _real(self, now: float) -> float:
        return now / self._scale


def changed_a_screen(driver: Driver, unsent: Sequence[str]) -> bool:
    """Whether a headset's `unsent` messages (payloads of its chain, `GatedMessage.chain`)
    held one that changed its screen (a play, a stop, a brightness change: `RoomOutput.vr`),
    not only volume steps."""
    if not isinstance(driver, VrDriver):
        return False
    for topic in driver.command_topics():
        for payload in unsent:
            with contextlib.suppress(PayloadError):
                if driver.decode(topic, payload).action in ("play", "stop", "brightness"):
                    return True
    return False


def _colour_shares(
    driver: LightDriver, command: LightCommand, before: ColourShares
) -> ColourShares:
    """How much of a light's full output and luminance its colour leaves after `command` (as
    the driver's protocol shows a colour; all of both for a colour temperature), `before`
    when it sets no colour."""
    if not command.on:
        return before
    if command.rgb is not None:
        return driver.colour_shares(command.rgb)
    return WHITE if command.kelvin is not None else before


def _light_level(command: LightCommand) -> float:
    if not command.on:
        return 0.0
    return 1.0 if command.level is None else command.level


def _light_bar(driver: Driver | None) -> bool:
    """Whether a BLS device is a visual light bar: its sets light it and its stops darken it."""
    return isinstance(driver, BlsDriver) and driver.device.mode == "visual"


def _bar_level(allowed: BlsRequest) -> float:
    """How bright a light bar's set lights it (its intensity; full when none is given)."""
    return 1.0 if allowed.intensity is None else allowed.intensity


def _too_soon(requested: Any, lit: Verdict[float], what: str) -> Verdict[Any]:
    """A start refused because it would light a screen or bar too soon after its last starts
    and stops: said as such, with the gate's count behind it."""
    return Verdict(
        Status.REFUSED, requested, None, f"{what} now would flash it; {lit.reason}", lit.rules
    )


def _refusal(requested: Any, reason: str) -> Verdict[Any]:
    return Verdict(Status.REFUSED, requested, None, reason, (Rule.EMERGENCY_LATCH,))
