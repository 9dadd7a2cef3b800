"""Pydantic models of config.yaml: the room's id, broker, limits and checks.

The base of every room model (`StrictModel`) lives here too. A client of the engine (the
console, `ctl`) loads config.yaml alone and needs only this module, not the models of the
devices, scenes, plans and playlists (`controller.config.models`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import string
import types
import typing
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from controller.config import limits
from controller.config.durations import parse_duration
from controller.config.folders import folder_problem

IDENTIFIER = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
"""Room, device and group ids: lower case, safe inside an MQTT topic level and a file name."""

HEX_COLOUR = r"^#[0-9a-fA-F]{6}$"

MAX_LABEL_CHARS = 120
"""A label or title: they travel in the retained state, which a console reads up to 1 MiB."""
Label = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_CHARS)]


class StrictModel(BaseModel):
    """A model that rejects unknown keys (a typo like `brigthness` is an error, not ignored)
    and a yes/no where a number belongs (`volume_cap: on` is no 1 %)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_yes_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _takes_a_number(field.annotation):
            raise ValueError(f"{str(value).lower()} (yes/no) is not a number")
        return value


def _takes_a_number(annotation: Any) -> bool:
    """Whether a field's type is a number (maybe optional), not a yes/no."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _takes_a_number(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_takes_a_number(arg) for arg in typing.get_args(annotation))
    return annotation in (int, float)


Percent = Annotated[float, Field(ge=0, le=100)]
Seconds = Annotated[float, Field(ge=0, le=24 * 3600)]
DurationSeconds = Annotated[float, Field(ge=0, le=24 * 3600)]


def duration_value(value: Any) -> Any:
    """Accept `90`, `"90s"`, `"15m"`, `"1h30m"` or `"1:30:00"` as seconds."""
    if isinstance(value, str):
        return parse_duration(value)
    return value


# --------------------------------------------------------------------------- config.yaml


class TlsSettings(StrictModel):
    ca_file: str | None = None
    """CA bundle to verify the broker with; the system store when omitted."""
    cert_file: str | None = None
    """Client certificate, for brokers that authenticate clients by certificate."""
    key_file: str | None = None
    insecure: bool = False
    """Skip hostname verification (a lab broker with a self-signed certificate only)."""


BrokerRole = Literal["engine", "intake", "devices", "zigbee2mqtt", "console", "replay"]
"""Who connects: `run` (and its connection reading device reports), `sim` (each simulated
device, and each simulated Zigbee2MQTT by its base topic), `console`/`ctl`/`demo`, `replay`."""

DEVICE_PLACEHOLDER = "{device}"
BASE_PLACEHOLDER = "{base}"
PLACEHOLDERS: dict[str, str] = {"devices": DEVICE_PLACEHOLDER, "zigbee2mqtt": BASE_PLACEHOLDER}
"""The roles with one login per device (by id) or per Zigbee2MQTT (by base topic)."""


class RoleCredentials(StrictModel):
    """The login of one role on a facility broker (written by `sessionroom facility init`)."""

    username: str = Field(min_length=1)
    password_file: str = Field(min_length=1)
    """Relative to the room's folder. For `devices`, both name `{device}` (the device's id),
    for `zigbee2mqtt` `{base}` (its base topic)."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Another listener for this role (the facility's one that binds client ids to users)."""


