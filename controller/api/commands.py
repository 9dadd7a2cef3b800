"""The control API's commands: JSON on `sessionroom/<room>/cmd`, parsed into typed models.

Every command carries an `id`; the engine answers on `sessionroom/<room>/reply/<id>` with
`{"id", "ok", "error"?}`. A payload that is not JSON, has no known `action`, or has a wrong
parameter is refused with a reason in plain words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from controller.config.messages import error_message
from controller.untrusted import (
    MAX_CONTENT_CHARS,
    MAX_NAME_CHARS,
    UntrustedJsonError,
    printable_name,
    read_json,
)

PARTICIPANT_CODE = re.compile(r"(?=.*\d)[A-Za-z0-9-]{2,24}")
"""A pseudonymous code such as `P014` or `S-22`: letters, digits and dashes, with a digit.
Matched whole (`fullmatch`): `P014\n` is no code."""

MAX_COMMAND_BYTES = 16 * 1024
"""A larger payload on the command topic is refused unread."""
MAX_NOTE_CHARS = 4000
COMMAND_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
"""Also matched whole by Python (`fullmatch`), where `$` alone would let a final newline by."""
NO_ID = "invalid"
"""The id of the reply to a command without a usable one of its own (`reply/invalid`)."""


def participant_code(text: str) -> bool:
    """Whether `text` is a pseudonymous participant code, whole."""
    return PARTICIPANT_CODE.fullmatch(text) is not None


Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]


def _a_number(value: Any) -> Any:
    """A JSON number only: `true` is no level of 1, nor `"0.5"` one of 0.5."""
    if isinstance(value, bool | str):
        raise ValueError("should be a number")
    return value


Number = Annotated[float, BeforeValidator(_a_number)]
WholeNumber = Annotated[int, BeforeValidator(_a_number)]


def _content_name(content: str) -> str:
    if not printable_name(content, MAX_CONTENT_CHARS):
        raise ValueError("content must be a name of printable characters (no line break)")
    return content


Content = Annotated[
    str, Field(min_length=1, max_length=MAX_CONTENT_CHARS), AfterValidator(_content_name)
]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=COMMAND_ID)
    source: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    """Who sent it (e.g. `console`, `ctl`, `cue`), for the journal."""


REASON_MAX_CHARS = 1000


def _has_words(text: str) -> str:
    if not text.strip():
        raise ValueError("should have words, not only blanks")
    return text


Reason = Annotated[
    str, Field(min_length=1, max_length=REASON_MAX_CHARS), AfterValidator(_has_words)
]
"""Why the therapist went on against a check; journaled like a note, never echoed. Blanks
alone are no reason: they would pass a check that asks for one (docs/safety.md#vitals-checks)."""


class Start(_Command):
    action: Literal["start"]
    plan: Name
    participant: str
    baseline_confirmed: StrictBool = False
    """The therapist looked at the baseline readings and confirms them."""
    reason: Reason | None = None
    """Why the session starts with a reading outside the thresholds, too old, or missing."""

    @model_validator(mode="after")
    def _pseudonymous(self) -> Start:
        if not participant_code(self.participant):
            raise ValueError(
                "participant must be a pseudonymous code such as P014 "
                "(letters, digits, dashes, with at least one digit; never a name)"
            )
        return self


class Step(_Command):
    action: Literal["next", "back", "hold", "release", "emergency", "clear_emergency"]


class End(_Command):
    action: Literal["end"]
    reason: Reason | None = None
    """Why the session ends without a recovery check."""


class Recovery(_Command):
    action: Literal["recovery"]
    items: dict[Annotated[str, Field(max_length=60)], StrictBool | Reason] = Field(
        min_length=1, max_length=12
    )
    """Each item of the room's recovery checklist: true when confirmed, else why not."""


class Goto(_Command):
    action: Literal["goto"]
    phase: Literal["centering", "peak", "return", "integration"]


class Extend(_Command):
    action: Literal["extend"]
    seconds: Number = Field(gt=0, le=3600)


class Note(_Command):
    action: Literal["note"]
    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class SceneOverride(_Command):
    action: Literal["scene"]
    name: Name


class _LevelOrDelta(_Command):
    level: Number | None = Field(default=None, ge=0, le=1)
    delta: Number | None = Field(default=None, ge=-1, le=1)

    @model_validator(mode="after")
    def _one_of(self) -> _LevelOrDelta:
        if (self.level is None) == (self.delta is None):
            raise ValueError("give either level (0–1) or delta (−1–1)")
        return self


class Lights(_LevelOrDelta):
    action: Literal["lights"]
    device: Name | None = None


class Volume(_LevelOrDelta):
    action: Literal["volume"]


class Music(_Command):
    action: Literal["music"]
    op: Literal["pause", "resume", "skip", "previous", "fade_out"]
    seconds: Number | None = Field(default=None, ge=0, le=600)


class Bls(_Command):
    action: Literal["bls"]
    op: Literal["start", "stop"]
    device: Name | None = None
    """One BLS device, or every BLS device of the room when omitted."""
    speed_hz: Number | None = Field(default=None, gt=0, le=10)
    tone_hz: Number | None = Field(default=None, gt=0, le=20000)
    mode: Literal["tactile", "visual", "audio"] | None = None
    intensity: Number | None = Field(default=None, ge=0, le=1)
    passes: WholeNumber | None = Field(default=None, ge=1, le=10_000)
    seconds: Number | None = Field(default=None, gt=0, le=3600)
    confirm: StrictBool = False
    """Explicit confirmation for a set beyond the room's soft limit."""


class Vr(_Command):
    action: Literal["vr"]
    op: Literal["play", "pause", "resume", "stop"]
    content: Content | None = None
    volume: Number | None = Field(default=None, ge=0, le=1)


Command = Annotated[
    Start
    | Step
    | End
    | Recovery
    | Goto
    | Extend
    | Note
    | SceneOverride
    | Lights
    | Volume
    | Music
    | Bls
    | Vr,
    Field(discriminator="action"),
]
ACTIONS = [
    "start",
    "next",
    "back",
    "goto",
    "hold",
    "release",
    "extend",
    "end",
    "emergency",
    "clear_emergency",
    "note",
    "recovery",
    "scene",
    "lights",
    "volume",
    "music",
    "bls",
    "vr",
]

_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)


