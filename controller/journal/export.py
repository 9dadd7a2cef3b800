"""Export a session's timeline as the contract researchers' tools rely on (JSONL, CSV), or BIDS.

Every event becomes one record with the `COLUMNS` of docs/control-api.md (`timeline_record`);
a stream format writes records to a text stream, in seq order, without holding the session
in memory. Notes are exported like every other event. A device command's `payload` is what
went on the wire (`contract_payload`): the JSON value where the wire payload is JSON, the
text where it is text; the journal keeps the exact wire text, so a replay sends it unchanged.
The BIDS export (`export_bids`, `export_study` for many sessions into one dataset) writes a
folder of files from one pass over each session's events (`controller.research.bids`); it
leaves notes out unless asked. Either can replace participant codes by keyed pseudonyms.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from controller.journal.events import Event
from controller.journal.sessions import read_events
from controller.journal.store import JournalError, json_text, reading
from controller.research.analysis import SessionAnalysis, analyse
from controller.research.bids import BidsExport, bids_dataset, write_bids
from controller.research.pseudonym import pseudonymiser, renamed_events, renamed_meta
from controller.research.sessions import session_meta

COLUMNS = ("seq", "t", "wall", "phase", "kind", "device", "topic", "payload")
LINE_BREAKS_INSIDE_STRINGS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
"""Characters JSON leaves raw but some line readers split on; escaped so a line stays one line."""

ProgressCallback = Callable[[int], None]
"""Told how many events an export has written so far."""


def iso_wall(wall_ns: int) -> str:
    """UTC wall time in ns as ISO 8601 to the microsecond, e.g. `2026-11-21T17:30:00.123456Z`."""
    seconds, nanoseconds = divmod(wall_ns, 1_000_000_000)
    return f"{_iso_second(seconds)}.{nanoseconds // 1000:06d}Z"


@functools.lru_cache(maxsize=4)
def _iso_second(seconds: int) -> str:
    """The whole second of `iso_wall`, formatted once for all the events of that second (an
    emergency records hundreds within a few milliseconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def timeline_record(event: Event) -> dict[str, Any]:
    """One event as the export contract's record, keys in `COLUMNS` order."""
    return {
        "seq": event.seq,
        "t": event.t,
        "wall": iso_wall(event.wall_ns),
        "phase": event.phase,
        "kind": event.kind,
        "device": event.device,
        "topic": event.topic,
        "payload": contract_payload(event),
    }


def contract_payload(event: Event) -> Any:
    """The payload as the export contract has it.

    The journal records a device command (a `command` with a topic) as `{"payload": <the
    wire payload as text>}`; the contract is the wire payload itself: its JSON value where
    it is JSON, the text where it is not (Tasmota's Backlog). Every other payload is as
    recorded.
    """
    payload = event.payload
    if event.kind != "command" or event.topic is None or not isinstance(payload, dict):
        return payload
    wire = payload.get("payload")
    if len(payload) != 1 or not isinstance(wire, str):
        return payload
    return wire_value(wire)


def wire_value(text: str) -> Any:
    """A wire payload as a JSON value where it is JSON (finite numbers only), else the text."""
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError):
        return text


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


WIRE = "json_extract(payload, '$.payload')"
CONTRACT_PAYLOAD = f"""CASE
    WHEN payload IS NULL THEN 'null'
    WHEN NOT json_valid(payload) THEN damaged(seq, 'its payload is not JSON')
    WHEN kind = 'command' AND topic IS NOT NULL AND payload LIKE '{{"payload": %'
        AND json_type(payload, '$.payload') = 'text'
        AND json_remove(payload, '$.payload') = '{{}}'
    THEN CASE WHEN json_valid({WIRE}) THEN json({WIRE}) ELSE json_quote({WIRE}) END
    ELSE payload END"""
"""The contract's payload as JSON text, worked out by SQLite (see `contract_payload`)."""
SESSION_T = """CASE WHEN typeof(t) IN ('real', 'integer') AND abs(t) < 1e300 THEN t
    ELSE damaged(seq, 'its session time is not a number') END"""
