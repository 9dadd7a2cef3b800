"""Checks that need the whole room: names that must exist, device ranges, safety limits."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.config import limits
from controller.config.content import ContentError, MediaFile, content_file, parse_content
from controller.config.issues import ConfigIssue
from controller.config.messages import describe_location
from controller.config.models import (
    SCENE_SECTION_KIND,
    BlsTarget,
    Device,
    DeviceIndex,
    LightTarget,
    MusicTarget,
    Plan,
    Scene,
    VrTarget,
    key_specificity,
)
from controller.config.playlists import Playlist
from controller.config.settings import RoomSettings, SafetyLimits

if TYPE_CHECKING:
    from controller.api.commands import Bls
    from controller.config.loader import Sourced
    from controller.drivers.base import Driver


@dataclass
class BrokenNames:
    """Names whose files exist but failed to load: references to them are not errors again."""

    names: set[tuple[str, str]] = field(default_factory=set)
    """(`device` | `scene` | `plan` | `playlist`, name)."""
    devices_incomplete: bool = False
    """A device file could not be read at all, so any device id might be in it."""

    def hides(self, what: str, name: object) -> bool:
        return (what, str(name)) in self.names


def check_room(
    *,
    settings: Sourced[RoomSettings],
    devices: Mapping[str, Sourced[Device]],
    scenes: Mapping[str, Sourced[Scene]],
    plans: Mapping[str, Sourced[Plan]],
    playlists: Mapping[str, Playlist],
    broken: BrokenNames,
    content_dir: Path | None = None,
) -> list[ConfigIssue]:
    """Every cross-reference problem in the room, each with file and line.

    With `content_dir`, a file a display is to play must be in it.
    """
    room = settings.model
    issues: list[ConfigIssue] = []
    for key in ("idle_scene", "safe_scene", "default_plan"):
        name = getattr(room, key)
        known = plans if key == "default_plan" else scenes
        what = "plan" if key == "default_plan" else "scene"
        if name is not None and name not in known and not broken.hides(what, name):
            issues.append(settings.document.issue((key,), f"{key}: no {what} named {named(name)}"))
    all_devices = {key: item.model for key, item in devices.items()}
    index = DeviceIndex(all_devices.values())
    safe = scenes.get(room.safe_scene)
    if safe is not None:
        issues += _dark_in_safe_scene(safe, index)
    issues += _light_bars_that_cannot_run(settings, devices)
    issues += _unique_topics(devices)
    drivers, unmade = _drivers(devices)
    issues += unmade + _overlapping_topics(devices, drivers) + _under_a_base(devices, drivers)
    issues += _shared_reports(devices, drivers) + _under_home_assistant(settings, devices, drivers)
    issues += _unique_display_ports(devices)
    for scene in scenes.values():
        checker = _SceneChecker(
            scene, all_devices, index, playlists, room.safety, broken, content_dir
        )
        issues += checker.check()
    screens = any(d.model.kind == "vr" and d.model.display for d in devices.values())
    for plan in plans.values():
        issues += _check_plan(plan, scenes, all_devices, room.safety, broken)
        issues += _check_intervals(plan, all_devices, broken)
        if screens:
            issues += _cue_contents(plan, content_dir)
    return issues


def _light_bars_that_cannot_run(
    settings: Sourced[RoomSettings], devices: Mapping[str, Sourced[Device]]
) -> list[ConfigIssue]:
    """A light bar flashes once per cycle, so the gate holds its speed to the flash rate:
    below the room's slowest BLS speed, it refuses every set of it."""
    safety = settings.model.safety
    if safety.max_flashes_per_s >= safety.bls_speed_min_hz:
        return []
    return [
        settings.document.issue(
            ("safety", "max_flashes_per_s"),
            f"safety.max_flashes_per_s {safety.max_flashes_per_s:g} is below bls_speed_min_hz "
            f"{safety.bls_speed_min_hz:g} Hz: the gate would refuse every set of light bar "
            f"{device_id!r} ({item.document.display}:{item.document.line_of(('id',))}), "
            "which flashes once per cycle",
        )
        for device_id, item in devices.items()
        if item.model.mode == "visual"
    ]


