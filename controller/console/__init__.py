"""The therapist's console: a Textual app that reaches the room's engine over MQTT only."""

from controller.console.app import ConsoleApp
from controller.console.keymap import CONTROLS, Keymap, KeymapError, load_keymap
from controller.console.link import Endpoint, RoomLink

__all__ = ["CONTROLS", "ConsoleApp", "Endpoint", "Keymap", "KeymapError", "RoomLink", "load_keymap"]
