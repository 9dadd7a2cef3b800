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

import contextlib
import csv
import io
import itertools
import json
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

from controller.journal.events import Event, iso_wall
from controller.journal.halves import (
    SPLIT_FROM,
    SecondHalf,
    append_text,
    second_half_from,
    signals_held,
    text_half,
)
from controller.journal.sessions import read_events
from controller.journal.store import (
    FIRST_BAD_LABEL,
    LABEL_COLUMNS,
    JournalError,
    check_seq_is_the_key,
    json_text,
    label_problem,
    reading,
)
from controller.research.analysis import SessionAnalysis, analyse
from controller.research.bids import BidsExport, bids_dataset, write_bids
from controller.research.pseudonym import pseudonymiser, renamed_events, renamed_meta
from controller.research.sessions import session_meta
from controller.untrusted import LARGEST_NUMBER, finite_number, stored_json

COLUMNS = ("seq", "t", "wall", "phase", "kind", "device", "topic", "payload")
LINE_BREAKS_INSIDE_STRINGS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
"""Characters JSON leaves raw but some line readers split on; escaped so a line stays one line."""

ProgressCallback = Callable[[int], None]
"""Told how many events an export has written so far."""


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
        return stored_json(text)
    except (ValueError, RecursionError):
        return text


WIRE = "json_extract(payload, '$.payload')"
FOR_PYTHON = """length(payload) > 308 OR payload GLOB '*e[0-9+]*' OR payload GLOB '*E[0-9+]*'
    OR payload GLOB '*\n*' OR payload GLOB '*\r*'"""
"""Payloads SQLite reads as JSON that Python may not (`stored_json`), or that hold a line break
(between values: a JSONL record is one line): a number beyond a float (a positive exponent,
as in 1e999, or over 308 digits), an integer of over 4,300 digits, nesting deeper than
Python's parser recurses (a long text). Each GLOB begins with a letter, which SQLite finds
at once (`*[0-9][eE]*` costs as much as all of them together)."""
CONTRACT_PAYLOAD = f"""CASE
    WHEN payload IS NULL THEN 'null'
    WHEN typeof(payload) != 'text' OR NOT json_valid(payload)
    THEN damaged(seq, 'its payload is not JSON')
    WHEN {FOR_PYTHON} THEN python_payload(seq, kind, topic, payload)
    WHEN kind = 'command' AND topic IS NOT NULL AND payload LIKE '{{"payload": %'
        AND json_type(payload, '$.payload') = 'text'
        AND json_remove(payload, '$.payload') = '{{}}'
    THEN CASE WHEN instr(payload, '\\u') THEN python_payload(seq, kind, topic, payload)
        WHEN json_valid({WIRE}) THEN json({WIRE}) ELSE json_quote({WIRE}) END
    ELSE payload END"""
"""The contract's payload as JSON text, worked out by SQLite (see `contract_payload`); by
Python (`journal_rows`) where SQLite may read it otherwise (`FOR_PYTHON`), and for a device
command's wire text that holds an escape: SQLite decodes a lone surrogate's escape into
text that is not UTF-8, which no export can write."""
SESSION_T = f"""CASE WHEN typeof(t) IN ('real', 'integer') AND abs(t) < {LARGEST_NUMBER!r} THEN t
    ELSE damaged(seq, 'its session time is not a number') END"""
"""`t`, checked: a damaged journal may hold text or an infinity where a time belongs."""
WALL_CHECKED = "typeof(wall_ns) = 'integer' AND wall_ns >= 0"
WALL_DAMAGED = "damaged(seq, 'its wall time is out of range')"
WALL = f"""CASE WHEN {WALL_CHECKED}
    THEN date(wall_ns / 1000000000, 'unixepoch') || 'T' || time(wall_ns / 1000000000, 'unixepoch')
        || '.' || substr(wall_ns / 1000 % 1000000 + 1000000, 2) || 'Z'
    ELSE {WALL_DAMAGED} END"""