"""`t`, checked: a damaged journal may hold text or an infinity where a time belongs."""
WALL = """CASE WHEN typeof(wall_ns) = 'integer' AND wall_ns >= 0
    THEN strftime('%Y-%m-%dT%H:%M:%S', wall_ns / 1000000000, 'unixepoch')
        || printf('.%06dZ', (wall_ns % 1000000000) / 1000)
    ELSE damaged(seq, 'its wall time is out of range') END"""
"""`iso_wall` in SQL."""
JSONL_TAIL = f"""', "wall": "' || {WALL} || '", "phase": ' || json_quote(phase)
    || ', "kind": ' || json_quote(kind) || ', "device": ' || json_quote(device)
    || ', "topic": ' || json_quote(topic) || ', "payload": ' || {CONTRACT_PAYLOAD} || '}}'"""
"""A JSONL line after its `t`. SQLite builds it: a fetched value costs Python more than
SQLite's work on it, so the fewer values a row brings, the faster the export."""


CSV_PAYLOAD = f"""'"' || replace({CONTRACT_PAYLOAD}, '"', '""') || '"'"""
"""The payload as a quoted CSV cell (`""` inside), in SQL."""
QUERIES = {
    "jsonl": f"SELECT seq, {SESSION_T}, {JSONL_TAIL} FROM events ORDER BY seq",
    "csv": f"""SELECT seq, {SESSION_T}, {WALL}, phase, kind, device, topic, {CSV_PAYLOAD}
        FROM events ORDER BY seq""",
}
BATCH = 1000
"""Rows fetched, formatted and written at once; the progress callback is told after each."""
Row = TypeVar("Row")


def journal_rows(path: Path, query: str) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of the rows `query` selects from the journal at `path` (the fast path).

    A payload that is not JSON or a wall time out of range raises JournalError naming
    the event, as reading it as an event would.
    """
    damaged: list[str] = []

    def refuse(seq: int, why: str) -> None:
        damaged.append(f"event {seq}: {why}")
        raise ValueError(damaged[-1])

    with reading(path) as (connection, _):
        connection.create_function("damaged", 2, refuse, deterministic=True)
        cursor = connection.execute(query)
        try:
            while batch := cursor.fetchmany(BATCH):
                yield batch
        except sqlite3.OperationalError:
            if not damaged:
                raise
            raise JournalError(f"{path}: damaged journal ({damaged[0]})") from None


def jsonl_row(event: Event) -> tuple[Any, ...]:
    """seq, t and the rest of the event's JSONL line, as the JSONL query selects them."""
    record = timeline_record(event)
    del record["seq"], record["t"]
    return event.seq, float(event.t), ", " + json_text(record)[1:]


def _write_jsonl(rows: list[tuple[Any, ...]], out: TextIO) -> None:
    text = "".join([f'{{"seq": {seq}, "t": {t!r}{tail}\n' for seq, t, tail in rows])
    if not text.isascii():
        for character, escape in LINE_BREAKS_INSIDE_STRINGS.items():
            text = text.replace(character, escape)
    out.write(text)


def _csv_row(event: Event) -> tuple[Any, ...]:
    record = timeline_record(event)
    cells = (record[column] for column in ("wall", "phase", "kind", "device", "topic"))
    payload = json_text(record["payload"]).replace('"', '""')
    return event.seq, float(event.t), *cells, f'"{payload}"'


class _CsvCells(dict[str | None, str]):
    """Text as a CSV cell, as Python's csv module writes it (NULL is an empty cell), remembered:
    phases, kinds, devices and topics repeat all through a session."""

    def __missing__(self, value: str | None) -> str:
        line = io.StringIO()
        # "\r\n": the writer quotes a cell holding either, as readers end a line at both
        csv.writer(line, lineterminator="\r\n").writerow([value, ""])
        cell = self[value] = line.getvalue().removesuffix(",\r\n")
        return cell


def _write_csv(rows: list[tuple[Any, ...]], out: TextIO) -> None:
    cell = _CsvCells()
    out.write(
        "".join(
            [
                f"{seq},{t!r},{wall},{cell[phase]},{cell[kind]},{cell[device]},{cell[topic]},"
                f"{payload}\n"
                for seq, t, wall, phase, kind, device, topic, payload in rows
            ]
        )
    )


