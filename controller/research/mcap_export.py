"""A session as an MCAP file for Foxglove: timelines to scrub, plot and compare.

Every journal event becomes one JSON message (the export contract's record, see
`controller.journal.export`) on the channel of its kind and device: `/<kind>` or
`/<kind>/<device>` (e.g. `/vitals/oximeter`, `/command/ceiling`), each with a JSON schema,
so vitals (`payload.hr`, `payload.spo2`...) are numeric fields the Plot panel draws.
Derived channels make the room easy to read: `/room/phase` (`{"phase": name}` at every
phase change, for the State Transitions panel), `/room/light/<light>` (`{"level": 0–1}`,
from the lights' own state reports) and `/room/volume/<device>` (`{"volume": n}`, from
the volume commands). A message's log time is its session time (nanoseconds
since the session started), its publish time the wall clock (UTC ns); a `session`
metadata record holds the plan, room, participant, time scale and start. A channel's schema
is named after its path without the device (`sessionroom.vitals`, `sessionroom.room.light`).

A long session is written on two cores (`_write_in_halves`, see `controller.journal.halves`).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from controller import __version__
from controller.journal import Event, SessionMeta
from controller.journal.events import iso_second
from controller.journal.export import (
    CONTRACT_PAYLOAD,
    LABELS,
    SESSION_T,
    WALL_NS,
    Labels,
    batched,
    checked_events,
    consuming,
    contract_payload,
    journal_rows,
    json_labels,
    labels_read,
    rows_where,
    wire_value,
)
from controller.journal.halves import SPLIT_FROM, SecondHalf, second_half_from
from controller.journal.sessions import utc_datetime
from controller.journal.store import JournalError, json_text, reading
from controller.research.mcap_file import (
    CHUNK_SIZE,
    MESSAGE_HEAD,
    MESSAGE_OPCODE,
    PACK_MESSAGE,
    McapFile,
)
from controller.research.pseudonym import pseudonymiser, renamed_events, renamed_meta
from controller.research.sessions import session_meta
from controller.untrusted import finite_number

PROFILE = ""
"""MCAP profile: none (plain JSON messages)."""

RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "seq": {"type": "integer"},
        "t": {"type": "number", "description": "session time, s"},
        "wall": {"type": "string", "description": "UTC, ISO 8601"},
        "phase": {"type": ["string", "null"]},
        "kind": {"type": "string"},
        "device": {"type": ["string", "null"]},
        "topic": {"type": ["string", "null"]},
        "payload": {},
    },
}
VITALS_PAYLOAD = {
    "type": "object",
    "properties": {measure: {"type": "number"} for measure in ("hr", "spo2", "sys", "dia", "ts")},
}
DERIVED_SCHEMAS: dict[str, dict[str, Any]] = {
    "phase": {"type": "object", "properties": {"phase": {"type": "string"}}},
    "light": {"type": "object", "properties": {"level": {"type": "number"}}},
    "volume": {"type": "object", "properties": {"volume": {"type": "number"}}},
}
DERIVED = "room"
"""Derived channels live under `/room/`; event channels are named after kinds, never `room`."""
ROWS = f"""SELECT seq, {SESSION_T}, {WALL_NS}, {LABELS}, {CONTRACT_PAYLOAD}, CASE
    WHEN kind = 'command' AND device IS NOT NULL
        AND (instr(payload, 'volume') OR instr(payload, '\\u')) THEN payload END
    FROM events"""
"""The events as `Row`s (in `QUERY`, or `rows_where`). A device's command that may hold a
volume (an escaped character could spell the key) comes whole too, for `_volume`; a light's
level is read from its report, the row's contract payload (`light_level`)."""
QUERY = f"{ROWS} ORDER BY seq"
CHANNEL_KEYS = """SELECT json_array(kind, device)
    FROM (SELECT DISTINCT kind, device FROM events WHERE seq >= ?)"""