"""`iso_wall` in SQL (`date` and `time` are quicker than `strftime`, `substr` than `printf`)."""
WALL_NS = f"CASE WHEN {WALL_CHECKED} THEN wall_ns ELSE {WALL_DAMAGED} END"
"""`wall_ns`, checked as `WALL` checks it, for Python to write it (`iso_wall`)."""
LABELS = "json_array(phase, kind, device, topic)"
"""An event's phase, kind, device and topic as one JSON text. A session has few distinct
ones, so Python turns each into its part of a line once (`Labels`): one value fetched
instead of four, and no quoting and joining by SQLite on every row."""
EVENT = f"seq, {SESSION_T}, {WALL}, {LABELS}"
"""The columns every timeline row starts with: seq, t, wall and the labels."""
TIMELINE = f"SELECT {EVENT}, {CONTRACT_PAYLOAD} FROM events"
QUERY = f"{TIMELINE} ORDER BY seq"
"""The rows of a JSONL or CSV export. SQLite builds a row's wall time and payload text: a
fetched value costs Python more than SQLite's work on it, so the fewer values a row
brings, the faster the export."""
BATCH = 1000
"""Rows fetched, formatted and written at once; the progress callback is told after each."""
MAX_BIDS_SESSION_S = 7 * 86_400
"""The longest session time a BIDS export resamples second by second (a week: far beyond any
session; a damaged clock reaching years would fill memory row by row)."""
MAX_PHYSIO_CELLS = 30_000_000
"""The most cells (columns by seconds) of a BIDS physiology table: a week of 49 columns, a day
of 347; a damaged journal of 2,000 sensors a week long would need over a billion."""
Row = TypeVar("Row")


def journal_rows(path: Path, query: str) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of the rows `query` selects from the journal at `path` (the fast path).

    A payload that is not JSON or a wall time out of range raises JournalError naming
    the event, as reading it as an event would.
    """
    damaged: list[str] = []

    def refuse(seq: int, why: str) -> NoReturn:
        damaged.append(f"event {seq}: {why}")
        raise ValueError(damaged[-1])

    def python_payload(seq: int, kind: str, topic: str | None, payload: str) -> str:
        try:
            return json_text(contract_payload(Event(kind, stored_json(payload), topic=topic)))
        except (ValueError, RecursionError):  # JSON to SQLite, not to Python
            refuse(seq, "its payload is not JSON")

    with reading(path) as (connection, _):
        check_seq_is_the_key(connection, path)
        connection.create_function("damaged", 2, refuse, deterministic=True)
        connection.create_function("python_payload", 4, python_payload, deterministic=True)
        try:
            with signals_held():
                cursor = connection.execute(query)  # which already reads the first row
            while batch := _next_batch(cursor):
                yield batch
        except sqlite3.OperationalError:
            if not damaged:
                damaged.append(bad_label(connection))  # json_array met a BLOB
            raise JournalError(f"{path}: damaged journal ({damaged[0]})") from None


def _next_batch(cursor: sqlite3.Cursor) -> list[Any]:
    with signals_held():
        return cursor.fetchmany(BATCH)


def bad_label(connection: sqlite3.Connection) -> str:
    """What is wrong with the first event whose phase, kind, device or topic is not text."""
    unreadable = "a value SQLite cannot turn into JSON"
    row = connection.execute(FIRST_BAD_LABEL).fetchone()
    if row is None:
        return unreadable
    seq, *types = row
    stand_ins = {"text": "", "null": None}  # any other type: a value that is not text
    return label_problem(seq, *(stand_ins.get(kind, b"") for kind in types)) or unreadable


def event_row(event: Event) -> tuple[Any, ...]:
    """seq, t, wall, labels and the payload as JSON text, as `QUERY` selects them."""
    labels = json.dumps([event.phase, event.kind, event.device, event.topic])
    payload = json_text(contract_payload(event))
    return event.seq, float(event.t), iso_wall(event.wall_ns), labels, payload


Part = TypeVar("Part")


LABELS_REMEMBERED = 4096
"""Distinct `LABELS` texts a `Labels` keeps before it starts again: a damaged journal may
hold new labels on every row, and an export must not hold the session in memory."""


class Labels(dict[str, Part]):
    """`LABELS` texts, each mapped once to what `part` makes of its phase, kind, device and
    topic (the middle of a JSONL line, four CSV cells, an MCAP channel...), up to
    `LABELS_REMEMBERED` of them."""

    def __init__(self, part: Callable[[str | None, str, str | None, str | None], Part]) -> None:
        super().__init__()
        self._part = part

    def __missing__(self, labels: str) -> Part:
        if len(self) >= LABELS_REMEMBERED:
            self.clear()
        try:
            values = stored_json(labels)
        except ValueError:
            raise UnreadableLabelsError(labels) from None
        part = self[labels] = self._part(*values)
        return part


class UnreadableLabelsError(ValueError):
    """`LABELS` that are no JSON values: an infinite number (which only a table remade without
    column types holds), written by SQLite as `Inf` (or by a newer one as 9.0e+999)."""

    def __init__(self, labels: str) -> None:
        super().__init__(labels)
        self.labels = labels


@contextlib.contextmanager
def labels_read(path: Path) -> Iterator[None]:
    """An UnreadableLabelsError raised inside becomes the JournalError naming its event."""
    try:
        yield
    except UnreadableLabelsError as error:
        query = f"SELECT seq, {', '.join(LABEL_COLUMNS)} FROM events WHERE {LABELS} = ?"
        with reading(path) as (connection, _):
            row = connection.execute(f"{query} ORDER BY seq LIMIT 1", (error.labels,)).fetchone()
        problem = (row and label_problem(*row)) or "a label is not a JSON value"
        raise JournalError(f"{path}: damaged journal ({problem})") from None


def json_labels(phase: str | None, kind: str, device: str | None, topic: str | None) -> str:
    """A JSONL line from the comma after `wall` to the payload's value."""
    text = json_text({"phase": phase, "kind": kind, "device": device, "topic": topic})
    return f', {text[1:-1]}, "payload": '


