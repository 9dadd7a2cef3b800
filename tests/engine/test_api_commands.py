"""Parsing control commands: typed when valid, a plain reason when not."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.api.commands import (
    NO_ID,
    BadCommand,
    Bls,
    Lights,
    Start,
    Step,
    is_emergency,
    parse_command,
)


def parse(**fields: object) -> object:
    return parse_command(json.dumps({"id": "c1", **fields}).encode())


def refusal(payload: bytes) -> BadCommand:
    with pytest.raises(BadCommand) as caught:
        parse_command(payload)
    return caught.value


def test_a_valid_command_is_typed() -> None:
    assert parse(action="start", plan="rehearsal", participant="P014") == Start(
        id="c1", action="start", plan="rehearsal", participant="P014"
    )
    bls = parse(action="bls", op="start", speed_hz=1.0, passes=24)
    assert isinstance(bls, Bls) and (bls.speed_hz, bls.passes, bls.device) == (1.0, 24, None)
    lights = parse(action="lights", delta=-0.1, device="ceiling")
    assert isinstance(lights, Lights) and lights.delta == -0.1


@pytest.mark.parametrize(
    ("payload", "reason", "command_id"),
    [
        (b"not json", "malformed command: payload is not valid JSON (Expecting value", None),
        (b"\xff\xfe", "malformed command: payload is not UTF-8 text (byte 0)", None),
        (b"[1, 2]", "malformed command: not a JSON object", None),
        (b'{"id": "x1", "action": "jump"}', "unknown action 'jump' (actions: start, next,", "x1"),
        (b'{"action": "next"}', "id is missing", None),
        (
            b'{"id": "x2", "action": "volume", "level": 1.5}',
            "level 1.5 is above the maximum 1",
            "x2",
        ),
        (b'{"id": "x3", "action": "volume"}', "give either level (0–1) or delta (−1–1)", "x3"),
        (
            b'{"id": "x4", "action": "goto", "phase": "lunch"}',
            "phase 'lunch' should be 'centering'",
            "x4",
        ),
        (
            b'{"id": "x5", "action": "note", "text": "hi", "loud": true}',
            "unknown key 'loud'",
            "x5",
        ),
        (
            b'{"id": "x6", "action": "start", "plan": "p", "participant": "Anna"}',
            "participant must be a pseudonymous code",
            "x6",
        ),
    ],
)
def test_a_bad_command_gets_a_plain_reason(
    payload: bytes, reason: str, command_id: str | None
) -> None:
    error = refusal(payload)
    assert error.reason.startswith(reason), error.reason
    assert error.command_id == command_id


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * 5000, "malformed command: JSON is nested more than 32 deep"),
        (b"[" * 33 + b"]" * 33, "malformed command: JSON is nested more than 32 deep"),
        (
            b'{"id":"a","action":"extend","seconds":' + b"9" * 5000 + b"}",
            "malformed command: an integer of more than 20 digits",
        ),
        (
            b'{"id":"a","action":"extend","seconds":NaN}',
            "malformed command: JSON constant NaN is not a number",
        ),
        (
            b'{"id":"a","action":"volume","level":1e999}',
            "malformed command: a number too large to be finite",
        ),
        (
            b'{"id":"a","action":"note","text":"calm \\ud800"}',
            "malformed command: a string holds a lone UTF-16 surrogate",
        ),
    ],
)
def test_hostile_json_is_refused_with_a_reason(payload: bytes, reason: str) -> None:
    assert refusal(payload).reason.startswith(reason)


def test_a_refusal_never_echoes_a_notes_words_or_a_name() -> None:
    note = refusal(b'{"id":"a","action":"note","text":"' + b"Anna cried " * 500 + b'"}')
    assert "Anna" not in note.reason and "5500 characters" in note.reason
    name = refusal(b'{"id":"b","action":"start","plan":"p","participant":"Anna Smith"}')
    assert "Anna" not in name.reason


def test_an_oversized_command_is_refused_before_parsing() -> None:
    assert "larger than 16 KiB" in refusal(b"{" + b" " * 20_000 + b"}").reason


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_garbage_is_refused_never_raised_otherwise(payload: bytes) -> None:
    try:
        parse_command(payload)
    except BadCommand as error:
        assert error.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    action=st.sampled_from(
        ["start", "lights", "volume", "bls", "vr", "music", "extend", "goto", "note"]
    ),
    fields=st.dictionaries(
        st.sampled_from(
            ["level", "delta", "op", "speed_hz", "passes", "seconds", "phase", "text", "plan"]
        ),
        json_values,
        max_size=4,
    ),
)
def test_random_parameters_are_parsed_or_refused(action: str, fields: dict[str, object]) -> None:
    payload = json.dumps({"id": "f1", "action": action, **fields}).encode()
    try:
        parse_command(payload)
    except BadCommand as error:
        assert error.reason and error.command_id == "f1"


@pytest.mark.parametrize(
    ("payload", "read_as"),
    [
        (b'{"action": "emergency"}', Step(id=NO_ID, action="emergency")),
        (
            b'{"id": "e1", "action": "emergency", "reason": "seizure", "source": 7}',
            Step(id="e1", action="emergency"),
        ),
        (
            b'{"id": "e 2", "action": "emergency", "source": "wall-button"}',
            Step(id=NO_ID, action="emergency", source="wall-button"),
        ),
        (b'{"id": "e3", "action": "\\u0065mergency"}', Step(id="e3", action="emergency")),
    ],
)
def test_an_emergency_is_never_refused_for_how_it_is_written(payload: bytes, read_as: Step) -> None:
    """A missing id, a key a newer sender adds, an unusable source: the press stands, and
    goes ahead of the queue like any other."""
    assert parse_command(payload) == read_as
    assert is_emergency(payload)


readable_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**15), 10**15)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
"""JSON the untrusted reader takes (no NaN or infinity, no integer of hundreds of digits)."""


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(st.text(max_size=8), readable_json, max_size=4))
def test_any_object_whose_action_is_emergency_is_an_emergency(fields: dict[str, object]) -> None:
    payload = json.dumps({**fields, "action": "emergency"}).encode()
    command = parse_command(payload)
    assert isinstance(command, Step) and command.action == "emergency"


@pytest.mark.parametrize("code", ["P014\n", "P014\r\n", "\nP014", "P014 ", "P0\u00b914"])
def test_a_participant_code_is_matched_whole(code: str) -> None:
    start = {"id": "c1", "action": "start", "plan": "p", "participant": code}
    reason = refusal(json.dumps(start).encode()).reason
    assert reason.startswith("participant must be a pseudonymous code")


def test_a_command_id_is_matched_whole() -> None:
    """An id with a final newline is no id: it gets no reply topic of its own."""
    error = refusal(b'{"id": "c1\\n", "action": "next"}')
    assert error.command_id is None
    assert "id" in error.reason


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"action": "vr", "op": "play", "content": "x" * 257},
            "content of 257 characters is longer than 256",
        ),
        ({"action": "vr", "op": "play", "content": ""}, "content is empty"),
        ({"action": "scene", "name": "s" * 65}, "name of 65 characters is longer than 64"),
        (
            {"action": "lights", "level": 0.5, "device": "d" * 65},
            "device of 65 characters is longer than 64",
        ),
        (
            {"action": "note", "text": "n" * 4001},
            "text (a text of 4001 characters) is longer than 4000",
        ),
    ],
)
def test_each_field_has_a_size_limit(fields: dict[str, object], reason: str) -> None:
    assert reason in refusal(json.dumps({"id": "c1", **fields}).encode()).reason


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"action": "lights", "level": True}, "level: should be a number"),
        ({"action": "lights", "level": "0.5"}, "level: should be a number"),
        ({"action": "volume", "delta": False}, "delta: should be a number"),
        ({"action": "extend", "seconds": "600"}, "seconds: should be a number"),
        ({"action": "bls", "op": "start", "passes": "24"}, "passes: should be a number"),
        ({"action": "bls", "op": "start", "intensity": True}, "intensity: should be a number"),
        ({"action": "bls", "op": "start", "seconds": 90, "confirm": "yes"}, "confirm 'yes'"),
        ({"action": "bls", "op": "start", "seconds": 90, "confirm": 1}, "confirm 1"),
    ],
)
def test_a_number_or_a_confirmation_is_one_by_its_json_type(
    fields: dict[str, object], reason: str
) -> None:
    """`true` is no full level, `"0.5"` no half, `"yes"` or `1` no confirmation of a long set
    (a plan's cue is read by this parser too: `level: yes` in YAML is refused by `check`)."""
    assert refusal(json.dumps({"id": "c1", **fields}).encode()).reason.startswith(reason)


def test_a_whole_number_of_passes_may_be_written_with_a_fraction_of_zero() -> None:
    bls = parse(action="bls", op="start", passes=24.0, speed_hz=1)
    assert isinstance(bls, Bls) and (bls.passes, bls.speed_hz) == (24, 1.0)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"action": "lights", "level": 2}, "level 2 is above the maximum 1"),
        (
            {"action": "vr", "op": "play", "content": "x", "volume": 2},
            "volume 2 is above the maximum 1",
        ),
        (
            {"action": "bls", "op": "start", "intensity": -1},
            "intensity -1 is too low: it must be at least 0",
        ),
    ],
)
def test_a_refused_fraction_is_named_and_shown_as_the_fraction_it_is(
    fields: dict[str, object], reason: str
) -> None:
    """A command's levels are 0–1: "the maximum 1 %" would read as a hundredth of that, and a
    VR play's `volume` is named though `volume` is an action too."""
    assert refusal(json.dumps({"id": "c1", **fields}).encode()).reason == reason
