"""The console's keys in one place: every control, its default key, and overrides from a YAML file.

A keymap file maps control ids to Textual key names (several keys separated by commas)::

    next_phase: right
    emergency: f12
    volume_up: "+,="

Single characters are accepted as they are typed (`+`, `]`); anything else must be a key
name Textual knows (`escape`, `up`, `f12`, `ctrl+e`, `right_square_bracket`).

The emergency key works everywhere, a text field included: so it may not be a key that types
or edits text, or moves in a dialog (a letter, a digit, `space`, `enter`, `tab`, an arrow...),
or typing a note would raise the emergency and the key would be lost to the note.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.keys import KEY_NAME_REPLACEMENTS, Keys, format_key, key_to_character

from controller.config.yamlsource import yaml_data

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
NAMED_KEYS = frozenset(key.value for key in Keys)
TEXT_FIELD_KEYS = frozenset(
    {"enter", "ctrl+m", "tab", "ctrl+i", "shift+tab", "backspace", "delete"}
    | {"left", "right", "up", "down", "home", "end"}
)
"""Keys a text field or a dialog uses besides the characters typed (`ctrl+m` and `ctrl+i`
are how a terminal sends enter and tab)."""
LONG_KEY_NAMES = {short: long for long, short in KEY_NAME_REPLACEMENTS.items()}
"""`plus` → `plus_sign`: the name Textual reads the character from."""


@dataclass(frozen=True)
class Control:
    """Something the therapist can do with one key."""

    id: str
    key: str
    """Default key (Textual key name)."""
    label: str
    """One or two words for the key bar."""
    title: str
    """What it does, in plain words (feedback lines, help)."""
    action: str
    """The Textual action the key runs."""
    in_session_only: bool = True
    """Offered only while a session runs."""
    needs_engine: bool = True
    """Disabled while the engine cannot be reached (broker lost, engine offline)."""
    confirm: str | None = None
    """A question to confirm before the command is sent."""


def _send(control_id: str) -> str:
    return f"control('{control_id}')"


CONTROLS: tuple[Control, ...] = (
    Control(
        "emergency",
        "escape",
        "EMERGENCY",
        "emergency: lights up, everything stops (again: immediate)",
        "emergency",
        in_session_only=False,
        needs_engine=False,
    ),
    Control("next_phase", "n", "next", "next phase", _send("next_phase")),
    Control(
        "previous_phase",
        "b",
        "back",
        "back to the previous phase",
        _send("previous_phase"),
        confirm="Go back to the previous phase?",
    ),
    Control("hold", "h", "hold", "hold / release the phase clock", _send("hold")),
    Control("extend", "e", "+5 min", "extend the phase by 5 minutes", _send("extend")),
    Control("volume_up", "plus", "vol+", "music volume up", _send("volume_up")),
    Control("volume_down", "minus", "vol−", "music volume down", _send("volume_down")),
    Control("lights_up", "up", "light+", "lights up", _send("lights_up")),
    Control("lights_down", "down", "light−", "lights down", _send("lights_down")),
    Control("music_pause", "m", "pause", "pause / resume the music", _send("music_pause")),
    Control("music_skip", "s", "skip", "skip to the next track", _send("music_skip")),
    Control("bls_toggle", "t", "BLS", "start / stop BLS", _send("bls_toggle")),
    Control("bls_faster", "right_square_bracket", "BLS+", "BLS faster", _send("bls_faster")),
    Control("bls_slower", "left_square_bracket", "BLS−", "BLS slower", _send("bls_slower")),
    Control("note", "a", "note", "add a note to the timeline", "note"),
    Control(
        "clear_emergency",
        "x",
        "clear emergency",
        "clear the emergency",
        _send("clear_emergency"),
        in_session_only=False,
        confirm="Clear the emergency and let the session continue?",
    ),
    Control(
        "end_session",
        "f",
        "finish",
        "finish the session",
        _send("end_session"),
        confirm="Finish the session? The room returns to its idle scene.",
    ),
    Control(
        "reconnect",
        "ctrl+r",
        "reconnect",
        "reconnect to the broker",
        "reconnect",
        in_session_only=False,
        needs_engine=False,
    ),
    Control(
        "quit",
        "ctrl+q",
        "quit",
        "quit the console (the room keeps running)",
        "request_quit",
        in_session_only=False,
        needs_engine=False,
    ),
)
CONTROLS_BY_ID: dict[str, Control] = {control.id: control for control in CONTROLS}


class KeymapError(ValueError):
    """A keymap file that cannot be used, with the reason in plain words."""


@dataclass(frozen=True)
class Keymap:
    """The keys in force: control id → comma-separated Textual key names."""

    keys: Mapping[str, str]

    def key(self, control_id: str) -> str:
        return self.keys[control_id]

    def display(self, control_id: str) -> str:
        """How the first key of a control is shown in the key bar (`esc`, `n`, `+`, `↑`)."""
        return format_key(self.keys[control_id].split(",")[0])


DEFAULT_KEYMAP = Keymap({control.id: control.key for control in CONTROLS})


def load_keymap(path: Path | None) -> Keymap:
    """The default keymap with the overrides of a YAML file applied, or KeymapError."""
    if path is None:
        return DEFAULT_KEYMAP
    try:
        data: Any = yaml_data(path)  # as a room file: no traceback, no wait, bounded memory
    except OSError as error:
        raise KeymapError(f"{path}: cannot read the keymap ({error.strerror or error})") from None
    except ValueError as error:
        raise KeymapError(f"{path}: not a YAML keymap ({error})") from None
    if data is None:
        return DEFAULT_KEYMAP
    if not isinstance(data, dict):
        raise KeymapError(f"{path}: a keymap maps control names to keys, e.g. `next_phase: right`")
    try:
        return with_overrides(DEFAULT_KEYMAP, data)
    except KeymapError as error:
        raise KeymapError(f"{path}: {error}") from None


def with_overrides(base: Keymap, overrides: Mapping[Any, Any]) -> Keymap:
    """`base` with some controls given other keys; unknown controls and clashes are errors."""
    keys = dict(base.keys)
    for control_id, value in overrides.items():
        if control_id not in CONTROLS_BY_ID:
            known = ", ".join(CONTROLS_BY_ID)
            raise KeymapError(f"unknown control {control_id!r} (controls: {known})")
        if not isinstance(value, str) or not value.strip():
            raise KeymapError(f"{control_id}: give a key name such as 'n', 'f12' or 'ctrl+e'")
        keys[control_id] = normalize_keys(value, control_id)
        text_key = next((name for name in keys[control_id].split(",") if types_text(name)), None)
        if control_id == "emergency" and text_key is not None:
            raise KeymapError(
                f"emergency: {format_key(text_key)!r} types or edits text (a note, a reason): "
                "give a key no text field uses, such as 'escape', 'f12' or 'ctrl+e'"
            )
    _refuse_clashes(keys)
    return Keymap(keys)


def normalize_keys(value: str, control_id: str) -> str:
    """`"+, ]"` → `"plus,right_square_bracket"`; an unknown key name is a KeymapError."""
    names = []
    for part in value.split(","):
        text = part.strip()
        if len(text) == 1:
            names.append(_character_key(text))
        elif _is_key_name(text):
            names.append(text)
        else:
            raise KeymapError(f"{control_id}: {text!r} is not a key name Textual knows")
    return ",".join(names)


def _character_key(character: str) -> str:
    if character.isalnum():
        return character
    name = unicodedata.name(character, character).lower().replace(" ", "_").replace("-", "_")
    return KEY_NAME_REPLACEMENTS.get(name, name)


def _is_key_name(text: str) -> bool:
    *modifiers, key = text.split("+")
    if any(modifier not in MODIFIERS for modifier in modifiers):
        return False
    return len(key) == 1 or key in NAMED_KEYS or key_to_character(key) is not None


def types_text(name: str) -> bool:
    """Whether a key types a character or edits text in a field (`a`, `shift+a`, `plus`,
    `space`, `enter`, `left`), rather than only running a binding (`escape`, `f12`, `ctrl+e`)."""
    if name in TEXT_FIELD_KEYS:
        return True
    key = name.removeprefix("shift+")
    if "+" in key:
        return False
    character = key_to_character(LONG_KEY_NAMES.get(key, key))
    return character is not None and character.isprintable()


def _refuse_clashes(keys: Mapping[str, str]) -> None:
    owner: dict[str, str] = {}
    for control_id, names in keys.items():
        for name in names.split(","):
            if name in owner:
                raise KeymapError(
                    f"key {format_key(name)!r} is given to both {owner[name]} and {control_id}"
                )
            owner[name] = control_id
