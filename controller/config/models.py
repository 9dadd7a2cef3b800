"""Pydantic models of a room's devices, scenes, session plans and playlists (config.yaml's
are in `controller.config.settings`).

Field-level rules live here (types, ranges, unknown keys). Rules that need the whole room
(a scene naming a device, a Kelvin value inside that light's range, the room's safety
limits) live in `controller.config.crossref`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from controller.api.topics import ROOT as API_ROOT
from controller.config import limits
from controller.config.settings import (
    HEX_COLOUR,
    IDENTIFIER,
    DurationSeconds,
    Label,
    Percent,
    Seconds,
    StrictModel,
    duration_value,
)
from controller.untrusted import MAX_CONTENT_CHARS, printable_name

MAX_TOPIC_CHARS = 200
"""A device's topic: a broker drops the client that publishes to a topic holding a control
character, and no device needs a longer name."""

ZIGBEE2MQTT_BASE = "zigbee2mqtt"
"""Zigbee2MQTT's own default `mqtt.base_topic`."""
MAX_BASE_TOPIC_CHARS = 64
"""A Zigbee2MQTT base topic: one topic level, a name in file names and user names too."""

DeviceKind = Literal["light", "music", "vr", "bls", "sensor"]
DriverName = Literal[
    "zigbee2mqtt",
    "tasmota",
    "wled",
    "shelly",
    "vlc",
    "tones",
    "mqtt-vr",
    "mqtt-bls",
    "mqtt-vitals",
]
PhaseName = Literal["centering", "peak", "return", "integration"]

DRIVERS_BY_KIND: dict[str, frozenset[str]] = {
    "light": frozenset({"zigbee2mqtt", "tasmota", "wled", "shelly"}),
    "music": frozenset({"vlc"}),
    "vr": frozenset({"mqtt-vr"}),
    "bls": frozenset({"tones", "mqtt-bls"}),
    "sensor": frozenset({"mqtt-vitals"}),
}
LOCAL_DRIVERS = frozenset({"vlc", "tones"})
"""Drivers rendered on the room PC itself rather than reached over MQTT."""


# --------------------------------------------------------------------------- devices


def page_url(host: str, port: int, *, secure: bool) -> str:
    """A display page's address; a display on every address (`0.0.0.0`, `::`) shows this PC's."""
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if secure else 'http'}://{host}:{port}/"


class DisplaySettings(StrictModel):
    """A screen that is this device: `sessionroom display` serves its page (a browser shows it)."""

    port: int = Field(ge=1, le=65535)
    """The page's HTTP port."""
    host: str = "127.0.0.1"
    """Where the page is served; the screen's browser must reach it (`0.0.0.0`: every address)."""
    colour: str = Field(default="#ffffff", pattern=HEX_COLOUR)
    """A light bar's dot colour until a set names one."""
    dot_size: float = Field(default=0.06, gt=0, le=0.5)
    """A light bar's dot diameter, as a fraction of the screen's height."""
    tone: bool = False
    """The breathing guide also plays a soft tone that swells with each breath."""
    cert_file: str | None = None
    """Serve the page over HTTPS with this certificate (PEM), relative to config.yaml: a
    headset's browser offers WebXR only to a secure page (HTTPS, or this PC's own address)."""
    key_file: str | None = None
    """The certificate's private key (PEM)."""

    @field_validator("host")
    @classmethod
    def _plain_host(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.:-]{1,253}", value):
            raise ValueError(f"host {value!r} is not a host name or address")
        return value

    @property
    def url(self) -> str:
        """The page's address as configured."""
        return page_url(self.host, self.port, secure=self.cert_file is not None)

    @model_validator(mode="after")
    def _certificate_with_key(self) -> DisplaySettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give cert_file and key_file together (HTTPS), or neither")
        return self


def _topic_problem(topic: str) -> str | None:
    """What makes `topic` one no device answers on, or None (MQTT allows all of these)."""
    if not printable_name(topic, MAX_TOPIC_CHARS):
        return "is empty, too long or holds a control character"
    if "+" in topic or "#" in topic:
        return "holds a wildcard (+ or #)"
    if topic != topic.strip():
        return "begins or ends with a space"
    if topic.startswith("/") or topic.endswith("/") or "//" in topic:
        return "has an empty level (a / at either end, or //)"
    return None


