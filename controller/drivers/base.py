"""The types every device driver shares: commands, outgoing messages, receptions and the ABCs.

A driver is a pure translator. It turns an abstract target (a `LightCommand`, `VrCommand` or
`BlsCommand`) into the device's own MQTT messages (`Outgoing`), and turns the device's state
and availability messages back into a normalized state (`Reception`). It never does I/O and
never reads a clock; the engine publishes what it returns and feeds it what arrives.

A driver that takes commands (`CommandDriver`) also reads one of its own command messages
back into the target it was built from (`decode`), so a journaled session can be replayed
through the same safety gate as the engine's own changes.
"""

from __future__ import annotations

import copy
import enum
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from controller.config.models import Device
from controller.config.settings import HEX_COLOUR
from controller.drivers.conversions import (
    kelvin_bounds,
    kelvin_from_mireds,
    mired_bounds,
    relative_luminance,
)
from controller.drivers.payloads import (
    MAX_PAYLOAD_BYTES,
    PayloadError,
    command_text,
    excerpt,
    parse_availability,
    rgb_triple,
    whole_number,
)
from controller.untrusted import MAX_CONTENT_CHARS, printable_name

compact_json: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":")).encode
"""JSON without spaces, as devices are sent it: one encoder for every message (`json.dumps`
with options builds a new one each time)."""


class Availability(enum.Enum):
    """Whether a device is reachable. No message yet is UNKNOWN, never ONLINE."""

    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Outgoing:
    """One MQTT message a driver wants published. Drivers never ask for retained commands."""

    topic: str
    payload: str
    retain: bool = False
    qos: int = 1

    def __post_init__(self) -> None:
        if self.qos not in (0, 1, 2):
            raise ValueError(f"qos {self.qos!r} is not 0, 1 or 2")


def _require_fraction(name: str, value: float | None) -> None:
    if value is not None and not (
        isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    ):
        raise ValueError(f"{name} {value!r} is not a number from 0 to 1")


def _require_positive_finite(name: str, value: float | None) -> None:
    if value is not None and not (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    ):
        raise ValueError(f"{name} {value!r} is not a finite number above 0")


@dataclass(frozen=True)
class LightCommand:
    """A light's target. Level 0–1, Kelvin, RGB 0–255, fade time in seconds.

    `on=False` turns the light off (fading over `transition_s`); level and colour are then not
    sent. A level that rounds to 0 on the device's own scale is sent as the device's off command.
    """

    on: bool = True
    level: float | None = None
    kelvin: int | None = None
    rgb: tuple[int, int, int] | None = None
    transition_s: float = 0.0

    def __post_init__(self) -> None:
        _require_fraction("level", self.level)
        if self.kelvin is not None and (
            not isinstance(self.kelvin, int) or isinstance(self.kelvin, bool) or self.kelvin <= 0
        ):
            raise ValueError(f"kelvin {self.kelvin!r} is not a positive whole number")
        if self.rgb is not None and not (
            isinstance(self.rgb, tuple)
            and len(self.rgb) == 3
            and all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in self.rgb
            )
        ):
            raise ValueError(f"rgb {self.rgb!r} is not three whole numbers from 0 to 255")
        if self.kelvin is not None and self.rgb is not None:
            raise ValueError("give kelvin or rgb, not both")
        if not (
            isinstance(self.transition_s, int | float)
            and not isinstance(self.transition_s, bool)
            and math.isfinite(self.transition_s)
            and self.transition_s >= 0
        ):
            raise ValueError(f"transition_s {self.transition_s!r} is not a finite number ≥ 0")


VrAction = Literal["play", "pause", "resume", "stop", "brightness", "volume"]


