"""The keymap: defaults without clashes, overrides from a YAML file, clear errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.console.app import ConsoleApp
from controller.console.keymap import (
    CONTROLS,
    DEFAULT_KEYMAP,
    KeymapError,
    load_keymap,
    with_overrides,
)


def test_every_default_key_belongs_to_one_control_only() -> None:
    keys = [key for control in CONTROLS for key in DEFAULT_KEYMAP.key(control.id).split(",")]
    assert len(keys) == len(set(keys))


def test_every_control_is_bound_in_the_app_by_its_id() -> None:
    bound = {binding.id: binding for binding in ConsoleApp.BINDINGS if hasattr(binding, "id")}
    assert set(bound) == {control.id for control in CONTROLS}
    assert bound["emergency"].priority, "emergency must work even with a dialog open"


def test_the_defaults_are_the_documented_ones() -> None:
    shown = {control.id: DEFAULT_KEYMAP.display(control.id) for control in CONTROLS}
    assert shown == {
        "emergency": "esc",
        "next_phase": "n",
        "previous_phase": "b",
        "hold": "h",
        "extend": "e",
        "volume_up": "+",
        "volume_down": "-",
        "lights_up": "↑",
        "lights_down": "↓",
        "music_pause": "m",
        "music_skip": "s",
        "bls_toggle": "t",
        "bls_faster": "]",
        "bls_slower": "[",
        "note": "a",
        "clear_emergency": "x",
        "end_session": "f",
        "reconnect": "ctrl+r",
        "quit": "ctrl+q",
    }


def test_no_file_means_the_defaults() -> None:
    assert load_keymap(None) == DEFAULT_KEYMAP


def test_a_file_overrides_some_keys_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("next_phase: right\nvolume_up: '+, ='\nemergency: f12\n")
    keymap = load_keymap(path)
    assert keymap.key("next_phase") == "right"
    assert keymap.key("volume_up") == "plus,equals_sign"
    assert keymap.key("emergency") == "f12"
    assert keymap.key("hold") == "h"


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("# nothing changed\n")
    assert load_keymap(path) == DEFAULT_KEYMAP


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nxet_phase: right\n", "unknown control 'nxet_phase'"),
        ("hold: n\n", "key 'n' is given to both next_phase and hold"),
        ("next_phase: rigth\n", "next_phase: 'rigth' is not a key name Textual knows"),
        ("next_phase: 3\n", "next_phase: give a key name such as 'n', 'f12' or 'ctrl+e'"),
        ("next_phase: ''\n", "next_phase: give a key name"),
        ("next_phase: cmd+n\n", "'cmd+n' is not a key name"),
        ("- n\n- b\n", "a keymap maps control names to keys"),
        ("next_phase: [\n", "not a YAML keymap"),
    ],
)
def test_a_bad_keymap_file_is_refused_with_the_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    with pytest.raises(KeymapError) as refused:
        load_keymap(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)


def test_a_missing_keymap_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(KeymapError, match="cannot read the keymap"):
        load_keymap(tmp_path / "absent.yaml")


def test_moving_a_key_away_frees_it_for_another_control() -> None:
    keymap = with_overrides(DEFAULT_KEYMAP, {"next_phase": "right", "hold": "n"})
    assert (keymap.key("next_phase"), keymap.key("hold")) == ("right", "n")


@pytest.mark.parametrize(
    "key", ["a", "A", "y", "n", "5", "+", "]", "space", "enter", "tab", "ctrl+i", "left", "up"]
)
def test_the_emergency_key_may_not_be_one_that_types_or_edits_text(key: str) -> None:
    """It works in the note field too: a letter there would raise the emergency mid-word."""
    with pytest.raises(KeymapError, match=r"emergency: .* types or edits text"):
        with_overrides(DEFAULT_KEYMAP, {"emergency": f"f12, {key}"})


@pytest.mark.parametrize("key", ["escape", "f12", "ctrl+e", "alt+x", "f5"])
def test_the_emergency_key_may_be_one_no_text_field_uses(key: str) -> None:
    keymap = with_overrides(DEFAULT_KEYMAP, {"emergency": key})
    assert keymap.key("emergency") == key
    assert with_overrides(DEFAULT_KEYMAP, {"note": key, "emergency": "f1"}).key("note") == key