def _dark_in_safe_scene(safe: Sourced[Scene], devices: DeviceIndex) -> list[ConfigIssue]:
    """Every light the emergency's scene leaves dim, off or unnamed (docs/emergency.md)."""
    wanted: dict[str, tuple[str, LightTarget]] = {}
    lights = safe.model.lights
    for key in sorted(lights, key=key_specificity):
        for device in devices.select(key, "light"):
            wanted[device.id] = (key, lights[key])
    least = limits.SAFE_SCENE_MIN_LEVEL
    issues = []
    for device in devices.select("all", "light"):
        if device.id not in wanted:
            issues.append(
                safe.document.issue(
                    ("lights",),
                    f"lights: the safe scene (emergency) does not name light {device.id!r}; "
                    f"name every light (`all` does) at {least:g} % or more",
                )
            )
            continue
        key, target = wanted[device.id]
        level = (target.level if target.level is not None else 100.0) if target.on else 0.0
        light = level * _colour_value(target.rgb)
        if light < least:
            shown = f"to {level:g} %" if target.on else "off"
            if target.rgb is not None and target.on:
                shown += f" in {target.rgb} ({light:.3g} % of its full light)"
            issues.append(
                safe.document.issue(
                    ("lights", key),
                    f"lights.{key}: the safe scene (emergency) sets light {device.id!r} "
                    f"{shown}; it must light the room at {least:g} % or more",
                )
            )
    return issues


def _colour_value(rgb: str | None) -> float:
    """How much of a light's full output a colour leaves (its brightest channel, 0–1): a
    light at 100 % in `#000000` gives no light at all (docs/emergency.md#configuration)."""
    if rgb is None:
        return 1.0
    channels = bytes.fromhex(rgb.removeprefix("#"))
    return max(channels) / 255


def _topic_key(item: Sourced[Device]) -> tuple[str, str | None, str | None]:
    """Devices with one key are one device twice (`_unique_topics` says so)."""
    device = item.model
    return (device.driver, device.zigbee2mqtt_base, device.topic)


def _unique_topics(devices: Mapping[str, Sourced[Device]]) -> list[ConfigIssue]:
    issues = []
    seen: dict[tuple[str, str | None, str | None], str] = {}
    for device_id, item in devices.items():
        device = item.model
        if device.topic is None:
            continue
        key = _topic_key(item)
        if key in seen:
            issues.append(
                item.document.issue(
                    ("topic",),
                    f"topic {device.topic!r} is also used by device {seen[key]!r}",
                )
            )
        seen[key] = device_id
    return issues


def _drivers(devices: Mapping[str, Sourced[Device]]) -> tuple[dict[str, Driver], list[ConfigIssue]]:
    """The driver of each device the engine reaches over MQTT, and what keeps a device's
    driver from being made (e.g. a colour temperature for a Shelly, which sets none): the
    engine would stop on it at start."""
    from controller.drivers.registry import make_driver

    drivers: dict[str, Driver] = {}
    issues = []
    for key, item in devices.items():
        if item.model.is_local:
            continue
        try:
            drivers[key] = make_driver(item.model)
        except ValueError as problem:
            issues.append(item.document.issue(("driver",), str(problem)))
    return drivers, issues