@dataclass(frozen=True)
class VrCommand:
    """A VR headset command: play content (at most 256 printable characters; volume 0–1
    optional), pause, resume, stop, brightness (`level` 0–1) or volume (`volume` 0–1, for
    the engine's volume ramps)."""

    action: VrAction
    content: str | None = None
    volume: float | None = None
    level: float | None = None

    def __post_init__(self) -> None:
        if self.action not in ("play", "pause", "resume", "stop", "brightness", "volume"):
            raise ValueError(
                f"VR action {self.action!r} is not play, pause, resume, stop, brightness or volume"
            )
        _require_fraction("volume", self.volume)
        _require_fraction("level", self.level)
        if self.action == "play" and not self.content:
            raise ValueError("a VR play command needs content")
        if self.content is not None and not printable_name(self.content, MAX_CONTENT_CHARS):
            raise ValueError(
                f"VR content {excerpt(self.content)} is not a name of at most "
                f"{MAX_CONTENT_CHARS} printable characters"
            )
        if self.action == "volume" and (self.volume is None or self.content is not None):
            raise ValueError("a VR volume command takes a volume and no content")
        if self.action not in ("play", "volume") and (
            self.content is not None or self.volume is not None
        ):
            raise ValueError(f"a VR {self.action} command takes no content or volume")
        if self.action == "brightness" and self.level is None:
            raise ValueError("a VR brightness command needs a level")
        if self.action != "brightness" and self.level is not None:
            raise ValueError(f"a VR {self.action} command takes no level")


BlsMode = Literal["tactile", "visual"]


@dataclass(frozen=True)
class BlsCommand:
    """Start or stop a BLS set. `running=False` stops at once; the other fields are then not sent.

    `mode` defaults to the device's own mode; intensity is 0–1; `passes`/`duration_s` left at
    None mean "not limited by this" and are sent as null.
    """

    running: bool
    mode: str | None = None
    speed_hz: float | None = None
    intensity: float | None = None
    passes: int | None = None
    duration_s: float | None = None
    colour: str | None = None

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in ("tactile", "visual"):
            raise ValueError(f"BLS mode {self.mode!r} is not tactile or visual")
        _require_positive_finite("speed_hz", self.speed_hz)
        _require_fraction("intensity", self.intensity)
        if self.passes is not None and (
            not isinstance(self.passes, int) or isinstance(self.passes, bool) or self.passes < 1
        ):
            raise ValueError(f"passes {self.passes!r} is not a whole number ≥ 1")
        _require_positive_finite("duration_s", self.duration_s)
        if self.colour is not None and not re.fullmatch(HEX_COLOUR, self.colour):
            raise ValueError(f"colour {self.colour!r} is not #RRGGBB")


@dataclass(frozen=True)
class Reception:
    """What a device message meant.

    * `state`: `data` is the device's whole normalized state after the message;
    * `availability`: `data` is `{"available": "online" | "offline" | "unknown"}`;
    * `error`: `data` is `{"error": "<topic>: <what was wrong>"}`; the state is unchanged.
    """

    kind: Literal["state", "availability", "error"]
    data: dict[str, Any]


class Driver(ABC):
    """Translates between one device's MQTT messages and the engine's normalized state.

    Subclasses name the device's availability and state topics and parse its state messages;
    this class handles the availability forms, the size limit and the error path once.
    """

    replaces_state: ClassVar[bool] = False
    """True when each state message is a whole snapshot (it replaces the state, not merges)."""

    def __init__(self, device: Device) -> None:
        if device.topic is None:
            raise ValueError(f"device {device.id!r} has no topic")
        self.device = device
        self.state: dict[str, Any] = {}
        self._availability: dict[str, Availability] = {
            topic: Availability.UNKNOWN
            for topic in (self.availability_topic(), *self.gating_availability_topics())
        }

    @property
    def topic(self) -> str:
        """The device's own topic from its configuration (friendly name, Tasmota topic, ...)."""
        assert self.device.topic is not None  # checked in __init__
        return self.device.topic

    @property
    def availability(self) -> Availability:
        """OFFLINE when any watched availability topic says so, else the device's own."""
        if Availability.OFFLINE in self._availability.values():
            return Availability.OFFLINE
        return self._availability[self.availability_topic()]

    @abstractmethod
    def availability_topic(self) -> str:
        """The topic on which the device itself announces online/offline (its MQTT will)."""

    def gating_availability_topics(self) -> tuple[str, ...]:
        """Further topics whose 'offline' makes the device unreachable (e.g. its bridge)."""
        return ()

    @abstractmethod
    def state_topics(self) -> tuple[str, ...]:
        """The topics carrying the device's state."""

    @abstractmethod
    def parse_state(self, topic: str, payload: bytes) -> dict[str, Any] | None:
        """Turn one state message into normalized state keys; None when it carries none.

        Raises PayloadError (with a reason fit for the journal) when the message is malformed,
        of the wrong type or out of range.
        """

    def subscriptions(self) -> list[str]:
        """The topic filters this device needs."""
        return [*self._availability, *self.state_topics()]

    def query(self) -> list[Outgoing]:
        """Messages asking the device to report its state; [] when the protocol has none."""
        return []

    def receive(self, topic: str, payload: bytes) -> Reception | None:
        """Interpret one message; None when the topic is not this device's. Never raises."""
        is_availability = topic in self._availability
        if not is_availability and topic not in self.state_topics():
            return None
        if len(payload) > MAX_PAYLOAD_BYTES:
            return _error(topic, f"payload of {len(payload)} bytes is larger than 64 KiB")
        try:
            if is_availability:
                self._availability[topic] = Availability(parse_availability(payload))
                return Reception("availability", {"available": self.availability.value})
            update = self.parse_state(topic, payload)
        except PayloadError as problem:
            return _error(topic, str(problem))
        if update is None:
            return None
        if self.replaces_state:
            self.state = update
        else:
            self.state = {**self.state, **update}
        return Reception("state", copy.deepcopy(self.state))


