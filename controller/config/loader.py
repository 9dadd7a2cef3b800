"""Load a whole room (config.yaml, devices, scenes, plans, playlists) and validate it.

`load_room(path)` returns a `Room` or raises `RoomConfigError` listing every problem,
each with file and line. Nothing here touches the network or the audio system.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from controller.config.crossref import BrokenNames, check_room
from controller.config.issues import ConfigIssue, RoomConfigError
from controller.config.messages import validate_document
from controller.config.models import (
    Device,
    DeviceFile,
    Plan,
    PlaylistFile,
    Scene,
    identifier_problem,
    select_devices,
)
from controller.config.playlists import Playlist, read_m3u, resolve_playlist_file
from controller.config.settings_file import RoomSettingsFile, display_path, read_settings
from controller.config.yamlsource import Location, YamlDocument, read_yaml

YAML_SUFFIXES = (".yaml", ".yml")
PLAYLIST_SUFFIXES = (".m3u", ".m3u8", *YAML_SUFFIXES)

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Sourced(Generic[ModelT]):
    """A validated model and the file it came from (for messages that name file:line)."""

    model: ModelT
    document: YamlDocument


@dataclass
class Room(RoomSettingsFile):
    """Everything a room is made of, validated."""

    devices: dict[str, Device] = field(default_factory=dict)
    scenes: dict[str, Scene] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)
    playlists: dict[str, Playlist] = field(default_factory=dict)

    def devices_of_kind(self, kind: str) -> list[Device]:
        return [device for device in self.devices.values() if device.kind == kind]

    def resolve_target(self, key: str, kind: str) -> list[Device]:
        """The devices a scene key names: a device id, `group:<name>` or `all` (of `kind`)."""
        return select_devices(self.devices.values(), key, kind)


@dataclass
class _Collected:
    """What loading found so far, before cross-references are checked."""

    issues: list[ConfigIssue] = field(default_factory=list)
    devices: dict[str, Sourced[Device]] = field(default_factory=dict)
    scenes: dict[str, Sourced[Scene]] = field(default_factory=dict)
    plans: dict[str, Sourced[Plan]] = field(default_factory=dict)
    playlists: dict[str, Playlist] = field(default_factory=dict)
    broken: BrokenNames = field(default_factory=BrokenNames)


def load_room(config_path: Path | str) -> Room:
    """Load and validate the room whose config.yaml is `config_path`."""
    config_path = Path(config_path).resolve()
    root = config_path.parent
    found = _Collected()
    settings_doc, settings, issues = read_settings(config_path, root)
    found.issues += issues
    _load_devices(root / settings.paths.devices, root, found)
    scenes_dir = root / settings.paths.scenes
    _load_named(scenes_dir, root, Scene, found.scenes, found, label="scene")
    _load_named(scenes_dir / "plans", root, Plan, found.plans, found, label="plan")
    _load_playlists(root / settings.paths.playlists, root, found)
    if settings_doc is not None:
        found.issues += check_room(
            settings=Sourced(settings, settings_doc),
            devices=found.devices,
            scenes=found.scenes,
            plans=found.plans,
            playlists=found.playlists,
            broken=found.broken,
            content_dir=root / settings.paths.content,
        )
    if found.issues:
        raise RoomConfigError(found.issues)
    return Room(
        config_path=config_path,
        settings=settings,
        devices={key: item.model for key, item in found.devices.items()},
        scenes={key: item.model for key, item in found.scenes.items()},
        plans={key: item.model for key, item in found.plans.items()},
        playlists=found.playlists,
    )


def _yaml_files(folder: Path) -> Iterator[Path]:
    """Every YAML file of `folder`, whatever the case of its suffix (`lights.YAML` left out
    unsaid made a room without those lights); one that is no regular file (a FIFO, a link
    to a device) is reported when read, not skipped unseen."""
    if folder.is_dir():
        yield from sorted(p for p in folder.iterdir() if p.suffix.lower() in YAML_SUFFIXES)


def _missing_folder(folder: Path, root: Path, found: _Collected) -> bool:
    try:
        if folder.is_dir():
            return False
        problem = "folder not found"
    except OSError as error:  # a folder it may not look into
        problem = f"cannot look at the folder: {error.strerror or error}"
    found.issues.append(ConfigIssue(display_path(folder, root), None, problem))
    return True


def _load_devices(folder: Path, root: Path, found: _Collected) -> None:
    if _missing_folder(folder, root, found):
        return
    for path in _yaml_files(folder):
        document = read_yaml(path, display_path(path, root))
        if isinstance(document, ConfigIssue):
            found.issues.append(document)
            found.broken.devices_incomplete = True
            continue
        single = isinstance(document.data, dict) and "devices" not in document.data
        device_file, issues = validate_document(
            DeviceFile,
            document,
            location_in_file=(lambda loc: loc[2:]) if single else (lambda loc: loc),
        )
        found.issues += issues
        if device_file is None:
            _note_broken_devices(document.data, found.broken)
            continue
        entries = {} if single else _entry_lines(document)
        for index, device in enumerate(device_file.devices):
            where = () if single else ("devices", index)
            earlier = found.devices.get(device.id)
            if earlier is not None:
                first = earlier.document
                found.issues.append(
                    document.issue(
                        (*where, "id"),
                        f"device id {device.id!r} is already used "
                        f"({first.display}:{first.line_of(('id',))})",
                    )
                )
                continue
            found.devices[device.id] = Sourced(
                device,
                document
                if single
                else YamlDocument(document.path, document.display, None, entries.get(index, {})),
            )


def _note_broken_devices(data: Any, broken: BrokenNames) -> None:
    """Remember the ids of devices that failed validation, so references to them stay quiet."""
    entries = data.get("devices", [data]) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        broken.devices_incomplete = True
        return
    for entry in entries:
        device_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(device_id, str):
            broken.names.add(("device", device_id))
        else:
            broken.devices_incomplete = True


def _entry_lines(document: YamlDocument) -> dict[int, dict[Location, int]]:
    """The lines of each entry of a `devices:` list, by index, keyed by the entry's own keys
    (so that a device's lines resolve as in a file of its own); one pass over the file, not
    one per device (8,000 devices took 26 s)."""
    entries: dict[int, dict[Location, int]] = {}
    for location, line in document.lines.items():
        if len(location) >= 2 and location[0] == "devices" and isinstance(location[1], int):
            entries.setdefault(location[1], {})[location[2:]] = line
    return entries


def _load_named(
    folder: Path,
    root: Path,
    model: type[ModelT],
    into: dict[str, Sourced[ModelT]],
    found: _Collected,
    *,
    label: str,
) -> None:
    """Scenes or plans: one per file, named by the file name without its extension."""
    if _missing_folder(folder, root, found):
        return
    for path in _yaml_files(folder):
        display = display_path(path, root)
        name_problem = identifier_problem(path.stem)
        if name_problem:
            found.issues.append(ConfigIssue(display, None, f"file name: {name_problem}"))
            continue
        if path.stem in into:
            first = into[path.stem].document.display
            found.issues.append(
                ConfigIssue(display, None, f"{path.stem!r} is defined twice (also in {first})")
            )
            continue
        document = read_yaml(path, display)
        if isinstance(document, ConfigIssue):
            found.issues.append(document)
            found.broken.names.add((label, path.stem))
            continue
        instance, issues = validate_document(model, document)
        found.issues += issues
        if instance is None:
            found.broken.names.add((label, path.stem))
        else:
            into[path.stem] = Sourced(instance, document)


def _yaml_playlist(path: Path, display: str) -> tuple[Playlist | None, list[ConfigIssue]]:
    document = read_yaml(path, display)
    if isinstance(document, ConfigIssue):
        return None, [document]
    playlist_file, issues = validate_document(PlaylistFile, document)
    if playlist_file is None:
        return None, issues
    return resolve_playlist_file(path.stem, playlist_file, document)


def _load_playlists(folder: Path, root: Path, found: _Collected) -> None:
    if _missing_folder(folder, root, found):
        return
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in PLAYLIST_SUFFIXES):
        display = display_path(path, root)
        if path.stem in found.playlists:
            found.issues.append(
                ConfigIssue(display, None, f"playlist {path.stem!r} is defined twice")
            )
            continue
        if path.suffix.lower() in YAML_SUFFIXES:
            playlist, issues = _yaml_playlist(path, display)
        else:
            playlist, issues = read_m3u(path, display)
        found.issues += issues
        if playlist is None:
            found.broken.names.add(("playlist", path.stem))
        else:
            found.playlists[path.stem] = playlist