def _base_topic_problem(base: str) -> str | None:
    """What makes `base` no Zigbee2MQTT base topic of one level, or None."""
    if not printable_name(base, MAX_BASE_TOPIC_CHARS):
        return (
            f"is empty, longer than {MAX_BASE_TOPIC_CHARS} characters or holds a control character"
        )
    if "/" in base:
        return "holds a / (it must be one topic level)"
    if base.startswith("$"):
        return "begins with $ (the broker's own topics)"
    if base == API_ROOT:
        return "is the controller's own (sessionroom/<room>/...: a room's commands)"
    return _topic_problem(base)


class Device(StrictModel):
    """One device of the room and how to reach it."""

    id: str = Field(pattern=IDENTIFIER)
    kind: DeviceKind
    driver: DriverName
    label: Label | None = None
    topic: str | None = None
    """Zigbee2MQTT friendly name, Tasmota topic, WLED id, Shelly prefix or our own device id."""
    base_topic: str | None = None
    """A Zigbee2MQTT light's `mqtt.base_topic` (one topic level; `zigbee2mqtt` when omitted)."""
    groups: list[Annotated[str, Field(pattern=IDENTIFIER)]] = Field(default_factory=list)
    essential: bool = False
    """A session start warns loudly when an essential device is offline."""
    kelvin_range: tuple[int, int] | None = None
    """Colour temperature range of a light, warm to cool, e.g. [2000, 6500]."""
    rgb: bool = False
    """The light takes RGB colours."""
    mode: Literal["tactile", "visual"] | None = None
    """What an MQTT BLS device renders: tappers (tactile) or a light bar (visual)."""
    aout: str | None = None
    """VLC audio output module (`pulse`, `alsa`, `dummy`, ...) for local audio devices."""
    audio_device: str | None = None
    """VLC audio device name for local audio devices."""
    display: DisplaySettings | None = None
    """A headset/display or a visual light bar shown on a screen by `sessionroom display`."""
    measure_command: bool = False
    """A vitals sensor that measures when asked (`vitals/<id>/set {"measure": true}`)."""

    @field_validator("topic", "base_topic")
    @classmethod
    def _topic_is_plain(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        base = info.field_name == "base_topic"
        problem = _base_topic_problem(value) if base else _topic_problem(value)
        if problem is not None:
            shown = value if len(value) <= 40 else value[:37] + "..."
            rule = (
                ""
                if base
                else f": it must be a plain MQTT topic of at most {MAX_TOPIC_CHARS} printable "
                "characters"
            )
            raise ValueError(f"{info.field_name} {shown!r} {problem}{rule}")
        return value

    @field_validator("kelvin_range")
    @classmethod
    def _kelvin_range_ordered(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None:
            low, high = value
            if not 1000 <= low < high <= 20000:
                raise ValueError(
                    f"kelvin_range {list(value)} must be two values from 1000 to 20000 K, low first"
                )
        return value

    @model_validator(mode="after")
    def _driver_fits_kind(self) -> Device:
        if self.driver not in DRIVERS_BY_KIND[self.kind]:
            allowed = ", ".join(sorted(DRIVERS_BY_KIND[self.kind]))
            raise ValueError(
                f"driver {self.driver!r} does not drive a {self.kind} (use one of: {allowed})"
            )
        if self.driver not in LOCAL_DRIVERS and self.topic is None:
            raise ValueError(f"a {self.driver} device needs a topic")
        if self.driver == "mqtt-bls" and self.mode is None:
            raise ValueError("an mqtt-bls device needs a mode: tactile or visual")
        if self.kind != "light" and (self.kelvin_range is not None or self.rgb):
            raise ValueError("kelvin_range and rgb apply to lights only")
        if self.display is not None and not (
            self.driver == "mqtt-vr" or (self.driver == "mqtt-bls" and self.mode == "visual")
        ):
            raise ValueError("display applies to an mqtt-vr device or an mqtt-bls visual light bar")
        if self.measure_command and self.driver != "mqtt-vitals":
            raise ValueError("measure_command applies to mqtt-vitals sensors only")
        if self.base_topic is not None and self.driver != "zigbee2mqtt":
            raise ValueError("base_topic applies to zigbee2mqtt lights only")
        if self.driver == "zigbee2mqtt" and str(self.topic).split("/")[0] == "bridge":
            raise ValueError(
                f"topic {self.topic!r}: `bridge` is Zigbee2MQTT's own (<base>/bridge/...), "
                "no friendly name"
            )
        return self

    @property
    def is_local(self) -> bool:
        return self.driver in LOCAL_DRIVERS

    @property
    def zigbee2mqtt_base(self) -> str | None:
        """The base topic of a Zigbee2MQTT light (its own or Zigbee2MQTT's default), else None."""
        if self.driver != "zigbee2mqtt":
            return None
        return self.base_topic or ZIGBEE2MQTT_BASE


class DeviceFile(StrictModel):
    """A devices/*.yaml file: one device, or a `devices:` list of them."""

    devices: list[Device]

    @model_validator(mode="before")
    @classmethod
    def _single_device(cls, value: Any) -> Any:
        if isinstance(value, dict) and "devices" not in value:
            return {"devices": [value]}
        return value


# --------------------------------------------------------------------------- scenes


class LightTarget(StrictModel):
    on: bool = True
    level: Percent | None = None
    """Brightness in % of full."""
    kelvin: int | None = Field(default=None, ge=1000, le=20000)
    rgb: str | None = Field(default=None, pattern=HEX_COLOUR)
    fade_s: Seconds | None = None
    """Overrides the scene's fade time for this light."""

    @model_validator(mode="after")
    def _one_colour(self) -> LightTarget:
        if self.kelvin is not None and self.rgb is not None:
            raise ValueError("give kelvin or rgb, not both")
        return self


class MusicTarget(StrictModel):
    playlist: str | None = None
    """Playlist name (file name without extension); none stops the music."""
    volume: Percent = 40
    crossfade_s: Seconds = 5
    """Fade between the outgoing and the incoming playlist."""
    track_crossfade_s: Seconds = 0
    """Fade between tracks of the playlist (0 = none)."""
    order: Literal["sequential", "shuffle"] = "sequential"
    loop: bool = True


class VrTarget(StrictModel):
    action: Literal["play", "stop"] = "play"
    content: str | None = None
    volume: Percent | None = None
    brightness: Percent | None = None

    @model_validator(mode="after")
    def _play_needs_content(self) -> VrTarget:
        if self.action == "play" and not self.content:
            raise ValueError("a VR play target needs content")
        if self.content is not None and not printable_name(self.content, MAX_CONTENT_CHARS):
            raise ValueError(
                f"VR content must be a name of at most {MAX_CONTENT_CHARS} printable characters"
            )
        return self


class BlsTarget(StrictModel):
    running: bool = True
    mode: Literal["tactile", "visual", "audio"] | None = None
    speed_hz: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Full left-right cycles per second."""
    tone_hz: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    intensity: Percent | None = None
    passes: int | None = Field(default=None, ge=1, le=limits.BLS_PASSES_MAX)
    seconds: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    pause_s: Seconds = 0
    """Pause between sets when the set repeats."""
    colour: str | None = Field(default=None, pattern=HEX_COLOUR)
    confirm_long_set: bool = False
    """A set beyond the room's soft limit needs this explicit confirmation."""

    @model_validator(mode="after")
    def _one_length(self) -> BlsTarget:
        if self.passes is not None and self.seconds is not None:
            raise ValueError("give a BLS set's length in passes or in seconds, not both")
        return self


class Scene(StrictModel):
    """A target state for the room. Keys under each section are device ids, `group:<g>` or `all`."""

    description: str | None = None
    fade_s: Seconds = 3
    lights: dict[str, LightTarget] = Field(default_factory=dict)
    music: dict[str, MusicTarget] = Field(default_factory=dict)
    vr: dict[str, VrTarget] = Field(default_factory=dict)
    bls: dict[str, BlsTarget] = Field(default_factory=dict)


SCENE_SECTION_KIND: dict[str, str] = {"lights": "light", "music": "music", "vr": "vr", "bls": "bls"}


# --------------------------------------------------------------------------- plans

CUE_ACTIONS = frozenset({"scene", "lights", "volume", "music", "bls", "vr", "note"})


class Cue(StrictModel):
    """Something that happens at a time inside a phase: a control command on the session clock."""

    at: float = Field(allow_inf_nan=False)
    """Seconds from the phase start (`+10m`), or from its planned end when negative (`-5m`)."""
    do: dict[str, Any]
    """A control command as the MQTT API takes it, e.g. `{action: bls, op: start}`."""
    label: Label | None = None

    @field_validator("at", mode="before")
    @classmethod
    def _at_duration(cls, value: Any) -> Any:
        return duration_value(value)

    @field_validator("do")
    @classmethod
    def _known_action(cls, value: dict[str, Any]) -> dict[str, Any]:
        action = value.get("action")
        if not isinstance(action, str) or action not in CUE_ACTIONS:
            raise ValueError(
                f"cue action {action!r} is not one of: {', '.join(sorted(CUE_ACTIONS))}"
            )
        return value


class Phase(StrictModel):
    name: PhaseName
    scene: str
    duration: DurationSeconds
    """Planned length: `15m`, `90s`, `1h30m` or seconds."""
    advance: Literal["manual", "auto"] = "manual"
    """`auto` moves on when the planned time is up (unless held); `manual` waits."""
    transition_s: Seconds | None = None
    """Fade time into this phase's scene; the scene's own fade_s when omitted."""
    cues: list[Cue] = Field(default_factory=list)
    measure_every: dict[str, Annotated[float, Field(ge=60, le=4 * 3600)]] = Field(
        default_factory=dict
    )
    """Vitals sensor id → how often a reading is due in this phase (`15m`), session time."""

    @field_validator("duration", mode="before")
    @classmethod
    def _duration_value(cls, value: Any) -> Any:
        return duration_value(value)

    @field_validator("measure_every", mode="before")
    @classmethod
    def _intervals(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: duration_value(interval) for key, interval in value.items()}
        return value

    @model_validator(mode="after")
    def _cues_inside_phase(self) -> Phase:
        for cue in self.cues:
            if abs(cue.at) > self.duration:
                raise ValueError(
                    f"cue at {cue.at:+g} s lies outside the phase's {self.duration:g} s"
                )
        return self


class Plan(StrictModel):
    """A session plan: phases in the order centering → peak → return → integration."""

    title: Label
    description: str | None = None
    phases: list[Phase] = Field(min_length=1)

    @field_validator("phases")
    @classmethod
    def _phases_in_order(cls, phases: list[Phase]) -> list[Phase]:
        names = [phase.name for phase in phases]
        positions = [limits.PHASE_ORDER.index(name) for name in names]
        if positions != sorted(set(positions)):
            raise ValueError(
                f"{' → '.join(names)}: each phase may appear once, in the order "
                + " → ".join(limits.PHASE_ORDER)
            )
        return phases

    @property
    def total_s(self) -> float:
        return sum(phase.duration for phase in self.phases)


# --------------------------------------------------------------------------- playlists


class PlaylistTrackEntry(StrictModel):
    file: str
    title: Label | None = None
    gain_db: float = Field(default=0, ge=-40, le=12)


class PlaylistFile(StrictModel):
    """A playlists/*.yaml file: tracks with optional titles and per-track gain."""

    title: Label | None = None
    tracks: list[PlaylistTrackEntry] = Field(min_length=1)


def identifier_problem(value: str) -> str | None:
    """Say why `value` is not a valid id, or None when it is."""
    if re.fullmatch(IDENTIFIER, value):
        return None
    return f"{value!r} is not a valid id (lower-case letters, digits, '.', '_', '-')"


def key_specificity(key: str) -> int:
    """How specific a scene key is: `all` < `group:<g>` < a device id (the more specific wins)."""
    if key == "all":
        return 0
    return 1 if key.startswith("group:") else 2


class DeviceIndex:
    """The devices each scene key names, of each kind: built once, then one lookup per key
    (a scene of 20,000 keys over 8,000 devices took 17 s scanning the devices per key)."""

    def __init__(self, devices: Iterable[Device]) -> None:
        self._named: dict[tuple[str, str], list[Device]] = {}
        for device in devices:
            keys = ["all", *(f"group:{group}" for group in dict.fromkeys(device.groups))]
            keys += [device.id] if device.id != "all" else []  # `all` is every device
            for key in keys:
                self._named.setdefault((device.kind, key), []).append(device)

    def select(self, key: str, kind: str) -> list[Device]:
        """The devices `key` names: a device id, `group:<name>` or `all`, of `kind`."""
        return list(self._named.get((kind, key), ()))


def select_devices(devices: Iterable[Device], key: str, kind: str) -> list[Device]:
    """The devices a scene key names: a device id, `group:<name>` or `all`, of one kind."""
    return DeviceIndex(devices).select(key, kind)