def _error(topic: str, reason: str) -> Reception:
    return Reception("error", {"error": f"{topic}: {reason}"})


CommandT = TypeVar("CommandT", "LightCommand", "VrCommand", "BlsCommand")


class CommandDriver(Driver, Generic[CommandT]):
    """A driver that sends commands, and reads its own command messages back into targets."""

    @abstractmethod
    def command(self, target: CommandT) -> list[Outgoing]:
        """The messages that bring the device to `target`."""

    @abstractmethod
    def command_topics(self) -> tuple[str, ...]:
        """The topics `command()` publishes to."""

    def decode(self, topic: str, payload: str) -> CommandT:
        """The target one of this driver's own command messages was built from.

        `payload` is the message's text as journaled. Only the forms `command()` writes are
        read, to the letter; anything else (another topic, malformed or oversized text, an
        unknown key, an effect, a value of the wrong type or out of range) raises PayloadError
        with the reason in plain words, and nothing else is ever raised. Values come back at
        the device's resolution (each driver says how), so decoding the messages of
        `command(c)` gives c up to that resolution. Pure: the driver's state is not touched.
        """
        if topic not in self.command_topics():
            raise PayloadError(f"topic {excerpt(topic)} is not one this device's commands go to")
        try:
            return self._decode(topic, command_text(payload))
        except PayloadError:
            raise
        except ValueError as problem:  # a decoded value its command class refuses
            raise PayloadError(str(problem)) from None

    @abstractmethod
    def _decode(self, topic: str, payload: str) -> CommandT:
        """Read a command message on one of command_topics() whose text is ASCII and not huge."""


@dataclass(frozen=True)
class ColourShares:
    """How much of a light's full output a colour leaves it at a level, the two ways the
    flash-rate rule judges a light (docs/safety.md#flash-rate): a dark and a bright colour
    swing its output, a green and a blue of one brightness its luminance."""

    output: float
    """The light's output in the colour, as a share of its output in white (0–1)."""
    luminance: float
    """The light's relative luminance in the colour, as a share of its luminance in white
    (0–1; WCAG 2.x's relative luminance)."""


WHITE = ColourShares(1.0, 1.0)
"""A white or a colour temperature: all of the light's output and luminance."""


def hue_at_level(rgb: tuple[int, int, int], black: ColourShares) -> ColourShares:
    """The shares of a colour a light shows as its hue at the light's level (Tasmota's
    `Color2`, Zigbee2MQTT's chromaticity): all of its output, and the luminance of that hue at
    its brightest (`#0a0a0a` is a white); `black` for black, which has no hue."""
    top = max(rgb)
    if top == 0:
        return black
    return ColourShares(1.0, relative_luminance(*(channel * 255 / top for channel in rgb)))