"""What `_plan` makes the channels of the second half of an export of: the kinds of its events
and their devices, in JSON as the labels bring them (SQLite's JSON may write a number with
fewer digits than Python reads). The first half gives a channel only it has the next free id."""
PHASE_BEFORE = """SELECT json_array(phase) FROM events WHERE seq < ? AND phase IS NOT NULL
    ORDER BY seq DESC LIMIT 1"""
"""The phase the session was in when the second half begins, in JSON as the labels bring it."""

ChannelKey = tuple[bool, Any, Any]
"""Whether a channel is derived (under `/room/`), its kind of event or derived name, and its
device (None for none), as the labels read them: an event's kind may be `room/phase` too."""


MAX_ID = 0xFFFF
"""The largest id MCAP gives a channel or a schema (16 bits)."""


class UnplannedChannelError(Exception):
    """A half met a channel its plan has no id for (a journal read as it grew)."""


class TooManyChannelsError(Exception):
    """The session needs more channels than an MCAP file can hold."""


@dataclass(frozen=True)
class Plan:
    """The ids of the channels and schemas a session's events may need."""

    channels: dict[ChannelKey, int] = field(default_factory=dict)
    schemas: dict[bytes, int] = field(default_factory=dict)
    """By the schema's JSON (its name included)."""


class _Ids:
    """Ids from a plan, or else the next free ones (`strict`: none but the plan's)."""

    def __init__(self, planned: dict[Any, int], *, strict: bool) -> None:
        self._planned = planned
        self._strict = strict
        self._free = max(planned.values(), default=0) + 1

    def __call__(self, key: object) -> int:
        known = self._planned.get(key)
        if known is not None:
            return known
        if self._strict:
            raise UnplannedChannelError(f"no id planned for {key!r}")
        if self._free > MAX_ID:
            raise TooManyChannelsError(
                f"an MCAP file holds at most {MAX_ID:,} channels, one per kind of event and"
                " device, and the session needs more"
            )
        self._free += 1
        return self._free - 1


class _Channels:
    """The MCAP channels of one file, registered as their first message comes, with the ids of
    `plan` (both halves of an export give a channel the same one) or the next free ones.
    With `strict`, a channel not in the plan raises UnplannedChannelError (the halves' ids
    would not agree)."""

    def __init__(self, writer: McapFile, plan: Plan | None = None, *, strict: bool = False) -> None:
        plan = plan or Plan()
        self.writer = writer
        self._channel_id = _Ids(plan.channels, strict=strict)
        self._schema_id = _Ids(plan.schemas, strict=strict)
        self._schemas: dict[bytes, int] = {}
        self._channels: dict[ChannelKey, int] = {}

    def event(self, kind: str, device: str | None) -> int:
        """The channel of events of `kind` (about `device`): `/<kind>[/<device>]`."""
        return self._channel((False, kind, device))

    def derived(self, name: str, device: str | None) -> int:
        """A derived channel: `/room/<name>[/<device>]`."""
        return self._channel((True, name, device))

    def _channel(self, key: ChannelKey) -> int:
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channel_id(key)
            topic, schema_name, schema = _described(key)
            self.writer.channel(channel, topic, "json", self._schema(schema_name, schema))
            self._channels[key] = channel
        return channel

    def _schema(self, name: str, data: bytes) -> int:
        known = self._schemas.get(data)
        if known is None:
            known = self._schemas[data] = self._schema_id(data)
            self.writer.schema(known, name, "jsonschema", data)
        return known


def _described(key: ChannelKey) -> tuple[str, str, bytes]:
    """A channel's topic, and the name and JSON schema of its messages: `sessionroom.` and
    the channel's path without its device (`sessionroom.state`, `sessionroom.room.light`).
    Two schemas may share a name (events of kind `room.light`), never an id."""
    derived, name, device = key
    path = f"{DERIVED}/{name}" if derived else f"{name}"  # a damaged kind may be a number
    topic = f"/{path}" if device is None else f"/{path}/{device}"
    schema_name = "sessionroom." + path.replace("/", ".")
    schema = DERIVED_SCHEMAS[name] if derived else _event_schema(name)
    return topic, schema_name, json.dumps({"title": schema_name, **schema}).encode()


