"""Read one YAML room file into plain data plus the line of every key, or a ConfigIssue.

PyYAML's composer keeps the position of every node; we build the data ourselves from the
node tree so that duplicate keys, anchors that recurse, huge files and bytes that are
not UTF-8 each become one clear issue with file and line instead of a traceback.
A room file is read only when it is a regular file, and never past its size limit: a FIFO
or a link to /dev/zero in a room folder neither blocks nor fills the memory.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.config.issues import ConfigIssue
from controller.untrusted import clean_text

MAX_FILE_BYTES = 1024 * 1024
"""Room files are hand-written; anything larger is a mistake (or an attack), not a room."""

MAX_NODES = 100_000
"""A bound on the data one file may expand to, so alias bombs cannot hang the loader."""

Location = tuple[str | int, ...]

FAST_LOADER: type[yaml.CSafeLoader] | None = getattr(yaml, "CSafeLoader", None)
"""libyaml's parser, when PyYAML was built with it: the same nodes many times faster."""

_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp", "merge")
)
_NOT_IN_YAML = yaml.reader.Reader.NON_PRINTABLE
"""What YAML refuses written plainly in a file (control characters but tab and line breaks)."""
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
"""Read as the text written: no room file means a date, and a date is not JSON (a cue's
command travels as JSON, and would fail mid-session)."""


@dataclass
class YamlDocument:
    """The data of one file, and the line (1-based) where each key path starts."""

    path: Path
    display: str
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Location) -> int:
        """The line of `location`, or of its nearest enclosing key that has one."""
        for end in range(len(location), -1, -1):
            line = self.lines.get(tuple(location[:end]))
            if line is not None:
                return line
        return 1

    def issue(self, location: Location, message: str) -> ConfigIssue:
        return ConfigIssue(self.display, self.line_of(location), message)


class _RejectedError(Exception):
    """A problem found while turning nodes into data; carries its ConfigIssue."""

    def __init__(self, issue: ConfigIssue) -> None:
        super().__init__(str(issue))
        self.issue = issue


class NotRegularFileError(OSError):
    """A room file that is a FIFO, a device, a socket or a folder."""


class RoomFileTooLargeError(OSError):
    """A room file larger than its limit; `size` is what stat says (at least the limit)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"larger than its limit ({size} bytes)")
        self.size = size


NOT_REGULAR = "not a regular file; a room file must be a plain file"


def plain_file(path: Path) -> Path:
    """`path`, or NotRegularFileError when it names a FIFO, a device, a socket or a folder: a
    file handed to `ssl` (a certificate, a key, a CA bundle) is read by path, and a FIFO would
    keep it waiting for ever, a link to `/dev/zero` reading without end. A missing file is
    left for the reader to report."""
    if path.exists() and not path.is_file():
        raise NotRegularFileError("not a regular file (a FIFO, a device or a folder)")
    return path


def read_room_file(path: Path, limit: int) -> bytes:
    """The bytes of `path`, opened without blocking (a FIFO) and read no further than
    `limit`; NotRegularFileError, RoomFileTooLargeError or another OSError otherwise."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(descriptor, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise NotRegularFileError(NOT_REGULAR)
        if status.st_size > limit:
            raise RoomFileTooLargeError(status.st_size)
        data = file.read(limit + 1)
    if len(data) > limit:
        raise RoomFileTooLargeError(len(data))
    return data


def read_yaml(path: Path, display: str) -> YamlDocument | ConfigIssue:
    """Read `path`; `display` is how messages name it (e.g. `scenes/peak.yaml`)."""
    try:
        raw = read_room_file(path, MAX_FILE_BYTES)
    except NotRegularFileError:
        return ConfigIssue(display, None, NOT_REGULAR)
    except RoomFileTooLargeError as error:
        return ConfigIssue(
            display,
            None,
            f"file is {error.size / 1e6:.1f} MB; room files may be at most "
            f"{MAX_FILE_BYTES // 1024} KiB",
        )
    except OSError as error:
        return ConfigIssue(display, None, f"cannot read the file: {error.strerror or error}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        return ConfigIssue(
            display, line, f"not UTF-8 text (byte 0x{raw[error.start]:02x}); save it as UTF-8"
        )
    return parse_yaml_text(text, path, display)