class BrokerSettings(StrictModel):
    """Where the MQTT broker is: `embedded` (in-process amqtt) or an external one."""

    mode: Literal["embedded", "external"] = "embedded"
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=0, le=65535)
    """0 lets the embedded broker pick a free port."""
    tls: TlsSettings | None = None
    username: str | None = None
    password_file: str | None = None
    """A file holding the password, so the password itself never sits in config.yaml."""
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    credentials: dict[BrokerRole, RoleCredentials] = Field(default_factory=dict)
    """Per role, a login that replaces `username`/`password_file` (and `port` if given)."""

    @field_validator("host")
    @classmethod
    def _a_host_to_reach(cls, host: str, info: ValidationInfo) -> str:
        """A name no socket looks up (`broker..lan`, a label of over 63 characters, none at
        all for an external broker) stopped a console's link without a word."""
        problem = _host_problem(host)
        if problem:
            raise ValueError(f"{_quoted(host)} {problem}")
        if not host and info.data.get("mode") == "external":
            raise ValueError("an external broker needs its host name or address")
        return host

    @field_validator("port")
    @classmethod
    def _a_port_to_reach(cls, port: int, info: ValidationInfo) -> int:
        """No client reaches port 0 (paho refuses it): the engine and consoles never connect."""
        if port == 0 and info.data.get("mode") == "external":
            raise ValueError(
                "0 (a free port) is for an embedded broker: give the external one's port"
            )
        return port

    @model_validator(mode="before")
    @classmethod
    def _from_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return broker_from_url(value)
        return value

    @model_validator(mode="after")
    def _device_placeholder(self) -> BrokerSettings:
        for role, login in self.credentials.items():
            for name, text in (
                ("username", login.username),
                ("password_file", login.password_file),
            ):
                for placeholder_role, placeholder in PLACEHOLDERS.items():
                    if (placeholder in text) != (role == placeholder_role):
                        need = "must" if role == placeholder_role else "must not"
                        raise ValueError(f"credentials.{role}.{name} {need} contain {placeholder}")
        return self

    def for_role(self, role: BrokerRole, name: str | None = None) -> BrokerSettings:
        """These settings as `role` connects with them (`name`: which device, for `devices`;
        which base topic, for `zigbee2mqtt`)."""
        login = self.credentials.get(role)
        if login is None:
            return self
        placeholder = PLACEHOLDERS.get(role, "")
        if placeholder and name is None:
            raise ValueError(f"the {role} role needs a {placeholder.strip('{}')}")
        username, password_file = login.username, login.password_file
        if placeholder:
            username = username.replace(placeholder, name or "")
            password_file = password_file.replace(placeholder, name or "")
        update: dict[str, Any] = {
            "username": username,
            "password_file": password_file,
            "credentials": {},
        }
        if login.port is not None:
            update["port"] = login.port
        return self.model_copy(update=update)

    def reports_apart(self) -> bool:
        """Whether the engine reads its devices' reports on a connection of their own
        (docs/robustness.md#a-flood-of-device-reports), with the `intake` role's login or
        else the engine's: not when the engine has a login of its own and no `intake` one (on
        a facility broker one login is one connection)."""
        return "intake" in self.credentials or "engine" not in self.credentials


_AFTER_NETLOC = re.compile(r"://[^/?#]*(.*)", re.DOTALL)
"""What follows a URL's host and port: where `urlsplit` ends the netloc."""


def broker_from_url(url: str) -> dict[str, Any]:
    """Turn `embedded`, `mqtt://host:port` or `mqtts://host:port` into broker settings.

    A port of 0 is kept, for the port's own check to refuse (no client reaches it). Nothing
    may follow the port, not even a `/` alone: a path, query or fragment names nothing an
    MQTT client uses, and was dropped without a word (`mqtt://h:1883/room-b` is no room).
    Spaces around the URL are no part of it (a URL pasted with a space after it).
    """
    url = url.strip()
    if url == "embedded":
        return {"mode": "embedded"}
    if any(character in url for character in "\t\r\n"):  # `urlsplit` drops them unsaid
        raise _not_a_broker_url(url, " (a tab or a line break in it)")
    try:
        parts = urlsplit(url)
    except ValueError:  # a `[` without its `]`, or brackets around no IPv6 address
        raise _not_a_broker_url(url, _NOT_IN_BRACKETS) from None
    if parts.password is not None:
        raise ValueError(
            "a password in a broker URL shows in the process list (and in every console the "
            "web console starts); give it in a password_file"
        )
    if parts.scheme not in ("mqtt", "mqtts"):
        raise _not_a_broker_url(url)
    host = _url_host(parts, url)
    if not host:
        raise _not_a_broker_url(url, " (no HOST)")
    after = _AFTER_NETLOC.search(url)
    rest = after.group(1) if after else ""
    if rest:
        raise _not_a_broker_url(url, f" (nothing may follow HOST:PORT: {_quoted(rest)})")
    problem = _host_problem(host)
    if problem:
        raise _not_a_broker_url(url, f" (HOST {_quoted(host)} {problem})")
    if parts.username is not None:
        problem = _user_problem(parts.username)
        if problem:
            raise _not_a_broker_url(url, f" (USER {_quoted(parts.username)} {problem})")
    secure = parts.scheme == "mqtts"
    port = _url_port(parts, url)
    settings: dict[str, Any] = {
        "mode": "external",
        "host": host,
        "port": (8883 if secure else 1883) if port is None else port,
    }
    if secure:
        settings["tls"] = {}
    if parts.username:
        settings["username"] = parts.username
    return settings