def _overlapping_topics(
    devices: Mapping[str, Sourced[Device]], drivers: Mapping[str, Driver]
) -> list[ConfigIssue]:
    """A device whose commands land on a topic another device reads (as its state or
    availability, e.g. a Zigbee2MQTT `lamp` beside a `lamp/set`): the engine would take its
    own commands to one for reports of the other, and a light's report is what the
    emergency's floor relies on."""
    from controller.bus.topics import topic_matches
    from controller.drivers.base import commanded_topics

    readers: dict[str, list[str]] = {}
    for key, driver in drivers.items():
        for topic_filter in driver.subscriptions():
            readers.setdefault(topic_filter, []).append(key)
    wildcards = [f for f in readers if "+" in f or "#" in f]  # the rest: a dict lookup
    issues = []
    for device_id, driver in drivers.items():
        for topic in dict.fromkeys(commanded_topics(driver)):
            filters = [f for f in wildcards if topic_matches(f, topic)]
            filters += [topic] if topic in readers else []
            others = [other for f in filters for other in readers[f] if other != device_id]
            if others:
                issues.append(
                    devices[device_id].document.issue(
                        ("topic",),
                        f"the commands of {device_id!r} go to {topic!r}, which device "
                        f"{others[0]!r} reads as its own reports: give one of them another topic",
                    )
                )
    return issues


def _shared_reports(
    devices: Mapping[str, Sourced[Device]], drivers: Mapping[str, Driver]
) -> list[ConfigIssue]:
    """Two devices reporting on one topic (e.g. Zigbee2MQTT lights `lamp` and
    `lamp/availability`: the second's state is the first's availability): the engine would
    take one's report for the other's. One device given twice is `_unique_topics`' to say."""
    owners: dict[str, str] = {}
    issues = []
    for device_id, driver in drivers.items():
        for topic in dict.fromkeys([driver.availability_topic(), *driver.state_topics()]):
            other = owners.setdefault(topic, device_id)
            if other != device_id and _topic_key(devices[other]) != _topic_key(devices[device_id]):
                issues.append(
                    devices[device_id].document.issue(
                        ("topic",),
                        f"device {device_id!r} reports on {topic!r}, as device {other!r} "
                        "does: give one of them another topic",
                    )
                )
    return issues


def _under_a_base(
    devices: Mapping[str, Sourced[Device]], drivers: Mapping[str, Driver]
) -> list[ConfigIssue]:
    """A device but a Zigbee2MQTT light of that base with a topic under a Zigbee2MQTT base
    topic: Zigbee2MQTT reads and acts on all of `<base>/#` (a `<name>/set` commands a light,
    `bridge/request/...` Zigbee2MQTT itself), and publishes there (e.g. base `cmnd`: a light's
    state on a Tasmota's command topic); and two bases that differ in case only."""
    bases = {
        base: key for key, d in devices.items() if (base := d.model.zigbee2mqtt_base) is not None
    }
    issues = []
    folded: dict[str, str] = {}
    for base, light_id in bases.items():
        other = folded.setdefault(base.casefold(), base)
        if other != base:
            issues.append(
                devices[light_id].document.issue(
                    ("base_topic",),
                    f"base_topic {base!r} differs from {other!r} (light {bases[other]!r}) in "
                    "case only: MQTT topics tell them apart, so they are two Zigbee2MQTT "
                    "(and one password file on a disk that does not)",
                )
            )
    for device_id, driver in drivers.items():
        own = devices[device_id].model.zigbee2mqtt_base
        topics = _used_topics(driver)
        found = [
            (topic, base)
            for topic in topics
            for base in bases
            if base != own and (topic == base or topic.startswith(f"{base}/"))
        ]
        if found:
            topic, base = found[0]
            issues.append(
                devices[device_id].document.issue(
                    ("topic",),
                    f"device {device_id!r} uses {topic!r}, under {base!r}: the base topic of "
                    f"Zigbee2MQTT light {bases[base]!r} (Zigbee2MQTT reads and acts on all of "
                    "it): give one of them another topic",
                )
            )
    return issues