def _plan(keys: Iterable[tuple[str]]) -> Plan:
    """An id for every channel and schema the events of these kinds and devices (rows of
    `CHANNEL_KEYS`) may need."""
    plan = Plan()

    def add(key: ChannelKey) -> None:
        if key not in plan.channels:  # 1 and 1.0 are one key, as in `_Channels`
            plan.channels[key] = len(plan.channels) + 1
            plan.schemas.setdefault(_described(key)[2], len(plan.schemas) + 1)

    add((True, "phase", None))
    for (labels,) in keys:
        kind, device = json.loads(labels)
        add((False, kind, device))
        if device is not None and kind in ("state", "command"):
            add((True, "light" if kind == "state" else "volume", device))
    return plan


def _event_schema(kind: str) -> dict[str, Any]:
    if kind != "vitals":
        return RECORD_SCHEMA
    properties = {**RECORD_SCHEMA["properties"], "payload": VITALS_PAYLOAD}
    return {**RECORD_SCHEMA, "properties": properties}


def export_mcap(
    path: Path,
    out: BinaryIO,
    *,
    key: bytes | None = None,
    progress: Callable[[int], None] | None = None,
    split_from: int = SPLIT_FROM,
) -> int:
    """Write the session in the journal at `path` as MCAP to `out`; return the event count.

    With a `key`, participant codes become keyed pseudonyms (in the metadata and payloads).
    A long session is written on two cores (`controller.journal.halves`), from `split_from`
    events. Raises JournalError if the file is not a readable journal.
    """
    rename = pseudonymiser(key)
    meta = renamed_meta(session_meta(path), rename)
    try:
        with labels_read(path):
            if key is not None:
                events = renamed_events(checked_events(path), rename)
                return write_mcap(event_rows(events), meta, out, progress=progress)
            split = second_half_from(path, split_from=split_from)
            plan = None if split is None else _planned(path, split)
            if split is None or plan is None:
                return write_mcap(journal_rows(path, QUERY), meta, out, progress=progress)
            return _write_in_halves(path, split, plan, meta, out, progress)
    except TooManyChannelsError as error:
        raise JournalError(f"{path}: cannot be written as MCAP: {error}") from None


def _planned(path: Path, split: int) -> Plan | None:
    """The ids both halves of the export of `path` give the channels of the second half (from
    seq `split`); None if they cannot agree on them (too many channels, or a value SQLite
    cannot read: one process writes the export, and finds that event)."""
    with reading(path) as (connection, _):
        try:
            plan = _plan(connection.execute(CHANNEL_KEYS, (split,)))
        except (sqlite3.Error, ValueError):  # ValueError: JSON Python cannot read (`Inf`)
            return None
    return plan if len(plan.channels) <= MAX_ID else None


def _phase_before(path: Path, split: int) -> Any:
    """The session's phase where the second half begins (None before any), as read now: the
    first half is read after the fork too, and sees any change made before it."""
    with reading(path) as (connection, _):
        row = connection.execute(PHASE_BEFORE, (split,)).fetchone()
    return None if row is None else json.loads(row[0])[0]


def _write_in_halves(
    path: Path,
    split: int,
    plan: Plan,
    meta: SessionMeta,
    out: BinaryIO,
    progress: Callable[[int], None] | None,
) -> int:
    """`export_mcap` on two cores: the events from seq `split` on in a forked process."""
    second_rows = rows_where(f"seq >= {split:d}", ROWS)

    def second_half(half: BinaryIO) -> dict[str, Any]:
        writer = McapFile(half)
        messages = _Messages(_Channels(writer, plan, strict=True), _phase_before(path, split))
        count = messages.write(journal_rows(path, second_rows))
        return {**writer.finish_part(), "events": count}

    writer = _started(out, meta)
    messages = _Messages(_Channels(writer, plan))
    with SecondHalf(second_half) as child:  # the first half here meanwhile
        count = messages.write(journal_rows(path, rows_where(f"seq < {split:d}", ROWS)), progress)
        written = child.written()
        if written is None:
            count = messages.write(journal_rows(path, second_rows), progress, count)
        else:
            account, spool = written
            writer.append_part(spool, account)
            count += account["events"]
    writer.finish()
    if progress is not None:
        progress(count)
    return count