def yaml_data(path: Path) -> Any:
    """The data of a YAML file that is no room file (a console's keymap, a facility's login),
    read by the same rules: None when it holds nothing. OSError when it cannot be read (or is
    no regular file, or too large); ValueError, naming its line, when it is no YAML they take
    (nesting too deep made a traceback of these)."""
    raw = read_room_file(path, MAX_FILE_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(f"line {line}: not UTF-8 text (byte 0x{raw[error.start]:02x})") from None
    document = parse_yaml_text(text, path, str(path))
    if isinstance(document, ConfigIssue):
        if document.message == _EMPTY:
            return None
        where = f"line {document.line}: " if document.line is not None else ""
        raise ValueError(f"{where}{document.message}")
    return document.data


def parse_yaml_text(text: str, path: Path, display: str) -> YamlDocument | ConfigIssue:
    """Parse YAML text already in memory (used by read_yaml and by tests)."""
    try:
        root = _compose(text)
    except RecursionError:
        return ConfigIssue(display, None, _TOO_DEEP)
    except yaml.MarkedYAMLError as error:
        return _syntax_issue(error, display)
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        code = error.character if isinstance(error.character, int) else ord(error.character)
        return ConfigIssue(display, line, f"control character U+{code:04X} is not allowed in YAML")
    except yaml.YAMLError as error:
        return ConfigIssue(display, None, f"not valid YAML: {error}")
    document = YamlDocument(path=path, display=display, data=None)
    if root is None:
        return ConfigIssue(display, 1, _EMPTY)
    builder = _Builder(document)
    try:
        document.data = builder.build(root, ())
    except _RejectedError as rejected:
        return rejected.issue
    except RecursionError:
        return ConfigIssue(display, None, _TOO_DEEP)
    return document


_TOO_DEEP = "the document nests too deeply"
_EMPTY = "the file is empty"


def _compose(text: str) -> yaml.Node | None:
    """The node tree of `text`. A document libyaml refuses is read again by PyYAML's own
    parser, so that what is wrong is said in its words (and the same words as ever)."""
    if FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=FAST_LOADER)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _syntax_issue(error: yaml.MarkedYAMLError, display: str) -> ConfigIssue:
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = error.problem or "not valid YAML"
    if "'\\t'" in problem:
        return ConfigIssue(display, line, "tab character: YAML is indented with spaces, not tabs")
    context = f" ({error.context})" if error.context else ""
    return ConfigIssue(display, line, f"not valid YAML: {problem}{context}")


class _Builder:
    """Turns a node tree into dicts, lists and scalars, recording each key's line."""

    def __init__(self, document: YamlDocument) -> None:
        self._document = document
        self._scalars = yaml.SafeLoader("")
        self._nodes = 0

    def build(self, node: yaml.Node, location: Location) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _RejectedError(
                ConfigIssue(
                    self._document.display,
                    node.start_mark.line + 1,
                    f"the document expands to more than {MAX_NODES} values (aliases?)",
                )
            )
        self._document.lines.setdefault(location, node.start_mark.line + 1)
        if node.tag not in _PLAIN_TAGS:
            raise _RejectedError(
                ConfigIssue(
                    self._document.display,
                    node.start_mark.line + 1,
                    f"value cannot be read: the tag {node.tag!r} is not allowed in room files",
                )
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, location)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*location, index)) for index, item in enumerate(node.value)]
        self._check_text(node)
        if node.tag == _TIMESTAMP:
            return node.value
        try:
            return self._scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as error:  # ValueError: an int of 5,000 digits
            problem = getattr(error, "problem", None) or str(error).split(":")[0]
            raise _RejectedError(
                ConfigIssue(
                    self._document.display,
                    node.start_mark.line + 1,
                    f"value {_short(node.value)} cannot be read: {problem}",
                )
            ) from error

    def _check_text(self, node: yaml.Node) -> None:
        """A lone surrogate (`"\\ud800"`) is no character: it could never be written out. A
        control character that a double-quoted escape spells (`"\\0"`, `"\\e"`) is refused
        as the same character written plainly is: a NUL in the data folder's name ended `run`
        with a traceback, an escape sequence in a name reached the terminal of `check`."""
        text = node.value
        if not isinstance(text, str):
            return
        if not clean_text(text):
            raise _RejectedError(
                ConfigIssue(
                    self._document.display,
                    node.start_mark.line + 1,
                    f"text {_short(text)} holds a lone surrogate, which is no character",
                )
            )
        control = _NOT_IN_YAML.search(text)
        if control is not None:
            raise _RejectedError(
                ConfigIssue(
                    self._document.display,
                    node.start_mark.line + 1,
                    f"text {_short(text)} holds the control character "
                    f"U+{ord(control.group()):04X}, which is not allowed in room files",
                )
            )

    def _mapping(self, node: yaml.MappingNode, location: Location) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _RejectedError(
                    ConfigIssue(self._document.display, line, "merge keys (<<) are not supported")
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise _RejectedError(
                    ConfigIssue(self._document.display, line, "a key must be plain text")
                )
            self._check_text(key_node)
            key = str(key_node.value)  # keys are names: `on` is the key 'on', not True
            if key in first_line:
                raise _RejectedError(
                    ConfigIssue(
                        self._document.display,
                        line,
                        f"duplicate key {key!r} (first at line {first_line[key]})",
                    )
                )
            first_line[key] = line
            self._document.lines[(*location, key)] = line
            result[key] = self.build(value_node, (*location, key))
        return result


def _short(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 40 else shown[:37] + "..."