def _under_home_assistant(
    settings: Sourced[RoomSettings],
    devices: Mapping[str, Sourced[Device]],
    drivers: Mapping[str, Driver],
) -> list[ConfigIssue]:
    """A device with a topic under Home Assistant's discovery prefix (e.g. a Zigbee2MQTT
    base `homeassistant`): in a facility, Home Assistant's login may publish all of
    `<prefix>/#`, so it could command that device (`facility init` refuses it too)."""
    prefix = settings.model.home_assistant.prefix
    issues = []
    for device_id, driver in drivers.items():
        found = [t for t in _used_topics(driver) if t == prefix or t.startswith(f"{prefix}/")]
        if found:
            device = devices[device_id]
            # the line that puts it there: a Zigbee2MQTT base, or the device's own topic
            field = "base_topic" if device.model.base_topic == prefix else "topic"
            issues.append(
                device.document.issue(
                    (field,),
                    f"device {device_id!r} uses {found[0]!r}, under Home Assistant's prefix "
                    f"{prefix!r} (home_assistant.prefix), which Home Assistant may publish all "
                    "of: give the device another topic, or Home Assistant another prefix",
                )
            )
    return issues


def _used_topics(driver: Driver) -> list[str]:
    """Every topic a device's driver commands it on or reads it from (filters included)."""
    from controller.drivers.base import commanded_topics

    return [*commanded_topics(driver), *driver.subscriptions()]


def _unique_display_ports(devices: Mapping[str, Sourced[Device]]) -> list[ConfigIssue]:
    issues = []
    seen: dict[int, str] = {}
    for device_id, item in devices.items():
        display = item.model.display
        if display is None:
            continue
        if display.port in seen:
            issues.append(
                item.document.issue(
                    ("display", "port"),
                    f"display port {display.port} is also used by device {seen[display.port]!r}",
                )
            )
        seen[display.port] = device_id
    return issues


def _speed_problem(speed_hz: float, safety: SafetyLimits) -> str | None:
    if speed_hz > limits.BLS_SPEED_MAX_HZ:
        return f"{speed_hz:g} is above the hard limit {limits.BLS_SPEED_MAX_HZ:g} Hz"
    if speed_hz < limits.BLS_SPEED_MIN_HZ:
        return f"{speed_hz:g} is below the hard limit {limits.BLS_SPEED_MIN_HZ:g} Hz"
    if speed_hz > safety.bls_speed_max_hz:
        return f"{speed_hz:g} is above the room's limit {safety.bls_speed_max_hz:g} Hz"
    if speed_hz < safety.bls_speed_min_hz:
        return f"{speed_hz:g} is below the room's limit {safety.bls_speed_min_hz:g} Hz"
    return None