_NOT_IN_BRACKETS = " (only an IPv6 address goes in [ ], as the whole HOST)"


def _url_host(parts: SplitResult, url: str) -> str:
    """The HOST of a broker URL, in lower case but for an IPv6 address's zone (a link-local
    address's interface, named in its own case): `%eth0` or, as RFC 6874 writes it in a
    URL, `%25eth0`. Brackets hold an IPv6 address and nothing else: `urlsplit` took the
    address out of `[::1]x:1` or `x[::1]:1` and dropped the rest without a word."""
    where = parts.netloc.rpartition("@")[2]
    if not where.startswith("["):
        if "[" in where or "]" in where:
            raise _not_a_broker_url(url, _NOT_IN_BRACKETS)
        if where.count(":") > 1:  # `mqtt://::1:1883` has no HOST, `mqtt://fe80::1` one of 4
            raise _not_a_broker_url(
                url, " (one ':' ends HOST: an IPv6 address goes in [ ], mqtt://[::1]:1883)"
            )
        return parts.hostname or ""
    address, _, after = where[1:].partition("]")
    between = after.partition(":")[0]
    if between:
        raise _not_a_broker_url(
            url, f" (nothing may come between ']' and ':PORT': {_quoted(between)})"
        )
    number, percent, zone = address.partition("%")
    if zone.startswith("25") and len(zone) > 2:
        zone = zone[2:]
    host = number.lower() + percent + zone
    try:  # `urlsplit` takes an IPvFuture (`[v1.x]`) too, which no socket knows
        ipaddress.IPv6Address(host)
    except ValueError:
        raise _not_a_broker_url(url, _NOT_IN_BRACKETS) from None
    return host


_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_.")
"""What a host name has once IDNA-encoded (`_`: in names a container network gives)."""


def _host_problem(host: str) -> str | None:
    """What keeps `host` from naming a machine a socket reaches (None: nothing does, or it
    is empty): a space or a control character, which no name or address has, or a name the
    IDNA encoding refuses (`broker..lan`, a label of over 63 characters), one longer than
    253 characters or with a character no name has (`%68`, `a\\b`), or an IPv4 address
    written otherwise than a.b.c.d, which the resolver reads as another (`010.0.0.5`, octal,
    is 8.0.0.5; `10.0.15` is 10.0.0.15)."""
    for character in host:
        if character.isspace():
            return "has a space in it" + ("" if character == " " else f" ({character!r})")
        if not character.isprintable():
            return f"has a control character in it ({character!r})"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:
        return "is no host name or address"
    with contextlib.suppress(OSError):  # the resolver reads `010.0.0.5` as 8.0.0.5
        socket.inet_aton(name)
        return "is no IPv4 address as a.b.c.d writes it, 0 to 255 each, no leading zero"
    if len(name.removesuffix(".")) > 253:
        return "is no host name: longer than 253 characters"
    if not set(name) <= _NAME_CHARACTERS:
        return "is no host name or address (a name has letters, digits, '-' and '.')"
    return None


def _user_problem(user: str) -> str | None:
    """What keeps the USER of `USER@HOST` from being a user name (None: nothing does)."""
    if not user:  # `mqtt://${USER}@host` with USER unset: no login at all
        return "is empty"
    if "%" in user:
        return "has a '%' in it (escapes are not decoded: give it as broker.username)"
    if not user.isprintable():
        return "has a control character in it"
    return None


SHOWN_CHARS = 300
"""How much of a refused value a refusal quotes (a pasted 100 KB URL is not echoed whole)."""


def _quoted(text: str) -> str:
    """`text` as a refusal quotes it: its repr, cut short past SHOWN_CHARS characters."""
    if len(text) <= SHOWN_CHARS:
        return repr(text)
    return f"{text[:SHOWN_CHARS]!r}… ({len(text):,} characters)"