class LightDriver(CommandDriver[LightCommand]):
    """A light: level, colour temperature and RGB with a fade, and how long it fades natively."""

    def command(self, target: LightCommand) -> list[Outgoing]:
        """The messages that bring the light to `target`. ValueError for a colour it lacks."""
        if target.on and target.kelvin is not None and self.device.kelvin_range is None:
            raise ValueError(f"light {self.device.id!r} has no colour temperature")
        if target.on and target.rgb is not None and not self.device.rgb:
            raise ValueError(f"light {self.device.id!r} takes no RGB colour")
        return self._translate(target)

    @abstractmethod
    def _translate(self, target: LightCommand) -> list[Outgoing]:
        """Build the device's messages for a target whose capabilities were checked."""

    def _kelvin_for(
        self, key: str, value: Any, hard: tuple[int, int] | None, *, in_mireds: bool
    ) -> int | None:
        """The Kelvin a command's `key` sends (in mireds when `in_mireds`); None when absent.

        The value must lie where the driver clamps it: the light's range, narrowed to `hard`.
        """
        if value is None:
            return None
        if self.device.kelvin_range is None:
            raise PayloadError(f"{key} sets a colour temperature this light does not have")
        if in_mireds:
            low, high = mired_bounds(self.device.kelvin_range, hard)
            return kelvin_from_mireds(whole_number(value, key, low, high))
        low, high = kelvin_bounds(self.device.kelvin_range, hard)
        return whole_number(value, key, low, high)

    def _require_rgb(self, key: str) -> None:
        """PayloadError when a command's `key` sets an RGB colour and the light takes none."""
        if not self.device.rgb:
            raise PayloadError(f"{key} sets an RGB colour this light does not take")

    def _rgb_for(self, key: str, channels: Any) -> tuple[int, int, int] | None:
        """The RGB colour a command's `key` sends as [r, g, b]; None when it sends none."""
        if channels is None:
            return None
        self._require_rgb(key)
        red, green, blue = rgb_triple(channels, key)
        return red, green, blue

    def colour_shares(self, rgb: tuple[int, int, int]) -> ColourShares:
        """How much of the light's full output it gives in colour `rgb` at a level (WLED,
        Shelly: the colour is scaled by the brightness): its brightest channel, and the
        colour's relative luminance."""
        return ColourShares(max(rgb) / 255, relative_luminance(*rgb))

    @abstractmethod
    def transition_sent_s(self, transition_s: float) -> float:
        """The transition the device is told for a wanted one of `transition_s` (≥ 0), in the
        protocol's own steps of time (Tasmota's half seconds, Zigbee's and WLED's tenths).

        The safety gate judges this one, the fade the light really runs: a wanted 0.74 s sent
        as 0.5 s moves the light faster than a gate judging 0.74 s would see.
        """

    @abstractmethod
    def native_fade_s(self) -> float:
        """The longest fade the device can run by itself, whatever the change.

        The engine sends one message when the wanted fade fits, and steps the fade itself
        beyond it.
        """


class VrDriver(CommandDriver[VrCommand]):
    """A VR headset or meditation display."""

    replaces_state = True


class BlsDriver(CommandDriver[BlsCommand]):
    """A bilateral-stimulation device (tappers or light bar) that keeps its own timing."""

    replaces_state = True


class VitalsDriver(Driver):
    """A vital-signs sensor: each message is one reading; some measure when asked."""

    replaces_state = True

    def measure(self) -> list[Outgoing]:
        """The messages asking the sensor to take a reading now; [] when it cannot be asked."""
        return []

    def forget(self) -> None:
        """The session ended: its last reading leaves the device's state (which the retained
        state shows; docs/safety.md#privacy)."""
        self.state = {}


def commanded_topics(driver: Driver) -> list[str]:
    """Every topic `driver`'s device takes commands, queries or measure requests on, in the
    driver's order (the topics only the engine's output path publishes to)."""
    topics: list[str] = []
    if isinstance(driver, CommandDriver):
        topics.extend(driver.command_topics())
    if isinstance(driver, VitalsDriver):
        topics.extend(message.topic for message in driver.measure())
    topics.extend(message.topic for message in driver.query())
    return topics