class _SceneChecker:
    """Checks one scene against the room's devices, playlists and safety limits."""

    def __init__(
        self,
        scene: Sourced[Scene],
        devices: Mapping[str, Device],
        index: DeviceIndex,
        playlists: Mapping[str, Playlist],
        safety: SafetyLimits,
        broken: BrokenNames,
        content_dir: Path | None = None,
    ) -> None:
        self._content_dir = content_dir
        self._broken = broken
        self._scene = scene
        self._devices = devices
        self._index = index
        self._playlists = playlists
        self._safety = safety
        self._issues: list[ConfigIssue] = []

    def check(self) -> list[ConfigIssue]:
        model = self._scene.model
        sections: dict[str, Mapping[str, Any]] = {
            "lights": model.lights,
            "music": model.music,
            "vr": model.vr,
            "bls": model.bls,
        }
        for section, targets in sections.items():
            kind = SCENE_SECTION_KIND[section]
            for key, target in targets.items():
                found = self._index.select(key, kind)
                if not found:
                    if self._unknown_is_expected(key):
                        continue
                    self._report((section, key), f"{section}.{key}: {self._no_match(key, kind)}")
                    continue
                if isinstance(target, LightTarget):
                    self._light(section, key, target, found)
                elif isinstance(target, MusicTarget):
                    self._music(section, key, target)
                    self._volume(section, key, target.volume)
                elif isinstance(target, VrTarget):
                    self._volume(section, key, target.volume)
                    self._shown(section, key, target, found)
                elif isinstance(target, BlsTarget):
                    self._bls(section, key, target, found)
        return self._issues

    def _report(self, location: tuple[str | int, ...], message: str) -> None:
        self._issues.append(self._scene.document.issue(location, message))

    def _unknown_is_expected(self, key: str) -> bool:
        """A device in a file that failed to load is reported there, not here again."""
        return self._broken.devices_incomplete or self._broken.hides("device", key)

    def _no_match(self, key: str, kind: str) -> str:
        if key.startswith("group:"):
            return f"no {kind} device is in group {key.removeprefix('group:')!r}"
        other = self._devices.get(key)
        if other is not None:
            return f"device {key!r} is a {other.kind}, not a {kind}"
        return f"no device named {named(key)}"

    def _light(self, section: str, key: str, target: LightTarget, found: list[Device]) -> None:
        for device in found:
            if target.kelvin is not None:
                if device.kelvin_range is None:
                    self._report(
                        (section, key, "kelvin"),
                        f"{section}.{key}.kelvin: light {device.id!r} has no colour temperature",
                    )
                else:
                    low, high = device.kelvin_range
                    if not low <= target.kelvin <= high:
                        self._report(
                            (section, key, "kelvin"),
                            f"{section}.{key}.kelvin {target.kelvin} is outside light "
                            f"{device.id!r}'s range {low}–{high} K",
                        )
            if target.rgb is not None and not device.rgb:
                self._report(
                    (section, key, "rgb"),
                    f"{section}.{key}.rgb: light {device.id!r} takes no RGB colour",
                )

    def _music(self, section: str, key: str, target: MusicTarget) -> None:
        playlist = target.playlist
        if (
            playlist is not None
            and playlist not in self._playlists
            and not self._broken.hides("playlist", playlist)
        ):
            self._report(
                (section, key, "playlist"),
                f"{section}.{key}.playlist: no playlist named {named(playlist)}",
            )

    def _shown(self, section: str, key: str, target: VrTarget, found: list[Device]) -> None:
        """Content for a screen of `sessionroom display` must be something it can play."""
        if target.content is None or not any(device.display for device in found):
            return
        problem = _content_problem(target.content, self._content_dir)
        if problem is not None:
            self._report((section, key, "content"), f"{section}.{key}.content: {problem}")

    def _volume(self, section: str, key: str, volume: float | None) -> None:
        """Music and VR content never play above the room's cap (docs/safety.md#loudness)."""
        if volume is not None and volume > self._safety.volume_cap:
            self._report(
                (section, key, "volume"),
                f"{section}.{key}.volume {volume:g} is above the room's cap "
                f"{self._safety.volume_cap:g} %",
            )

    def _bls(self, section: str, key: str, target: BlsTarget, found: list[Device]) -> None:
        where = f"{section}.{key}"
        safety = self._safety
        if target.speed_hz is not None:
            problem = _speed_problem(target.speed_hz, safety)
            if problem:
                self._report((section, key, "speed_hz"), f"{where}.speed_hz {problem}")
        if target.tone_hz is not None:
            if any(d.driver != "tones" for d in found):
                self._report((section, key, "tone_hz"), f"{where}.tone_hz: only tones play a tone")
            elif not safety.tone_hz_min <= target.tone_hz <= safety.tone_hz_max:
                self._report(
                    (section, key, "tone_hz"),
                    f"{where}.tone_hz {target.tone_hz:g} is outside "
                    f"{safety.tone_hz_min:g}–{safety.tone_hz_max:g} Hz",
                )
        tactile = any(d.mode == "tactile" for d in found) or target.mode == "tactile"
        if (
            tactile
            and target.intensity is not None
            and (target.intensity > safety.tactile_intensity_max)
        ):
            self._report(
                (section, key, "intensity"),
                f"{where}.intensity {target.intensity:g} is above the tactile limit "
                f"{safety.tactile_intensity_max:g} %",
            )
        set_problem = set_length_problem(
            target, safety, speed_hz=_gated_speed(target, found, safety)
        )
        if set_problem:
            field = "passes" if target.passes is not None else "seconds"
            self._report((section, key, field), f"{where}: {set_problem}")