_PASSWORD = re.compile(r"(://[^/?#@:]*:)[^/?#]*@")
"""The password of a URL's `USER:PASSWORD@`, which no refusal shows."""


def _not_a_broker_url(url: str, detail: str = "") -> ValueError:
    """The refusal of a broker URL that names no broker (`detail`: what is wrong in it)."""
    shown = _quoted(_PASSWORD.sub(r"\1…@", url, count=1))
    return ValueError(
        f"broker {shown} is not 'embedded', mqtt://HOST:PORT or mqtts://HOST:PORT{detail}"
    )


def _url_port(parts: SplitResult, url: str) -> int | None:
    """The port a broker URL names, None when it names none; ValueError for a port left
    empty (`mqtt://host:`), one that is not a number or one above 65535."""
    after_host = parts.netloc.rpartition("@")[2].rpartition("]")[2]
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = None
    if port is None and ":" in after_host:
        raise _not_a_broker_url(url, " (PORT: 1 to 65535)")
    return port


class VitalsThresholds(StrictModel):
    """Readings beyond these raise an alert; the software never decides anything clinical."""

    hr_high: float = Field(default=120, ge=30, le=250)
    hr_low: float = Field(default=45, ge=20, le=120)
    spo2_low: float = Field(default=92, ge=50, le=100)
    sys_high: float = Field(default=160, ge=80, le=260)
    dia_high: float = Field(default=100, ge=40, le=160)


class SafetyLimits(StrictModel):
    """The room's limits; each may be tightened, never loosened past docs/safety.md's bounds."""

    max_flashes_per_s: float = Field(default=3, gt=0, le=limits.MAX_FLASHES_PER_S)
    volume_cap: float = Field(default=70, ge=0, le=limits.VOLUME_CAP_MAX)
    volume_ramp_per_s: float = Field(
        default=10, ge=limits.VOLUME_RAMP_MIN_PER_S, le=limits.VOLUME_RAMP_MAX_PER_S
    )
    bls_speed_min_hz: float = Field(
        default=0.5, ge=limits.BLS_SPEED_MIN_HZ, le=limits.BLS_SPEED_MAX_HZ
    )
    bls_speed_max_hz: float = Field(
        default=2.0, ge=limits.BLS_SPEED_MIN_HZ, le=limits.BLS_SPEED_MAX_HZ
    )
    bls_set_max_passes: int = Field(default=24, ge=1, le=240)
    bls_set_max_seconds: float = Field(default=60, gt=0, le=limits.BLS_SET_MAX_SECONDS)
    tactile_intensity_max: float = Field(default=80, ge=0, le=limits.TACTILE_INTENSITY_MAX)
    tone_hz_min: float = Field(default=200, ge=limits.TONE_HZ_MIN, le=limits.TONE_HZ_MAX)
    tone_hz_max: float = Field(default=1000, ge=limits.TONE_HZ_MIN, le=limits.TONE_HZ_MAX)
    tone_edge_ms: float = Field(default=10, ge=1, le=50)
    advance_guard_s: float = Field(default=2, ge=0, le=60)
    emergency_fade_s: float = Field(default=3, ge=0, le=limits.MUSIC_FADE_OUT_MAX_S)
    vitals: VitalsThresholds = VitalsThresholds()

    @property
    def light_bar_speeds_hz(self) -> tuple[float, float]:
        """A visual light bar's slowest and fastest speed: the room's BLS speeds, and at most
        `max_flashes_per_s`, as each side of the bar flashes once per cycle."""
        return self.bls_speed_min_hz, min(self.bls_speed_max_hz, self.max_flashes_per_s)

    @model_validator(mode="after")
    def _ordered_ranges(self) -> SafetyLimits:
        if self.bls_speed_min_hz > self.bls_speed_max_hz:
            raise ValueError("bls_speed_min_hz is above bls_speed_max_hz")
        if self.tone_hz_min > self.tone_hz_max:
            raise ValueError("tone_hz_min is above tone_hz_max")
        return self


