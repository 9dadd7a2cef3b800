"""Reading one YAML room file: data plus the line of every key, or one issue with file and line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.config import yamlsource
from controller.config.issues import ConfigIssue
from controller.config.yamlsource import (
    MAX_FILE_BYTES,
    RoomFileTooLargeError,
    YamlDocument,
    parse_yaml_text,
    read_room_file,
    read_yaml,
)


def parsed(text: str) -> YamlDocument:
    document = parse_yaml_text(text, Path("x.yaml"), "x.yaml")
    assert isinstance(document, YamlDocument), document
    return document


def problem(text: str) -> ConfigIssue:
    issue = parse_yaml_text(text, Path("x.yaml"), "x.yaml")
    assert isinstance(issue, ConfigIssue), issue
    return issue


def test_every_key_knows_its_line() -> None:
    document = parsed("a: 1\nb:\n  c: [1, 2]\n  d:\n    - e: x\n")
    assert document.data == {"a": 1, "b": {"c": [1, 2], "d": [{"e": "x"}]}}
    assert document.line_of(("a",)) == 1
    assert document.line_of(("b", "c")) == 3
    assert document.line_of(("b", "d", 0, "e")) == 5


def test_an_unknown_location_falls_back_to_its_nearest_parent() -> None:
    document = parsed("a: 1\nb:\n  c: 2\n")
    assert document.line_of(("b", "c", "nope", 3)) == 3


def test_yaml_1_1_booleans_are_plain_names_as_keys() -> None:
    assert parsed("on: false\nyes: 1\n").data == {"on": False, "yes": 1}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "the file is empty"),
        ("# only a comment\n", 1, "the file is empty"),
        ("a: 1\na: 2\n", 2, "duplicate key 'a' (first at line 1)"),
        ("a:\n\t- 1\n", 2, "tab character: YAML is indented with spaces, not tabs"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", 3, "merge keys (<<) are not supported"),
        ("? [1, 2]\n: x\n", 1, "a key must be plain text"),
    ],
)
def test_malformed_documents_give_one_issue_on_the_right_line(
    text: str, line: int, message: str
) -> None:
    assert problem(text) == ConfigIssue("x.yaml", line, message)


def test_a_syntax_error_names_its_line() -> None:
    issue = problem("a: 1\nb: [1, 2\nc: 3\n")
    assert issue.line == 3
    assert issue.message.startswith("not valid YAML:")


def test_two_documents_in_one_file_are_rejected() -> None:
    issue = problem("a: 1\n---\nb: 2\n")
    assert issue.line == 2
    assert "expected a single document" in issue.message


def test_python_tags_are_refused_not_executed() -> None:
    issue = problem("a: !!python/object/apply:os.system ['true']\n")
    assert issue.line == 1
    assert "cannot be read" in issue.message


def test_an_alias_bomb_is_stopped() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    issue = problem("\n".join(lines) + "\n")
    assert "expands to more than" in issue.message


def test_a_recursive_alias_is_stopped() -> None:
    issue = problem("a: &loop\n  - *loop\n")
    assert "expands to more than" in issue.message or "nests too deeply" in issue.message


def test_a_file_over_the_size_limit_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as out:
        out.truncate(50 * 1000 * 1000)
    issue = read_yaml(huge, "huge.yaml")
    assert isinstance(issue, ConfigIssue)
    assert issue.message == (
        f"file is 50.0 MB; room files may be at most {MAX_FILE_BYTES // 1024} KiB"
    )


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"a: 1\nb: caf\xe9\n")
    assert read_yaml(path, "latin1.yaml") == ConfigIssue(
        "latin1.yaml", 2, "not UTF-8 text (byte 0xe9); save it as UTF-8"
    )


def test_an_unreadable_path_is_an_issue_not_a_traceback(tmp_path: Path) -> None:
    issue = read_yaml(tmp_path, "folder.yaml")
    assert isinstance(issue, ConfigIssue)
    assert issue.message.startswith("cannot read the file")


def test_a_control_character_names_its_line() -> None:
    assert problem("a: 1\nb: x\x00y\n") == ConfigIssue(
        "x.yaml", 2, "control character U+0000 is not allowed in YAML"
    )


EXAMPLE_ROOM = Path(__file__).resolve().parents[2]
EXAMPLE_FILES = sorted(
    path
    for pattern in ("config.yaml", "devices/*.yaml", "scenes/**/*.yaml", "playlists/*.yaml")
    for path in EXAMPLE_ROOM.glob(pattern)
)


@pytest.mark.parametrize(
    "path", EXAMPLE_FILES, ids=lambda path: str(path.relative_to(EXAMPLE_ROOM))
)
def test_libyaml_reads_each_example_file_as_pyyamls_own_parser_does(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert yamlsource.FAST_LOADER is not None, "PyYAML without libyaml: room files load slowly"
    fast = read_yaml(path, path.name)
    monkeypatch.setattr(yamlsource, "FAST_LOADER", None)
    assert fast == read_yaml(path, path.name)


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_file_that_is_no_regular_file_is_refused_without_waiting_or_reading(
    kind: str, tmp_path: Path
) -> None:
    """A FIFO would block the read for ever, /dev/zero would fill the memory."""
    path = tmp_path / "config.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    assert read_yaml(path, "config.yaml") == ConfigIssue(
        "config.yaml", None, "not a regular file; a room file must be a plain file"
    )


def test_a_file_read_reads_no_more_than_its_limit(tmp_path: Path) -> None:
    """The size is judged on what is read, not on what stat said before (the file may grow)."""
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: 1\n" * 10)
    assert read_room_file(path, 50) == b"a: 1\n" * 10
    with pytest.raises(RoomFileTooLargeError):
        read_room_file(path, 49)


def test_nesting_too_deep_for_the_parser_is_an_issue() -> None:
    for text in ("a: " + "[" * 50_000 + "]" * 50_000 + "\n", "a: " + "{b: " * 50_000 + "1}"):
        issue = problem(text)
        assert issue == ConfigIssue("x.yaml", None, "the document nests too deeply")


def test_an_integer_of_thousands_of_digits_is_an_issue_on_its_line() -> None:
    issue = problem("a: 1\nb: " + "9" * 5000 + "\n")
    assert issue.line == 2
    assert issue.message.startswith("value '99999")
    assert "cannot be read" in issue.message


def test_a_lone_surrogate_is_an_issue_on_its_line() -> None:
    """It can never be written out as UTF-8 (journal, events, state)."""
    assert problem('a: 1\nb: "x\\ud800"\n') == ConfigIssue(
        "x.yaml", 2, "text 'x\\ud800' holds a lone surrogate, which is no character"
    )
    assert problem('a: 1\n"\\udfff": 2\n').line == 2


def test_dates_are_read_as_the_text_written() -> None:
    """A date is never what a room file means; as text it stays JSON (a cue's note)."""
    assert parsed("a: 2026-01-01\nb: !!timestamp 2026-01-01 10:00:00\n").data == {
        "a": "2026-01-01",
        "b": "2026-01-01 10:00:00",
    }