def _gated_speed(target: BlsTarget, devices: list[Device], safety: SafetyLimits) -> float:
    """The speed the gate lets a scene's set run at: the scene's, or the engine's default,
    inside the room's range (and a light bar's inside the flash rate)."""
    high = safety.bls_speed_max_hz
    if target.mode == "visual" or any(device.mode == "visual" for device in devices):
        high = min(high, safety.max_flashes_per_s)
    speed = limits.BLS_DEFAULT_SPEED_HZ if target.speed_hz is None else target.speed_hz
    return min(max(speed, safety.bls_speed_min_hz), high)


def set_length_problem(
    target: BlsTarget, safety: SafetyLimits, *, speed_hz: float | None = None
) -> str | None:
    """Why a BLS set is too long, or None. Beyond the soft limit it needs `confirm_long_set`.

    `speed_hz` is the speed the set will run at; without it, the scene's or else the room's
    slowest (the longest a set of passes can last). A running set that names no length is
    judged as the engine sends it: the room's `bls_set_max_passes`.
    """
    speed = speed_hz or target.speed_hz or safety.bls_speed_min_hz
    passes = target.passes
    if target.running and passes is None and target.seconds is None:
        passes = safety.bls_set_max_passes
    seconds = target.seconds if passes is None else passes / speed
    if seconds is not None and seconds > limits.BLS_SET_MAX_SECONDS:
        return (
            f"a set of {seconds:g} s is longer than the hard limit {limits.BLS_SET_MAX_SECONDS:g} s"
        )
    too_many_passes = passes is not None and passes > safety.bls_set_max_passes
    too_long = seconds is not None and seconds > safety.bls_set_max_seconds
    if (too_many_passes or too_long) and not target.confirm_long_set:
        return (
            f"the set is longer than the room's soft limit ({safety.bls_set_max_passes} passes"
            f" / {safety.bls_set_max_seconds:g} s); add confirm_long_set: true to allow it"
        )
    return None


def _content_problem(content_id: str, content_dir: Path | None) -> str | None:
    """Why a display cannot play `content_id` (a file must be in `content_dir`), or None."""
    try:
        content = parse_content(content_id)
        if isinstance(content, MediaFile) and content_dir is not None:
            content_file(content_dir, content)
    except ContentError as error:
        return str(error)
    return None


def _cue_contents(plan: Sourced[Plan], content_dir: Path | None) -> list[ConfigIssue]:
    """A cue that plays content on every headset must name one the room's screens can play."""
    issues = []
    for index, phase in enumerate(plan.model.phases):
        for cue_index, cue in enumerate(phase.cues):
            content = cue.do.get("content")
            if cue.do["action"] != "vr" or not isinstance(content, str):
                continue
            problem = _content_problem(content, content_dir)
            if problem is not None:
                location = ("phases", index, "cues", cue_index, "do", "content")
                where = describe_location(location)
                issues.append(plan.document.issue(location, f"{where}: {problem}"))
    return issues


def _check_plan(
    plan: Sourced[Plan],
    scenes: Mapping[str, Sourced[Scene]],
    devices: Mapping[str, Device],
    safety: SafetyLimits,
    broken: BrokenNames,
) -> list[ConfigIssue]:
    issues = []
    document = plan.document
    for index, phase in enumerate(plan.model.phases):
        if phase.scene not in scenes and not broken.hides("scene", phase.scene):
            issues.append(
                document.issue(
                    ("phases", index, "scene"),
                    f"phases[{index}].scene: no scene named {named(phase.scene)}",
                )
            )
        for cue_index, cue in enumerate(phase.cues):
            location = ("phases", index, "cues", cue_index, "do")
            cue_id = f"cue-{index}-{cue_index}"
            problem = _cue_problem(cue.do, cue_id, scenes, devices, safety, broken)
            if problem is not None:
                issues.append(document.issue(location, describe_location(location) + problem))
    return issues


