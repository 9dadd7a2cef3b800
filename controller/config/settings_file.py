"""A room's config.yaml alone: read and validated, with file:line errors.

A client of the engine (the console, `ctl`) reaches the room over MQTT only: it needs the
room's id, broker and settings, none of its devices, scenes, plans or playlists, and loads
config.yaml alone (`load_settings_file`). It opens whenever config.yaml is sound, even while
another room file has an error: the engine checked the files it runs on and `sessionroom
check` reports the rest, and a scene edited into an error during a session never keeps the
therapist from the console and its emergency key. Loading a whole room
(`controller.config.loader`) begins here too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.config.issues import ConfigIssue, RoomConfigError
from controller.config.messages import validate_document
from controller.config.settings import RoomSettings
from controller.config.yamlsource import YamlDocument, read_yaml


@dataclass
class RoomSettingsFile:
    """A room's config.yaml, validated: its id, broker and settings."""

    config_path: Path
    settings: RoomSettings

    @property
    def root(self) -> Path:
        return self.config_path.parent

    @property
    def room_id(self) -> str:
        return self.settings.room

    @property
    def data_dir(self) -> Path:
        """The data folder, absolute (beside config.yaml when relative) without asking its
        disk: the engine reads this on its event loop, where a folder that does not answer
        (a network mount whose server is gone) held it up for as long as it hung."""
        return Path(os.path.abspath(self.root / self.settings.data_dir))


def load_settings_file(config_path: Path | str) -> RoomSettingsFile:
    """Load and validate the room's config.yaml alone; `RoomConfigError` lists its problems."""
    config_path = Path(config_path).resolve()
    _document, settings, issues = read_settings(config_path, config_path.parent)
    if issues:
        raise RoomConfigError(issues)
    return RoomSettingsFile(config_path=config_path, settings=settings)


def read_settings(
    config_path: Path, root: Path
) -> tuple[YamlDocument | None, RoomSettings, list[ConfigIssue]]:
    """config.yaml and its problems; on failure, defaults stand in (keeping the folders it
    names, when only other settings were wrong) so that the other files can still be checked."""
    fallback = RoomSettings(room="unknown")
    document = read_yaml(config_path, display_path(config_path, root))
    if isinstance(document, ConfigIssue):
        return None, fallback, [document]
    settings, issues = validate_document(RoomSettings, document)
    if settings is None:
        return None, _paths_only(document.data, fallback), issues
    return document, settings, issues


def display_path(path: Path, root: Path) -> str:
    """`path` as a message names it: relative to the room's folder when inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _paths_only(data: Any, fallback: RoomSettings) -> RoomSettings:
    try:
        return RoomSettings.model_validate({"room": "unknown", "paths": data.get("paths", {})})
    except (AttributeError, ValueError):
        return fallback