def _jsonl_writer() -> Callable[[list[tuple[Any, ...]], TextIO], None]:
    labels = Labels(json_labels)

    def write(rows: list[tuple[Any, ...]], out: TextIO) -> None:
        text = "".join(
            [
                f'{{"seq": {seq}, "t": {t!r}, "wall": "{wall}"{labels[names]}{payload}}}\n'
                for seq, t, wall, names, payload in rows
            ]
        )
        if not text.isascii():
            for character, escape in LINE_BREAKS_INSIDE_STRINGS.items():
                text = text.replace(character, escape)
        out.write(text)

    return write


QUOTE, QUOTES = '"', '""'
"""A double quote, and the two that stand for it inside a quoted CSV cell."""


def csv_cells(*values: str | None) -> str:
    """Text as CSV cells, as Python's csv module writes them (None is an empty cell)."""
    line = io.StringIO()
    # "\r\n": the writer quotes a cell holding either, as readers end a line at both
    csv.writer(line, lineterminator="\r\n").writerow(values)
    return line.getvalue().removesuffix("\r\n")


def _csv_writer() -> Callable[[list[tuple[Any, ...]], TextIO], None]:
    labels = Labels(csv_cells)

    def write(rows: list[tuple[Any, ...]], out: TextIO) -> None:
        out.write(
            "".join(
                [
                    f'{seq},{t!r},{wall},{labels[names]},"{payload.replace(QUOTE, QUOTES)}"\n'
                    for seq, t, wall, names, payload in rows
                ]
            )
        )

    return write


@dataclass(frozen=True)
class StreamFormat:
    """A timeline format: its header and how rows (of `QUERY`, or `event_row`) are written."""

    header: str
    writer: Callable[[], Callable[[list[tuple[Any, ...]], TextIO], None]]
    """A new writer of batches of rows, one per export: it remembers the labels it has met."""