def _cue_problem(
    do: Mapping[str, Any],
    cue_id: str,
    scenes: Mapping[str, Sourced[Scene]],
    devices: Mapping[str, Device],
    safety: SafetyLimits,
    broken: BrokenNames,
) -> str | None:
    """What keeps a cue from doing what it says, to follow its location (`: ...`): the
    engine's own reading of its command refused, a name the room lacks, a volume above the
    cap, a set beyond the room's limits."""
    from controller.api.commands import (
        BadCommand,
        Bls,
        Lights,
        SceneOverride,
        Volume,
        Vr,
        cue_command,
    )

    try:
        command = cue_command(do, cue_id)
    except BadCommand as refused:
        return f": {refused.reason}"
    if isinstance(command, SceneOverride):
        known = command.name in scenes or broken.hides("scene", command.name)
        return None if known else f": no scene named {named(command.name)}"
    if isinstance(command, Lights | Bls) and command.device is not None:
        kind = "light" if isinstance(command, Lights) else "bls"
        device = devices.get(command.device)
        if (device is None or device.kind != kind) and not broken.hides("device", command.device):
            return f".device: no {kind} device named {named(command.device)}"
    level = command.volume if isinstance(command, Vr) else None
    level = command.level if isinstance(command, Volume) else level
    if level is not None and level * 100 > safety.volume_cap:
        return (
            f": volume {level:g} ({level * 100:g} %) is above the room's cap "
            f"{safety.volume_cap:g} %"
        )
    if isinstance(command, Bls) and command.op == "start":
        return _cued_set_problem(command, safety)
    return None


def _cued_set_problem(command: Bls, safety: SafetyLimits) -> str | None:
    """A cued set's speed and, when the cue gives one, its length (else the scene's counts)."""
    speed, passes, seconds = command.speed_hz, command.passes, command.seconds
    problem = None if speed is None else _speed_problem(speed, safety)
    if problem is not None:
        return f".speed_hz {problem}"
    if passes is not None and seconds is not None:
        return ": give a BLS set's length in passes or in seconds, not both"
    if passes is None and seconds is None:
        return None
    target = BlsTarget(
        speed_hz=speed, passes=passes, seconds=seconds, confirm_long_set=command.confirm
    )
    problem = set_length_problem(target, safety)
    return None if problem is None else f": {problem}"


def _check_intervals(
    plan: Sourced[Plan], devices: Mapping[str, Device], broken: BrokenNames
) -> list[ConfigIssue]:
    """Each phase's `measure_every` names vitals sensors of the room."""
    issues = []
    sensors = sorted(key for key, device in devices.items() if device.kind == "sensor")
    for index, phase in enumerate(plan.model.phases):
        for sensor in phase.measure_every:
            if sensor in sensors or broken.devices_incomplete or broken.hides("device", sensor):
                continue
            location = ("phases", index, "measure_every", sensor)
            issues.append(
                plan.document.issue(
                    location,
                    f"{describe_location(location)}: no vitals sensor named {named(sensor)} "
                    f"(sensors: {', '.join(sensors) or 'none'})",
                )
            )
    return issues


def named(name: str) -> str:
    """`name` as a message quotes a name that resolves to nothing: with the first character
    beyond ASCII named, for a lookalike (a Cyrillic `а` for a Latin `a`) reads in a quote as
    the name that exists."""
    shown = repr(name)
    odd = next((character for character in name if not character.isascii()), None)
    if odd is None:
        return shown
    what = unicodedata.name(odd, "a character with no name")
    return f"{shown} (its {odd!r} is U+{ord(odd):04X} {what}, not ASCII)"