Row = tuple[int, float, int, str, str, str | None]
"""seq, t, wall_ns, labels (`LABELS`), the payload as the timeline export selects it, and
a device's command as stored if it may hold a volume (else None)."""


def event_rows(events: Iterable[Event]) -> Iterator[list[Row]]:
    """`QUERY`'s rows made from events (pseudonymised ones), in batches."""
    return batched(
        (
            event.seq,
            float(event.t),
            event.wall_ns,
            json.dumps([event.phase, event.kind, event.device, event.topic]),
            json_text(contract_payload(event)),
            json_text(event.payload)
            if event.kind == "command" and event.device is not None
            else None,
        )
        for event in events
    )


def write_mcap(
    rows: Iterable[list[Row]],
    meta: SessionMeta,
    out: BinaryIO,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the session's rows (batches of `QUERY`'s, or `event_rows`) as MCAP to `out`.

    `meta` is the session's (participant already pseudonymised if it is to be). Returns
    the number of events; raises JournalError if the journal cannot be read.
    """
    writer = _started(out, meta)
    count = _Messages(_Channels(writer)).write(rows, progress)
    writer.finish()
    return count


def _started(out: BinaryIO, meta: SessionMeta) -> McapFile:
    """An MCAP file on `out` with its header and the session's metadata written."""
    writer = McapFile(out)
    writer.start(profile=PROFILE, library=f"sessionroom {__version__}")
    writer.metadata(
        "session",
        {
            "session": meta.session_id,
            "room": meta.room,
            "plan": meta.plan,
            "participant": meta.participant,
            "time_scale": f"{meta.time_scale:g}",
            "started": utc_datetime(meta.started_wall_ns).isoformat(),
            "log_time": "session time in ns since the session started",
        },
    )
    return writer


