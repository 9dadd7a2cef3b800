"""Parsing control commands: typed when valid, a plain reason when not."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.api.commands import BadCommand, Bls, Lights, Start, parse_command


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
        (b"not json", "malformed command: not JSON", None),
        (b"\xff\xfe", "malformed command: not JSON", None),
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
        (b"[" * 5000, "malformed command: JSON nested too deeply"),
        (b'{"id":"a","action":"extend","seconds":' + b"9" * 5000 + b"}", "malformed command"),
        (b'{"id":"a","action":"extend","seconds":NaN}', "seconds nan is above the maximum"),
        (b'{"id":"a","action":"volume","level":Infinity}', "level inf is above the maximum"),
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
