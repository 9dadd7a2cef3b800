"""Defensive reading of device payloads: size, UTF-8, JSON without NaN, typed and ranged values.

The same helpers read a driver's own command messages back from the journal, where a payload
is text (`command_text`, `required`, `require_keys`, `from_scale`, `tenths`, `same_form`).
Every helper raises PayloadError with a short reason fit for the journal; nothing here echoes
a whole payload back.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from typing import Any

from controller.drivers.conversions import tenths_of_seconds
from controller.untrusted import UntrustedJsonError, read_json

MAX_PAYLOAD_BYTES = 64 * 1024
"""Larger device messages are refused unread."""

_LARGEST_FLOAT = sys.float_info.max
"""An integer beyond it (JSON allows one) is no finite number for a float."""
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")
_DECIMAL = re.compile(r"[0-9]+")


class PayloadError(ValueError):
    """A device message that cannot be trusted; the text says why."""


def decode_text(payload: bytes) -> str:
    """The payload as text, surrounding whitespace removed."""
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError as problem:
        raise PayloadError(f"payload is not UTF-8 text (byte {problem.start})") from None


def command_text(payload: str) -> str:
    """A command payload as journaled: text of at most 64 KiB, all ASCII as drivers write it."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(payload)} characters is larger than 64 KiB")
    if not payload.isascii():
        position = next(index for index, char in enumerate(payload) if not char.isascii())
        raise PayloadError(
            f"payload has a character outside ASCII (at {position}); drivers write commands "
            "in ASCII"
        )
    return payload


def decode_json(payload: bytes | str) -> Any:
    """The payload (bytes or text) as JSON, read by the one safe decoder (`controller.untrusted`):
    at most 64 KiB, nested at most 32 deep, no NaN, Infinity, huge integers or lone surrogates."""
    if isinstance(payload, bytes):
        decode_text(payload)  # the reason names the byte that is not UTF-8
    try:
        return read_json(payload, max_bytes=MAX_PAYLOAD_BYTES)
    except UntrustedJsonError as problem:
        raise PayloadError(str(problem)) from None


def json_object(payload: bytes | str) -> dict[str, Any]:
    """The payload as a JSON object."""
    value = decode_json(payload)
    if not isinstance(value, dict):
        raise PayloadError(f"expected a JSON object, got {_json_type(value)}")
    return value


def parse_availability(payload: bytes) -> str:
    """'online', 'offline' or 'unknown' from any availability form devices use.

    Accepted: `online`/`offline` in any case (Zigbee2MQTT 1.x, WLED, Tasmota's `Online`),
    `true`/`false` (Shelly), JSON `{"state": "online"}` (Zigbee2MQTT 2.x) and JSON strings or
    booleans. An empty payload (a cleared retained message) means we no longer know: 'unknown'.
    """
    written = decode_text(payload)
    if not written:
        return "unknown"
    value: Any = written
    if written[0] in '{"':
        value = decode_json(payload)
        if isinstance(value, dict):
            if "state" not in value:
                raise PayloadError('availability object has no "state"')
            value = text(value["state"], "availability state")
    if isinstance(value, bool):
        return "online" if value else "offline"
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("online", "true"):
            return "online"
        if word in ("offline", "false"):
            return "offline"
        raise PayloadError(f"availability {excerpt(value)} is not online or offline")
    raise PayloadError(f"availability is {_json_type(value)}, not online or offline")