FORMATS = {
    "jsonl": StreamFormat("", _jsonl_writer),
    "csv": StreamFormat(",".join(COLUMNS) + "\n", _csv_writer),
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
    split_from: int = SPLIT_FROM,
) -> int:
    """Write the timeline of the journal at `path` to `out` in `format_name`; return the count.

    With a `key`, participant codes in payloads become keyed pseudonyms. A long session is
    exported on two cores where it can be (`controller.journal.halves`, from `split_from`
    events): `progress` is then told the first half's count as it goes and the whole count
    at the end. Raises JournalError if the file is not a readable journal, KeyError for an
    unknown format.
    """
    stream = FORMATS[format_name]
    out.write(stream.header)
    with labels_read(path):
        if key is not None:
            events = renamed_events(checked_events(path), pseudonymiser(key))
            return write_rows(batched(event_row(event) for event in events), stream, out, progress)
        split = second_half_from(path, split_from=split_from)
        if split is None:
            return write_rows(journal_rows(path, QUERY), stream, out, progress)

        def second_half(half_out: TextIO) -> int:
            return write_rows(
                journal_rows(path, rows_where(f"seq >= {split:d}")), stream, half_out, None
            )

        with SecondHalf(text_half(second_half)) as child:  # the first half here meanwhile
            count = write_rows(
                journal_rows(path, rows_where(f"seq < {split:d}")), stream, out, progress
            )
            count += append_text(child, out, second_half)
        if progress is not None:
            progress(count)
        return count


def rows_where(condition: str, select: str = TIMELINE) -> str:
    """`select` (a SELECT ... FROM events; by default `QUERY`'s, without its ORDER BY) for
    the events that meet `condition` (SQL on the events' columns), in seq order."""
    return f"{select} WHERE {condition} ORDER BY seq"


def write_rows(
    batches: Iterable[list[tuple[Any, ...]]],
    stream: StreamFormat,
    out: TextIO,
    progress: ProgressCallback | None,
) -> int:
    """Write batches of rows (of `QUERY`, or `event_row`) to `out`; return how many."""
    write = stream.writer()
    count = 0
    with consuming(batches):
        for batch in batches:
            write(batch, out)
            count += len(batch)
            if progress is not None:
                progress(count)
    return count


@contextlib.contextmanager
def consuming(batches: Iterable[Any]) -> Iterator[None]:
    """Close `batches` (if it can be) when the block ends, whether it read them all or not:
    `journal_rows` holds its SQLite connection until then, and one left to the garbage
    collector may be closed by another thread, which SQLite refuses."""
    try:
        yield
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def checked_events(path: Path) -> Iterator[Event]:
    """The journal's events (`read_events`), each checked as the SQL of the fast path checks
    its row: a session time or wall time that is not a number raises JournalError naming
    the event, instead of failing later in an exporter."""
    for event in read_events(path):
        t, wall_ns = event.t, event.wall_ns
        if finite_number(t) is None:
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
        bids_analysed(path, key=key, progress=progress), folder, include_notes=include_notes
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
            written.append(dataset.add(bids_analysed(path, key=key), include_notes=include_notes))
            if progress is not None:
                progress(done)
    return written


def bids_analysed(
    path: Path, *, key: bytes | None, progress: ProgressCallback | None = None
) -> SessionAnalysis:
    """`analysed`, for a BIDS export: JournalError if a session with vitals runs past
    `MAX_BIDS_SESSION_S` (they are written one row per second up to its end)."""
    analysis = analysed(path, key=key, progress=progress)
    if analysis.vitals and analysis.end_t > MAX_BIDS_SESSION_S:
        raise JournalError(
            f"{path}: its session time reaches {analysis.end_t:.3g} s, more than a week; a BIDS "
            "export writes a row per second (is the journal damaged?)"
        )
    columns = sum(len(measures) for measures in analysis.vitals.values())
    cells = columns * (max(0, math.floor(analysis.end_t)) + 1)
    if cells > MAX_PHYSIO_CELLS:
        raise JournalError(
            f"{path}: its vitals make a physiology table of {columns} columns (sensors and "
            f"measures) by {analysis.end_t:.0f} seconds, over {MAX_PHYSIO_CELLS:,} cells; a "
            "BIDS export holds it in memory (is the journal damaged?)"
        )
    return analysis


def analysed(
    path: Path, *, key: bytes | None, progress: ProgressCallback | None = None
) -> SessionAnalysis:
    """The analysis of the journal at `path`, participant codes pseudonymised with `key`."""
    rename = pseudonymiser(key)
    events = renamed_events(checked_events(path), rename)
    return analyse(renamed_meta(session_meta(path), rename), events, progress=progress)
