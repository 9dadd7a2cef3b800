"""Turn pydantic validation errors into plain-words ConfigIssues with file and line."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from controller.config.issues import ConfigIssue
from controller.config.settings import HEX_COLOUR, IDENTIFIER
from controller.config.yamlsource import Location, YamlDocument

_PERCENT_FIELDS = {"level", "volume", "intensity", "brightness", "volume_cap", "spo2_low"}


def describe_location(location: Location) -> str:
    """`('phases', 2, 'scene')` → `phases[2].scene`."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _unit(location: Location) -> str:
    name = str(location[-1]) if location else ""
    if name in _PERCENT_FIELDS or (name.endswith("_max") and "intensity" in name):
        return " %"
    if name.endswith("_hz"):
        return " Hz"
    if name.endswith("_per_s"):
        return " % per s" if name.startswith("volume") else " per s"
    if name.endswith("_s") or name == "duration" or "measure_every" in location[-2:-1]:
        return " s"
    if name == "kelvin":
        return " K"
    return ""


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


_BOUND_KINDS = ("less_than_equal", "less_than", "greater_than_equal", "greater_than")


def _is_nan(value: Any) -> bool:
    """`.nan`, or `'nan'` as text: no comparison holds for it, so no bound names its fault."""
    return str(value).strip().lower() == "nan"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fields_at(model: type[BaseModel], location: Location) -> set[str]:
    """The keys the model allows at `location` (for 'did you mean' suggestions)."""
    current: Any = model
    for part in location:
        current = _step_into(current, part)
        if current is None:
            return set()
    models = [current] if isinstance(current, type) else []
    return {name for m in models if issubclass(m, BaseModel) for name in m.model_fields}


def _step_into(annotation: Any, part: str | int) -> Any:
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return None if field is None else _plain(field.annotation)
    if origin in (list, tuple) and isinstance(part, int):
        return _plain(typing.get_args(annotation)[0])
    if origin is dict:
        return _plain(typing.get_args(annotation)[1])
    return None


def _plain(annotation: Any) -> Any:
    """Strip Optional/Annotated so that the model class itself remains."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _plain(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _plain(arg)
    return annotation


def error_message(
    error: ErrorDetails, location: Location, model: type[BaseModel], *, fractions: bool = False
) -> str:
    """One pydantic error in plain words, naming the key it is about. `fractions`: levels,
    volumes and intensities are 0–1 (the control API's), not percent (the room files')."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    where = describe_location(location)
    value = error.get("input")
    unit = _unit(location)
    if fractions and unit == " %":
        unit = ""
    limit_word = "hard limit" if location[:1] == ("safety",) else "maximum"
    if kind == "extra_forbidden":
        key = str(location[-1]) if location else "?"
        parent = describe_location(location[:-1])
        known = _fields_at(model, location[:-1])
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown key {key!r}{' in ' + parent if parent else ''}{hint}"
    if kind == "missing":
        return f"{where} is missing"
    if kind in _BOUND_KINDS and _is_nan(value):
        return f"{where} {_shown(value)} is not a number"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return f"{where} {_shown(value)} is above the {limit_word} {_number(bound)}{unit}"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        word = "at least" if kind == "greater_than_equal" else "above"
        return f"{where} {_shown(value)} is too low: it must be {word} {_number(bound)}{unit}"
    if kind == "string_too_long":
        size = f"of {len(value)} characters" if isinstance(value, str) else _shown(value)
        return f"{where} {size} is longer than {ctx.get('max_length')}"
    if kind == "string_too_short":
        return f"{where} is empty" if value == "" else f"{where} {_shown(value)} is too short"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if pattern == IDENTIFIER:
            return f"{where} {_shown(value)} is not a valid id (lower-case letters, digits, . _ -)"
        if pattern == HEX_COLOUR:
            return f"{where} {_shown(value)} is not a colour like #ff8800"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message.replace("Input should be", "should be")
    if kind == "value_error" or kind.startswith("assertion"):
        return f"{where}: {message}" if where else message
    return f"{where} {_shown(value)} {message}" if where else message


def validate_document(
    model: type[BaseModel],
    document: YamlDocument,
    *,
    location_in_file: typing.Callable[[Location], Location] = lambda location: location,
) -> tuple[Any, list[ConfigIssue]]:
    """Validate `document.data` against `model`; return the instance or every issue found."""
    try:
        return model.model_validate(document.data), []
    except ValidationError as error:
        issues = []
        for detail in error.errors(include_url=False):
            location = location_in_file(tuple(detail["loc"]))
            message = error_message(detail, location, model)
            issues.append(document.issue(location, message))
        return None, issues