@dataclass(frozen=True)
class StreamFormat:
    """A timeline format: how SQLite or an event makes a row, and how rows are written."""

    header: str
    query: str
    """Selects a journal's rows ready for `write` (the fast path)."""
    row: Callable[[Event], tuple[Any, ...]]
    """The same row made from an event (the path of pseudonymised events)."""
    write: Callable[[list[tuple[Any, ...]], TextIO], None]


FORMATS = {
    "jsonl": StreamFormat("", QUERIES["jsonl"], jsonl_row, _write_jsonl),
    "csv": StreamFormat(",".join(COLUMNS) + "\n", QUERIES["csv"], _csv_row, _write_csv),
}
"""JSONL: one JSON object per line, keys in `COLUMNS` order. CSV: a header row of `COLUMNS`,
then one row per event; nulls are empty cells except in `payload`, which is always JSON
text (`null`, `"a string"`, `{...}`)."""


def export_session(
    path: Path,
    out: TextIO,
    *,
    format_name: str,
    progress: ProgressCallback | None = None,
    key: bytes | None = None,
) -> int:
    """Write the timeline of the journal at `path` to `out` in `format_name`; return the count.

    With a `key`, participant codes in payloads become keyed pseudonyms. Raises JournalError
    if the file is not a readable journal, KeyError for an unknown format.
    """
    stream = FORMATS[format_name]
    batches: Iterable[list[tuple[Any, ...]]]
    if key is None:
        batches = journal_rows(path, stream.query)
    else:
        events = renamed_events(checked_events(path), pseudonymiser(key))
        batches = batched(stream.row(event) for event in events)
    out.write(stream.header)
    count = 0
    for batch in batches:
        stream.write(batch, out)
        count += len(batch)
        if progress is not None:
            progress(count)
    return count


def checked_events(path: Path) -> Iterator[Event]:
    """The journal's events (`read_events`), each checked as the SQL of the fast path checks
    its row: a session time or wall time that is not a number raises JournalError naming
    the event, instead of failing later in an exporter."""
    for event in read_events(path):
        t, wall_ns = event.t, event.wall_ns
        if not isinstance(t, int | float) or isinstance(t, bool) or not abs(t) < 1e300:
            raise JournalError(
                f"{path}: damaged journal (event {event.seq}: its session time is not a number)"
            )
        if not isinstance(wall_ns, int) or isinstance(wall_ns, bool) or wall_ns < 0:
            raise JournalError(
                f"{path}: damaged journal (event {event.seq}: its wall time is out of range)"
            )
        yield event


def batched(rows: Iterator[Row]) -> Iterator[list[Row]]:
    """`rows` in lists of `BATCH`."""
    while batch := list(itertools.islice(rows, BATCH)):
        yield batch


def export_bids(
    path: Path,
    folder: Path,
    *,
    include_notes: bool = False,
    key: bytes | None = None,
    progress: ProgressCallback | None = None,
) -> BidsExport:
    """Write the session in the journal at `path` into the BIDS dataset `folder`.

    Notes are left out unless `include_notes`; with a `key`, participant codes become keyed
    pseudonyms (see `controller.research.pseudonym`). Raises JournalError if the file is not
    a readable journal; then, as on any failure, `folder` is left as it was.
    """
    return write_bids(
        analysed(path, key=key, progress=progress), folder, include_notes=include_notes
    )


def export_study(
    paths: Sequence[Path],
    folder: Path,
    *,
    include_notes: bool = False,
    key: bytes | None = None,
    progress: ProgressCallback | None = None,
) -> list[BidsExport]:
    """Write the sessions in the journals at `paths` into the one BIDS dataset `folder`.

    One `key` pseudonymises every session alike; `progress` is told how many sessions are
    done. All or nothing: if one journal cannot be read (JournalError, naming its file) or a
    write fails, `folder` is left as it was.
    """
    written = []
    with bids_dataset(folder) as dataset:
        for done, path in enumerate(paths, start=1):
            written.append(dataset.add(analysed(path, key=key), include_notes=include_notes))
            if progress is not None:
                progress(done)
    return written


def analysed(
    path: Path, *, key: bytes | None, progress: ProgressCallback | None = None
) -> SessionAnalysis:
    """The analysis of the journal at `path`, participant codes pseudonymised with `key`."""
    rename = pseudonymiser(key)
    events = renamed_events(checked_events(path), rename)
    return analyse(renamed_meta(session_meta(path), rename), events, progress=progress)
