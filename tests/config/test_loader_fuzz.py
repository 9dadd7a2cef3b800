"""Fuzzing the room loader: the only outcomes are a loaded room or issues with file and line."""

from __future__ import annotations

import ipaddress
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.config import Room, RoomConfigError, load_room
from controller.config.settings import BrokerSettings, broker_from_url
from tests.conftest import REPO

FUZZED_FILES = (
    "config.yaml",
    "devices/lights.yaml",
    "scenes/peak.yaml",
    "scenes/plans/standard.yaml",
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
FUZZ = settings(
    max_examples=25,
    deadline=3000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def room_copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shipped room without its audio (tracks are replaced by empty files of the same name)."""
    root = tmp_path_factory.mktemp("room")
    shutil.copy(REPO / "config.yaml", root)
    shutil.copytree(REPO / "devices", root / "devices")
    shutil.copytree(REPO / "scenes", root / "scenes")
    shutil.copytree(REPO / "playlists", root / "playlists", ignore=shutil.ignore_patterns("*.wav"))
    for track in (REPO / "playlists" / "audio").glob("*.wav"):
        (root / "playlists" / "audio" / track.name).write_bytes(b"")
    yield root


def load_with(root: Path, relative: str, content: bytes) -> Room | RoomConfigError:
    target = root / relative
    original = target.read_bytes()
    target.write_bytes(content)
    try:
        return load_room(root / "config.yaml")
    except RoomConfigError as error:
        return error
    finally:
        target.write_bytes(original)


def assert_clean_outcome(outcome: Room | RoomConfigError, fuzzed: str) -> None:
    if isinstance(outcome, Room):
        return
    assert outcome.issues
    for issue in outcome.issues:
        assert issue.message
        if issue.file == fuzzed:
            assert issue.line is not None and issue.line >= 1, issue


@FUZZ
@given(document=documents, relative=st.sampled_from(FUZZED_FILES))
def test_any_yaml_document_loads_or_is_reported(
    room_copy: Path, document: Any, relative: str
) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    assert_clean_outcome(load_with(room_copy, relative, text.encode()), relative)


@FUZZ
@given(text=st.text(max_size=300), relative=st.sampled_from(FUZZED_FILES))
def test_any_text_loads_or_is_reported(room_copy: Path, text: str, relative: str) -> None:
    outcome = load_with(room_copy, relative, text.encode("utf-8", "surrogatepass"))
    assert_clean_outcome(outcome, relative)


@FUZZ
@given(data=st.binary(max_size=300), relative=st.sampled_from(FUZZED_FILES))
def test_any_bytes_load_or_are_reported(room_copy: Path, data: bytes, relative: str) -> None:
    assert_clean_outcome(load_with(room_copy, relative, data), relative)


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in leaf_paths(item, (*prefix, key))]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in leaf_paths(item, (*prefix, index))]
    return [prefix]


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    return [
        replaced(item, rest, new) if index == head else item for index, item in enumerate(value)
    ]


@FUZZ
@given(data=st.data(), relative=st.sampled_from(FUZZED_FILES))
def test_a_random_value_in_a_valid_document_loads_or_is_reported(
    room_copy: Path, data: st.DataObject, relative: str
) -> None:
    valid = yaml.safe_load((room_copy / relative).read_text())
    path = data.draw(st.sampled_from(leaf_paths(valid)))
    new_value = data.draw(scalars | st.lists(scalars, max_size=3))
    text = yaml.safe_dump(replaced(valid, path, new_value), allow_unicode=True)
    assert_clean_outcome(load_with(room_copy, relative, text.encode()), relative)


host_parts = st.one_of(
    st.text(max_size=70),
    st.sampled_from(
        ["xn--", ".", "..", "0", "010", "0x7f", "255", "256", "[", "]", "%25", "@", ":", "_", "-"]
    ),
    st.text(alphabet="0123456789.x", max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(
    host=st.lists(host_parts, max_size=6).map("".join),
    form=st.sampled_from(["mqtt://{}:1883", "mqtts://{}", "mqtt://u@{}", "mqtt://[{}]:1", "{}"]),
)
def test_a_broker_url_names_a_host_a_socket_reads_as_written_or_is_refused(
    host: str, form: str
) -> None:
    """Whatever the URL: a ValueError, or a host the resolver takes as it is written (an
    address as one, a name it can encode), never one it reads as another IPv4 address."""
    try:
        taken = broker_from_url(form.format(host)).get("host")
    except ValueError:
        return
    if taken is None:  # `embedded`
        return
    try:
        ipaddress.ip_address(taken)
    except ValueError:
        name = taken.encode("idna").decode("ascii")
        with pytest.raises(OSError):
            socket.inet_aton(name)
    assert BrokerSettings(mode="external", host=taken).host == taken
