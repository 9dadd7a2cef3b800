"""Reading JSON that arrived from outside (the broker, a file a person edited): one safe decoder.

Every input boundary (the command topic, every device topic, the topics a console reads)
reads its JSON through `read_json`, which takes arbitrary bytes and either returns a plain
JSON value or raises `UntrustedJsonError` with a short reason fit for a reply or the journal:

* the size is checked before anything is decoded;
* the text must be UTF-8;
* nesting deeper than `MAX_DEPTH` is refused (Python's parser would otherwise recurse
  until it raises RecursionError, or hand back a value too deep to serialise again);
* integers longer than `MAX_INT_DIGITS` digits, floats that overflow to infinity and the
  constants `NaN`, `Infinity`, `-Infinity` are refused (no caller wants them, and a
  5,000-digit integer costs quadratic time to convert);
* strings (keys included) holding a lone UTF-16 surrogate (`"\\ud800"`) are refused: such
  a string cannot be encoded as UTF-8 again, so it would break the retained state or the
  journal wherever it went (docs/robustness.md).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

MAX_DEPTH = 32
"""The deepest nesting of arrays and objects any message of ours or a device's needs."""
MAX_INT_DIGITS = 20
"""Integers of more digits than this (beyond ±10^20) are refused."""

MAX_NAME_CHARS = 64
"""A name or id given in a message (scene, device, source, command id)."""
MAX_CONTENT_CHARS = 256
"""VR content as a command, a scene or a headset names it (an id or a path, not a document)."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_FOR_TERMINALS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters (C0, DEL, C1: escape sequences start with one) and lone surrogates."""


class UntrustedJsonError(ValueError):
    """A payload `read_json` refuses; the text says why, without echoing the payload."""


def read_json(payload: bytes | str, *, max_bytes: int) -> Any:
    """The JSON value in `payload`, or UntrustedJsonError (see the module docstring)."""
    if len(payload) > max_bytes:
        unit = "bytes" if isinstance(payload, bytes) else "characters"
        raise UntrustedJsonError(
            f"payload of {len(payload)} {unit} is larger than {_size(max_bytes)}"
        )
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as problem:
            raise UntrustedJsonError(f"payload is not UTF-8 text (byte {problem.start})") from None
    else:
        text = payload
    try:
        value = _UNTRUSTED.decode(text)
    except RecursionError:
        raise UntrustedJsonError(f"JSON is nested more than {MAX_DEPTH} deep") from None
    except UntrustedJsonError:
        raise
    except ValueError as problem:  # JSONDecodeError and anything else the parser refuses
        first_line = str(problem).splitlines()[0][:80] if str(problem) else type(problem).__name__
        raise UntrustedJsonError(f"payload is not valid JSON ({first_line})") from None
    if _may_hold_refused(text):
        _check_tree(value)
    return value


def stored_json(text: str) -> Any:
    """The JSON value of text we wrote but that may have been edited since (a journal's
    payload); ValueError for what is not JSON, the constants `NaN`, `Infinity`, `-Infinity`
    and numbers that overflow to infinity included (no size or depth limit)."""
    return _STORED.decode(text)


LARGEST_NUMBER = 1e300
"""The largest magnitude `finite_number` reads: the sums, means and conversions (to
nanoseconds) done on readings, lengths and session times overflow to infinity beyond it."""


def finite_number(value: object) -> float | None:
    """`value` as a float if it is a number (not a boolean) below `LARGEST_NUMBER` in
    magnitude, else None: a 4,000-digit integer, an infinity or 1.7e308 is no reading."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if abs(number) < LARGEST_NUMBER else None  # False for nan


def clean_text(value: str) -> bool:
    """Whether a string can be written out again as UTF-8 (it holds no lone surrogate)."""
    return _SURROGATE.search(value) is None


def valid_text(text: str) -> str:
    """`text` with each lone surrogate as U+FFFD (the replacement character): text that can
    be written out as UTF-8, as recorded text is where it must be (JSON, a BIDS table)."""
    return _SURROGATE.sub("\ufffd", text)


def terminal_text(text: str) -> str:
    """`text` as a terminal may show it: control characters (line breaks included) and lone
    surrogates written out as escapes (`\\x1b`, `\\n`, `\\ud800`), so that recorded text
    can neither send a terminal an escape sequence nor fake a line; the rest unchanged."""
    return _NOT_FOR_TERMINALS.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable_name(value: object, max_chars: int) -> bool:
    """Whether `value` is a name: 1 to `max_chars` printable characters (no control character,
    no line break, no lone surrogate)."""
    return isinstance(value, str) and 0 < len(value) <= max_chars and value.isprintable()


def _refuse_constant(name: str) -> NoReturn:
    raise UntrustedJsonError(f"JSON constant {name} is not a number")


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise UntrustedJsonError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _finite(written: str) -> float:
    value = float(written)
    if not math.isfinite(value):
        raise UntrustedJsonError("a number too large to be finite")
    return value


_STORED = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)
"""`stored_json`'s decoder, made once: `json.loads` given hooks makes one on every call, which
costs more than reading a payload."""
_UNTRUSTED = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_int=_integer, parse_float=_finite
)
"""`read_json`'s decoder, made once for the same reason."""


def _may_hold_refused(text: str) -> bool:
    """Whether the value parsed from `text` may be one `_check_tree` refuses. A lone surrogate
    comes from a raw one in `text` or a `\\u` escape; nesting deeper than MAX_DEPTH needs more
    than MAX_DEPTH brackets. A command or a device's report has none of these: its tree is
    not walked (a walk costs as much as the parse)."""
    return (
        "\\u" in text
        or text.count("[") + text.count("{") > MAX_DEPTH
        or _SURROGATE.search(text) is not None
    )


def _check_tree(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and strings with a lone surrogate (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not clean_text(item):
                raise UntrustedJsonError("a string holds a lone UTF-16 surrogate (not text)")
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise UntrustedJsonError(f"JSON is nested more than {MAX_DEPTH} deep")
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit % 1024 == 0 else f"{limit} bytes"
