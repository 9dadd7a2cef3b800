"""The room model: load config.yaml, devices, scenes, plans and playlists, with file:line errors."""

from controller.config.issues import ConfigIssue, RoomConfigError
from controller.config.loader import Room, load_room
from controller.config.playlists import Playlist, Track

__all__ = ["ConfigIssue", "Playlist", "Room", "RoomConfigError", "Track", "load_room"]
