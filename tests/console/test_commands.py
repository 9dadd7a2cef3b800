"""The commands the console builds are the ones the engine's parser accepts."""

from __future__ import annotations

import json

import pytest

from controller.api.commands import parse_command
from controller.console.commands import command_for, note_command, start_command
from controller.console.keymap import CONTROLS
from tests.console import sample_states as states

SENDING_CONTROLS = [c.id for c in CONTROLS if c.action.startswith("control(")]


@pytest.mark.parametrize("control_id", SENDING_CONTROLS)
def test_every_control_builds_a_command_the_engine_parses(control_id: str) -> None:
    state = states.bls_running(states.live_state("room-a"))
    command = command_for(control_id, state)
    assert isinstance(command, dict)
    parsed = parse_command(json.dumps(command).encode())
    assert parsed.id == command["id"]
    assert parsed.source == "console"


def test_every_command_gets_a_fresh_id() -> None:
    state = states.live_state("room-a")
    first, second = command_for("next_phase", state), command_for("next_phase", state)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["id"] != second["id"]


def test_start_and_note_commands_parse() -> None:
    for command in (start_command("standard", "P014"), note_command("calm, eyes closed")):
        parse_command(json.dumps(command).encode())


def test_bls_speed_has_a_default_when_the_engine_reports_none() -> None:
    state = states.bls_running(states.live_state("room-a"))
    state = state.model_copy(update={"bls": state.bls.model_copy(update={"speed_hz": None})})
    command = command_for("bls_faster", state)
    assert isinstance(command, dict) and command["speed_hz"] == 1.1


def test_bls_speed_cannot_change_while_bls_is_stopped() -> None:
    assert command_for("bls_slower", states.live_state("room-a")) == (
        "BLS is not running: start it first"
    )
