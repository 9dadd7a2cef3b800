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
metadata record holds the plan, room, participant, time scale and start.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from controller import __version__
from controller.journal import Event, SessionMeta
from controller.journal.export import (
    CONTRACT_PAYLOAD,
    EVENT,
    Labels,
    batched,
    checked_events,
    event_row,
    journal_rows,
    json_labels,
    wire_value,
)
from controller.journal.sessions import utc_datetime
from controller.journal.store import json_text
from controller.research.mcap_file import McapFile
from controller.research.pseudonym import pseudonymiser, renamed_events, renamed_meta
from controller.research.sessions import session_meta

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
ON = "json_extract(payload, '$.on')"
FINITE_LEVEL = "abs(json_extract(payload, '$.level')) <= 1.7976931348623157e308"
ESCAPED = "instr(payload, '\\u')"
"""Whether a payload holds an escaped character, which could spell a key."""
OFF = f"""CASE json_type(payload, '$.on') WHEN 'true' THEN 0
    WHEN 'null' THEN 1 WHEN 'false' THEN 1
    WHEN 'integer' THEN {ON} = 0 WHEN 'real' THEN {ON} = 0
    WHEN 'text' THEN {ON} = '' WHEN 'array' THEN json_array_length(payload, '$.on') = 0
    WHEN 'object' THEN {ON} = '{{}}' ELSE 0 END"""
"""Whether the report's `on` is false as Python reads it (a missing `on` is true)."""
WHOLE = "*"
"""Marks a payload that comes whole in the level column (a level's JSON text never starts so)."""
QUERY = f"""SELECT {EVENT}, {CONTRACT_PAYLOAD}, wall_ns, CASE
    WHEN device IS NULL THEN NULL
    WHEN kind = 'state' THEN CASE
        WHEN {ESCAPED} THEN '{WHOLE}' || payload
        WHEN json_type(payload, '$.level') IN ('integer', 'real') THEN CASE
            WHEN NOT ({OFF}) THEN payload -> '$.level' WHEN {FINITE_LEVEL} THEN '0' END END
    WHEN kind = 'command' AND (instr(payload, 'volume') OR {ESCAPED}) THEN '{WHOLE}' || payload
    END
    FROM events ORDER BY seq"""
"""The events as `Row`s. SQLite reads the level of a light's report with no escaped
character: its JSON text, for Python to read and check it is finite, or 0 if the light is
off (and the level finite). A payload that may hold a volume, or a level SQLite could
misread, comes whole for `_levels`, after `WHOLE`; one column serves both."""


class _Channels:
    """The MCAP channels of one file, registered as their first message comes."""

    def __init__(self, writer: McapFile) -> None:
        self._writer = writer
        self._schemas: dict[str, int] = {}
        self._channels: dict[tuple[str, str | None], int] = {}

    def event(self, kind: str, device: str | None) -> int:
        """The channel of events of `kind` (about `device`): `/<kind>[/<device>]`."""
        return self._channel(kind, device, kind, _event_schema(kind))

    def derived(self, name: str, device: str | None) -> int:
        """A derived channel: `/room/<name>[/<device>]`."""
        return self._channel(f"{DERIVED}/{name}", device, name, DERIVED_SCHEMAS[name])

    def _channel(self, path: str, device: str | None, name: str, schema: dict[str, Any]) -> int:
        channel = self._channels.get((path, device))
        if channel is None:
            topic = f"/{path}" if device is None else f"/{path}/{device}"
            schema_id = self._schema(f"sessionroom.{name}", schema)
            channel = self._writer.channel(topic, "json", schema_id)
            self._channels[(path, device)] = channel
        return channel

    def _schema(self, name: str, schema: dict[str, Any]) -> int:
        known = self._schemas.get(name)
        if known is None:
            data = json.dumps({"title": name, **schema}).encode()
            known = self._schemas[name] = self._writer.schema(name, "jsonschema", data)
        return known


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
) -> int:
    """Write the session in the journal at `path` as MCAP to `out`; return the event count.

    With a `key`, participant codes become keyed pseudonyms (in the metadata and payloads).
    Raises JournalError if the file is not a readable journal.
    """
    rename = pseudonymiser(key)
    meta = renamed_meta(session_meta(path), rename)
    if key is None:
        return write_mcap(journal_rows(path, QUERY), meta, out, progress=progress)
    events = renamed_events(checked_events(path), rename)
    return write_mcap(event_rows(events), meta, out, progress=progress)