class BaselineThresholds(StrictModel):
    """Before dosing: a reading inside these, and fresh, starts without a reason.

    Inside means `hr_low` ≤ HR < `hr_below`, SpO2 ≥ `spo2_low`, systolic < `sys_below` and
    diastolic < `dia_below` (docs/safety.md#vitals-checks); the defaults follow the safety
    rules (doses only under 160/90 and HR 100; SpO2 and the low HR as the alerts).
    """

    hr_below: float = Field(default=100, ge=30, le=250)
    hr_low: float = Field(default=45, ge=20, le=120)
    spo2_low: float = Field(default=92, ge=50, le=100)
    sys_below: float = Field(default=160, ge=80, le=260)
    dia_below: float = Field(default=90, ge=40, le=160)
    max_age_s: float = Field(default=600, ge=10, le=4 * 3600)
    """A reading older than this (real seconds since the engine received it) needs a reason."""

    @field_validator("max_age_s", mode="before")
    @classmethod
    def _age_duration(cls, value: Any) -> Any:
        return duration_value(value)

    @model_validator(mode="after")
    def _ordered(self) -> BaselineThresholds:
        if self.hr_low >= self.hr_below:
            raise ValueError("hr_low must be below hr_below")
        if self.dia_below >= self.sys_below:
            raise ValueError("dia_below must be below sys_below")
        return self


RECOVERY_CHECKLIST = ("oriented", "walks unaided", "escort present")


class VitalsChecks(StrictModel):
    """config.yaml `checks:`: the baseline before a session, the recovery check before `end`."""

    baseline: BaselineThresholds = BaselineThresholds()
    recovery: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default=list(RECOVERY_CHECKLIST), min_length=1, max_length=12
    )
    """The recovery checklist: each item is confirmed, or why not is recorded."""

    @field_validator("recovery")
    @classmethod
    def _distinct(cls, items: list[str]) -> list[str]:
        stripped = [item.strip() for item in items]
        if not all(stripped):
            raise ValueError("a recovery checklist item needs words, not only blanks")
        if len({item.lower() for item in stripped}) != len(items):
            raise ValueError("recovery checklist items must differ")
        return stripped


def _a_folder(folder: str) -> str:
    problem = folder_problem(folder)
    if problem:
        raise ValueError(problem)
    return folder


class Paths(StrictModel):
    """Folders of the room's files, relative to config.yaml."""

    devices: str = "devices"
    scenes: str = "scenes"
    playlists: str = "playlists"
    content: str = "content"
    """Media files the room's displays play (`sessionroom display`)."""

    @field_validator("devices", "scenes", "playlists", "content")
    @classmethod
    def _folder(cls, folder: str) -> str:
        return _a_folder(folder)


class HomeAssistantSettings(StrictModel):
    """MQTT discovery for a facility's Home Assistant (docs/facility.md#home-assistant)."""

    discovery: bool = False
    """Announce the room as a device: read-only sensors and the emergency button."""
    prefix: str = Field(default="homeassistant", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """Home Assistant's discovery prefix."""


class RoomSettings(StrictModel):
    """config.yaml: the room itself."""

    room: str = Field(pattern=IDENTIFIER)
    """Room id, used in MQTT topics (`sessionroom/<room>/...`)."""
    name: Label | None = None
    """The room as people call it; travels in the retained state, as labels do."""
    broker: BrokerSettings = BrokerSettings()
    data_dir: str = "data"
    """Where session journals live, relative to config.yaml."""
    paths: Paths = Paths()
    idle_scene: str = "idle"
    """The scene the room rests in outside a session."""
    safe_scene: str = "lights-up"
    """The scene an emergency applies."""
    default_plan: str | None = None
    time_scale: float = Field(default=1.0, ge=limits.TIME_SCALE_MIN, le=limits.TIME_SCALE_MAX)
    """Rehearsals run the session clock this many times faster (as `run --time-scale`)."""
    safety: SafetyLimits = SafetyLimits()
    checks: VitalsChecks = VitalsChecks()
    """Vitals checks around the session (docs/safety.md#vitals-checks)."""
    home_assistant: HomeAssistantSettings = HomeAssistantSettings()

    @field_validator("data_dir")
    @classmethod
    def _data_folder(cls, folder: str) -> str:
        return _a_folder(folder)