class _Messages:
    """Events made into messages on their channels, with the derived ones: the phase (from
    `phase`, the session's phase before the first event), light levels and volumes."""

    def __init__(self, channels: _Channels, phase: str | None = None) -> None:
        self._channels = channels
        self._phase = phase

        def event(
            phase: str | None, kind: str, device: str | None, topic: str | None
        ) -> tuple[str, int, str | None, str, str | None]:
            part = json_labels(phase, kind, device, topic)
            return part, channels.event(kind, device), phase, kind, device

        self._labels = Labels(event)
        self._lights: dict[str, int] = {}

    def write(
        self,
        rows: Iterable[list[Row]],
        progress: Callable[[int], None] | None = None,
        count: int = 0,
    ) -> int:
        """Add the rows' messages; return `count` (those written before) plus the rows'."""
        channels, labels, lights = self._channels, self._labels, self._lights
        writer = channels.writer
        add, chunk, index, end_chunk = writer.message, writer.chunk, writer.index, writer.end_chunk
        phase = self._phase
        second, wall_second = -1, ""
        with consuming(rows):
            for batch in rows:
                for seq, t, wall_ns, names, content, volume in batch:
                    part, channel, now_in, kind, device = labels[names]
                    whole, ns = divmod(wall_ns, 1_000_000_000)
                    if whole != second:
                        second, wall_second = whole, iso_second(whole)
                    micros = "%06d" % (ns // 1000)  # noqa: UP031 (quicker than `:06d`)
                    data = (  # the wall time as `iso_wall` writes it
                        f'{{"seq": {seq}, "t": {t!r}, "wall": "{wall_second}.{micros}Z"'
                        f"{part}{content}}}"
                    ).encode()
                    try:
                        log_time = round(t * 1e9)
                    except OverflowError:  # infinite in ns: a damaged time over 1.8e299 s
                        log_time = 0 if t < 0 else U64
                    # held to MCAP's field sizes (a damaged journal may hold any number)
                    if not 0 <= log_time <= U64 or wall_ns > U64:
                        log_time, wall_ns = _u64(log_time), _u64(wall_ns)
                    seq &= 0xFFFFFFFF
                    # `add` in line: a call costs more than the work
                    index[channel].extend((log_time, len(chunk)))
                    head = PACK_MESSAGE(
                        MESSAGE_OPCODE, MESSAGE_HEAD + len(data), channel, seq, log_time, wall_ns
                    )
                    chunk += head + data
                    if len(chunk) >= CHUNK_SIZE:  # as it fills: a payload may be megabytes
                        end_chunk()
                    if now_in != phase and now_in is not None:
                        phase = self._phase = now_in
                        data = json.dumps({"phase": phase}).encode()
                        add(channels.derived("phase", None), log_time, data, wall_ns, seq)
                    if device is None:
                        continue
                    if kind == "state":
                        level = light_level(content)
                        if level is None:
                            continue
                        light = lights.get(device)
                        if light is None:
                            light = lights[device] = channels.derived("light", device)
                        data = f'{{"level": {level}}}'.encode()
                        index[light].extend((log_time, len(chunk)))
                        head = PACK_MESSAGE(
                            MESSAGE_OPCODE, MESSAGE_HEAD + len(data), light, seq, log_time, wall_ns
                        )
                        chunk += head + data
                    elif volume is not None:
                        _volume(add, channels, device, volume, log_time, wall_ns, seq)
                count += len(batch)
                if progress is not None:
                    progress(count)
        return count


CANONICAL_REPORT = re.compile(
    r'\{"on": (true|false), "level": (-?(?:0|[1-9][0-9]{0,2})'
    r"(?:\.[0-9]+(?:[eE][-+]?[0-9]{1,2})?|[eE][-+]?[0-9]{1,2}))\}"
).fullmatch
"""A light's report as the journal writes it (`{"on": true, "level": 0.65}`), its level a
JSON number with a fraction or an exponent (a float to Python's `json`, as to `float`), of
at most three digits before the point and two in the exponent (finite to any reader)."""


def light_level(report: str) -> str | None:
    """The level a light's state report (JSON text) gives, as JSON text: its `level` if that
    is a finite number, 0 if the light is off (`on` false as Python reads it; a missing `on`
    is true); None if it gives no level (or is no JSON Python can read). `level_read` reads
    any report; the journal's own text is read here without `json`."""
    canonical = CANONICAL_REPORT(report)
    if canonical is None:
        return level_read(report)
    return canonical[2] if canonical[1] == "true" else "0.0"  # as written: no `repr`


def level_read(report: str) -> str | None:
    """`light_level` by `json`."""
    try:
        payload = json.loads(report)
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    level = finite_number(payload.get("level"))
    if level is None:
        return None
    return repr(level) if payload.get("on", True) else "0.0"


def _volume(
    add: Callable[..., None],
    channels: _Channels,
    device: str,
    stored: str,
    log_time: int,
    wall_ns: int,
    seq: int,
) -> None:
    """The volume a command sets (if it does), on its device's volume channel."""
    try:
        payload = json.loads(stored)
    except (ValueError, RecursionError):  # JSON to SQLite, too deep or not JSON to Python
        return
    if not isinstance(payload, dict):
        return
    wire = payload.get("payload")
    if list(payload) == ["payload"] and isinstance(wire, str):
        payload = wire_value(wire)
    volume = finite_number(payload.get("volume")) if isinstance(payload, dict) else None
    if volume is not None:
        data = f'{{"volume": {volume!r}}}'.encode()
        add(channels.derived("volume", device), log_time, data, wall_ns, seq)


U64 = 2**64 - 1


def _u64(value: int) -> int:
    """`value` held to MCAP's unsigned 64-bit times."""
    return min(max(value, 0), U64)