Row = tuple[int, float, str, str, str, int, str | None]
"""seq, t, wall, labels and payload as the timeline export selects them, wall_ns, and a
light report's plain level as JSON text (0 when off), or `WHOLE` and a payload as stored
that may hold another level or a volume, or None."""


def event_rows(events: Iterable[Event]) -> Iterator[list[Row]]:
    """`QUERY`'s rows made from events (pseudonymised ones), in batches."""
    return batched(
        (
            *event_row(event),
            event.wall_ns,
            WHOLE + json_text(event.payload) if event.kind in ("state", "command") else None,
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
    channels = _Channels(writer)

    def event(
        phase: str | None, kind: str, device: str | None, topic: str | None
    ) -> tuple[str, int, str, str | None, str | None]:
        part = json_labels(phase, kind, device, topic)
        return part, channels.event(kind, device), kind, device, phase

    labels = Labels(event)
    light_channels: dict[str | None, int] = {}
    add = writer.message
    phase: str | None = None
    count = 0
    for batch in rows:
        for seq, t, wall, names, content, wall_ns, level in batch:
            part, channel, kind, device, now_in = labels[names]
            line = f'{{"seq": {seq}, "t": {t!r}, "wall": "{wall}"{part}{content}}}'
            log_time = round(t * 1e9)
            # held to MCAP's field sizes (a damaged journal may hold any number)
            if not 0 <= log_time <= U64 or wall_ns > U64:
                log_time, wall_ns = _u64(log_time), _u64(wall_ns)
            seq &= 0xFFFFFFFF
            add(channel, log_time, line.encode(), wall_ns, seq)
            if now_in != phase and now_in is not None:
                phase = now_in
                data = json.dumps({"phase": phase}).encode()
                add(channels.derived("phase", None), log_time, data, wall_ns, seq)
            if level is None or device is None:
                continue
            if level.startswith(WHOLE):
                _levels(add, channels, kind, device, level[1:], log_time, wall_ns, seq)
                continue
            value = float(level)
            if not math.isfinite(value):
                continue
            light = light_channels.get(device)
            if light is None:
                light = light_channels[device] = channels.derived("light", device)
            add(light, log_time, f'{{"level": {value!r}}}'.encode(), wall_ns, seq)
        count += len(batch)
        if progress is not None:
            progress(count)
    writer.finish()
    return count


def _levels(
    add: Callable[..., None],
    channels: _Channels,
    kind: str,
    device: str,
    stored: str,
    log_time: int,
    wall_ns: int,
    seq: int,
) -> None:
    """A light's level from its state report, or a volume from a command, on its level channel."""
    payload = json.loads(stored)
    if not isinstance(payload, dict):
        return
    if kind == "state":
        level = _finite(payload.get("level"))
        if level is not None:
            value = level if payload.get("on", True) else 0.0
            data = f'{{"level": {value!r}}}'.encode()
            add(channels.derived("light", device), log_time, data, wall_ns, seq)
        return
    wire = payload.get("payload")
    if list(payload) == ["payload"] and isinstance(wire, str):
        payload = wire_value(wire)
    volume = _finite(payload.get("volume")) if isinstance(payload, dict) else None
    if volume is not None:
        data = f'{{"volume": {volume!r}}}'.encode()
        add(channels.derived("volume", device), log_time, data, wall_ns, seq)


def _finite(value: Any) -> float | None:
    """`value` as a float if it is a finite JSON number (not a boolean), else None."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


U64 = 2**64 - 1


def _u64(value: int) -> int:
    """`value` held to MCAP's unsigned 64-bit times."""
    return min(max(value, 0), U64)
