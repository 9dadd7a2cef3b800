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
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from controller.journal.events import Event
from controller.journal.sessions import read_events
from controller.journal.store import json_text
from controller.research.analysis import SessionAnalysis, analyse
from controller.research.bids import BidsExport, bids_dataset, write_bids
from controller.research.pseudonym import pseudonymiser, renamed_events, renamed_meta
from controller.research.sessions import session_meta

COLUMNS = ("seq", "t", "wall", "phase", "kind", "device", "topic", "payload")
LINE_BREAKS_INSIDE_STRINGS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
"""Characters JSON leaves raw but some line readers split on; escaped so a line stays one line."""
PROGRESS_EVERY = 1000
"""Events between two calls of an export's progress callback."""

StreamWriter = Callable[[Iterable[Event], TextIO], int]
"""Writes events to a text stream in one format and returns how many it wrote."""
ProgressCallback = Callable[[int], None]
"""Told how many events an export has written so far."""


def iso_wall(wall_ns: int) -> str:
    """UTC wall time in ns as ISO 8601 to the microsecond, e.g. `2026-11-21T17:30:00.123456Z`."""
    seconds, nanoseconds = divmod(wall_ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{nanoseconds // 1000:06d}Z"


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
        return json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return text


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def write_jsonl(events: Iterable[Event], out: TextIO) -> int:
    """One JSON object per line."""
    count = 0
    for event in events:
        out.write(json_line(timeline_record(event)))
        count += 1
    return count


def json_line(record: dict[str, Any]) -> str:
    """`record` as one line of JSON, newline included."""
    text = json_text(record)
    if not text.isascii():
        for character, escape in LINE_BREAKS_INSIDE_STRINGS.items():
            text = text.replace(character, escape)
    return text + "\n"


def write_csv(events: Iterable[Event], out: TextIO) -> int:
    """A header row of `COLUMNS`, then one row per event; nulls are empty cells except in
    `payload`, which is always JSON text (`null`, `"a string"`, `{...}`)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for event in events:
        record = timeline_record(event)
        record["payload"] = json_text(record["payload"])
        writer.writerow(record.values())
        count += 1
    return count


FORMATS: dict[str, StreamWriter] = {"jsonl": write_jsonl, "csv": write_csv}


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
    write = FORMATS[format_name]
    events: Iterable[Event] = read_events(path)
    if key is not None:
        events = renamed_events(events, pseudonymiser(key))
    return write(events if progress is None else _reporting(events, progress), out)


def _reporting(events: Iterable[Event], progress: ProgressCallback) -> Iterator[Event]:
    count = 0
    for count, event in enumerate(events, start=1):
        yield event
        if count % PROGRESS_EVERY == 0:
            progress(count)
    progress(count)


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
    events = renamed_events(read_events(path), rename)
    return analyse(renamed_meta(session_meta(path), rename), events, progress=progress)