class BadCommand(Exception):  # noqa: N818 - a refusal of input, reported to the sender
    """A command that cannot be parsed; `command_id` is set when the payload had a usable id."""

    def __init__(self, reason: str, command_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.command_id = command_id


def parse_command(payload: bytes) -> Command:
    """Parse a `cmd` payload or raise BadCommand with the reason."""
    try:
        data: Any = read_json(payload, max_bytes=MAX_COMMAND_BYTES)
    except UntrustedJsonError as problem:
        raise BadCommand(f"malformed command: {problem}", _id_written_in(payload)) from None
    if not isinstance(data, dict):
        raise BadCommand("malformed command: not a JSON object")
    raw_id = data.get("id")
    command_id = raw_id if isinstance(raw_id, str) and re.fullmatch(COMMAND_ID, raw_id) else None
    if data.get("action") not in ACTIONS:
        raise BadCommand(
            f"unknown action {data.get('action')!r} (actions: {', '.join(ACTIONS)})", command_id
        )
    if data["action"] == "emergency":
        return _emergency(data, command_id)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as error:
        raise BadCommand(_reason(error), command_id) from None


def _emergency(data: dict[str, Any], command_id: str | None) -> Step:
    """An emergency as its sender meant it, however it is written: never refused for a
    missing or unusable id (its reply goes to `reply/invalid`), a key this engine does not
    know (a newer sender's) or an unusable source; those are left out."""
    try:
        return Step(id=command_id or NO_ID, action="emergency", source=data.get("source"))
    except ValidationError:
        return Step(id=command_id or NO_ID, action="emergency")


def cue_command(do: Mapping[str, Any], command_id: str) -> Command:
    """A plan cue's `do` as the engine carries it out: a command from the `cue` source, read
    through the same JSON as one from the bus; BadCommand when it cannot be (so `check`
    refuses what the engine would, and a cue never stops the engine mid-session)."""
    try:
        payload = json.dumps({**do, "id": command_id, "source": "cue"})
    except (TypeError, ValueError) as problem:  # a value JSON has no word for
        raise BadCommand(f"malformed command: {problem}", command_id) from None
    return parse_command(payload.encode())


_WRITTEN_ID = re.compile(rb'"id"\s*:\s*"([A-Za-z0-9_.:-]{1,64})"')


def _id_written_in(payload: bytes) -> str | None:
    """The id a payload that is no usable JSON seems to carry, so its sender gets the refusal
    on its own reply topic; None when there is none to be seen (a best effort)."""
    found = _WRITTEN_ID.search(payload)
    return None if found is None else found.group(1).decode("ascii")


def is_emergency(payload: bytes) -> bool:
    """Whether a `cmd` payload is a valid `emergency` command (judged as it arrives, so it
    goes ahead of every command queued before it; docs/robustness.md#queueing)."""
    if b"emergency" not in payload and b"\\u" not in payload:  # "\u0065mergency" is one too
        return False
    try:
        return parse_command(payload).action == "emergency"
    except BadCommand:
        return False


class _TextOfLength:
    """Stands for a note's words (or a name typed as a participant code) in a refusal: they
    are never echoed in a reply (docs/safety.md#privacy)."""

    def __init__(self, text: str) -> None:
        self.length = len(text)

    def __str__(self) -> str:
        return f"(a text of {self.length} characters)"


def _reason(error: ValidationError) -> str:
    parts = []
    for detail in error.errors(include_url=False):
        tagged = detail["loc"][:1] != () and detail["loc"][0] in ACTIONS
        location = tuple(detail["loc"][1:] if tagged else detail["loc"])  # vr's `volume` stays
        answers = location[:1] == ("items",)
        if answers:  # a recovery answer's item and words are not echoed either
            location = ("items",)
        private = location[-1:] in (("text",), ("participant",), ("reason",))
        if (private or answers) and isinstance(detail["input"], str):
            detail["input"] = _TextOfLength(detail["input"])
        parts.append(error_message(detail, location, _Command, fractions=True))
    return "; ".join(parts)