def number(value: Any, name: str, low: float, high: float) -> float:
    """A finite JSON number from low to high (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{name} is {_json_type(value)}, not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise PayloadError(f"{name} is not a finite number")
    if not low <= value <= high:
        raise PayloadError(f"{name} {excerpt(value)} is outside {_bound(low)}–{_bound(high)}")
    if abs(value) > _LARGEST_FLOAT:  # a JSON integer inside an unbounded range
        raise PayloadError(f"{name} is not a finite number")
    return float(value)


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    """A JSON number without a fraction (3 or 3.0) from low to high."""
    result = number(value, name, low, high)
    if not result.is_integer():
        raise PayloadError(f"{name} {excerpt(value)} is not a whole number")
    return int(result)


def boolean(value: Any, name: str) -> bool:
    """A JSON true/false."""
    if not isinstance(value, bool):
        raise PayloadError(f"{name} is {_json_type(value)}, not true or false")
    return value


def text(value: Any, name: str, max_chars: int | None = None) -> str:
    """A JSON string (of at most `max_chars` characters, none of them a control character,
    when `max_chars` is given: a name or an id a device reports, not free text)."""
    if not isinstance(value, str):
        raise PayloadError(f"{name} is {_json_type(value)}, not a string")
    if max_chars is not None:
        if len(value) > max_chars:
            raise PayloadError(f"{name} of {len(value)} characters is longer than {max_chars}")
        if not value.isprintable():
            raise PayloadError(f"{name} {excerpt(value)} holds a control character")
    return value


def on_off(value: Any, name: str) -> bool:
    """`ON`/`OFF` (any case) as True/False."""
    word = text(value, name).strip().upper()
    if word not in ("ON", "OFF"):
        raise PayloadError(f"{name} {excerpt(value)} is not ON or OFF")
    return word == "ON"


def integer(value: Any, name: str, low: int) -> int:
    """A JSON integer (written without a fraction or exponent) of any size, at least low."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{name} {excerpt(value)} is not a whole number")
    if value < low:
        raise PayloadError(f"{name} {excerpt(value)} is below {low}")
    return value


def decimal(value: str, name: str, low: int, high: int) -> int:
    """Plain decimal digits (no sign, space or exponent) from low to high."""
    if not _DECIMAL.fullmatch(value) or len(value) > len(str(high)) or int(value) > high:
        raise PayloadError(f"{name} {excerpt(value)} is not a number {low}–{high}")
    if int(value) < low:
        raise PayloadError(f"{name} {excerpt(value)} is below {low}")
    return int(value)


def from_scale(value: Any, name: str, top: int, low: int = 0) -> float | None:
    """A whole number low–top that a command sends on a device scale, as 0–1; None when absent.

    Light drivers give low=1: they send a level that rounds to 0 as the device's off command.
    """
    if value is None:
        return None
    return whole_number(value, name, low, top) / top


def tenths(value: Any, name: str, cap_s: float) -> float:
    """A fade time in seconds from 0 to cap_s, in tenths of a second as drivers send it."""
    seconds = number(value, name, 0, cap_s)
    if tenths_of_seconds(seconds, cap_s) != seconds:
        raise PayloadError(f"{name} {excerpt(value)} is not in tenths of a second")
    return seconds


def required(message: dict[str, Any], key: str) -> Any:
    """The value of a key a command always carries."""
    if key not in message:
        raise PayloadError(f'"{key}" is missing')
    return message[key]


def require_keys(
    message: dict[str, Any], always: Sequence[str], optional: Sequence[str] = (), name: str = ""
) -> None:
    """Refuse a command object with a key outside `always` and `optional`, or lacking one of
    `always`. `name` says where the keys are ("params", "an OFF command") when that helps."""
    where = f" in {name}" if name else ""
    for key in message:
        if key not in always and key not in optional:
            raise PayloadError(f"key {excerpt(key)}{where} is not one this driver sends")
    for key in always:
        if key not in message:
            raise PayloadError(f'"{key}" is missing{where}')


def same_form(payload: str, expected: str) -> None:
    """Refuse a payload that reads as a command but is not written as the driver writes it.

    Catches what reading value by value does not: key order, spacing, `8` for `8.0`, a key
    given twice.
    """
    if payload != expected:
        raise PayloadError(
            f"payload is not written as the driver writes that command ({excerpt(expected, 60)})"
        )


def rgb_triple(value: Any, name: str) -> list[int]:
    """A JSON array of three whole numbers 0–255."""
    if not isinstance(value, list) or len(value) != 3:
        raise PayloadError(f"{name} is not an array of three numbers")
    return [whole_number(channel, name, 0, 255) for channel in value]


def hex_channels(value: str, name: str) -> list[int]:
    """`RRGGBB`-style hex (optional leading '#') as channel values 0–255."""
    digits = value.strip().removeprefix("#")
    if not digits or len(digits) % 2 or not _HEX_DIGITS.fullmatch(digits):
        raise PayloadError(f"{name} {excerpt(value)} is not a hex colour")
    return [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]


def _bound(limit: float) -> str:
    whole = float(limit).is_integer() and abs(limit) < 1e15
    return str(int(limit)) if whole else f"{limit:g}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def excerpt(value: Any, limit: int = 40) -> str:
    """A short repr of a value for an error message."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
