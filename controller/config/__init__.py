"""The room model: load config.yaml, devices, scenes, plans and playlists, with file:line errors.

The names below are imported on first use: a module of this package that needs none of the
room models (e.g. `durations`) can be imported without pydantic, as a journal listing does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controller.config.issues import ConfigIssue, RoomConfigError
    from controller.config.loader import Room, load_room
    from controller.config.playlists import Playlist, Track

__all__ = ["ConfigIssue", "Playlist", "Room", "RoomConfigError", "Track", "load_room"]

_MODULE_OF = {
    "ConfigIssue": "controller.config.issues",
    "RoomConfigError": "controller.config.issues",
    "Room": "controller.config.loader",
    "load_room": "controller.config.loader",
    "Playlist": "controller.config.playlists",
    "Track": "controller.config.playlists",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
