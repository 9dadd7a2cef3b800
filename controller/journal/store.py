"""The journal's SQLite file: where it lives, its tables and connections, events as rows."""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.config import limits
from controller.journal.events import Event, Payload
from controller.untrusted import stored_json

SCHEMA_VERSION = 1
APPLICATION_ID = 0x53524A4E
"""Written into the SQLite header ("SRJN") to tell a journal from any other SQLite file."""

SESSIONS_FOLDER = "sessions"
JOURNAL_SUFFIX = ".sqlite"
BUSY_TIMEOUT_MS = 10_000
"""How long a connection waits for another one's write lock before giving up."""

CREATE_TABLES = (
    """CREATE TABLE meta (
        schema_version INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        room TEXT NOT NULL,
        plan TEXT NOT NULL,
        participant TEXT NOT NULL,
        time_scale REAL NOT NULL,
        started_wall_ns INTEGER NOT NULL,
        ended_wall_ns INTEGER,
        ended_cleanly INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        wall_ns INTEGER NOT NULL,
        t REAL NOT NULL,
        phase TEXT,
        kind TEXT NOT NULL,
        device TEXT,
        topic TEXT,
        payload TEXT
    )""",
)
INSERT_META = (
    "INSERT INTO meta (schema_version, session_id, room, plan, participant, time_scale,"
    " started_wall_ns) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SEQ_IS_THE_KEY = """SELECT EXISTS (SELECT 1 FROM pragma_table_info('events')
        WHERE name = 'seq' AND pk = 1 AND upper(type) = 'INTEGER')
    AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'
        AND sql LIKE '%WITHOUT ROWID%')"""
"""Whether the events table keys its rows by `seq` as the journal made it (the rowid, so a
whole number): a table remade by other hands may hold any value there."""
BOTH_TABLES = (
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'events')"
)
"""2 when `meta` and `events` are tables, as the journal makes them: a view in their place (made
by other hands) may recurse without end, and every reader would read rows without end."""
SELECT_META = (
    "SELECT schema_version, session_id, room, plan, participant, time_scale, started_wall_ns,"
    " ended_wall_ns, ended_cleanly FROM meta"
)
INSERT_EVENT = (
    # OR IGNORE: a batch retried after an uncertain failure may hold rows already committed.
    "INSERT OR IGNORE INTO events (seq, wall_ns, t, phase, kind, device, topic, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
EVENT_COLUMNS = "seq, wall_ns, t, phase, kind, device, topic, payload"
MARK_ENDED = "UPDATE meta SET ended_wall_ns = ?, ended_cleanly = ?"
MARK_STARTED = "UPDATE meta SET started_wall_ns = ?"

EventFields = tuple[int, float, str | None, str, str | None, str | None, str | None]
"""An events row without its seq: wall_ns, t, phase, kind, device, topic, payload as JSON text."""
Row = tuple[int, int, float, str | None, str, str | None, str | None, str | None]
"""An events row: seq followed by the `EventFields`."""


class JournalError(Exception):
    """A journal cannot be created, read, continued or closed; the message says why."""


class DamagedEventError(ValueError):
    """A stored event whose columns do not hold what an event is made of (`reading` turns
    it into a JournalError naming the file)."""


LABEL_COLUMNS = ("phase", "kind", "device", "topic")
"""An event's text columns; only `kind` may not be NULL."""
FIRST_BAD_LABEL = (
    "SELECT seq, typeof(phase), typeof(kind), typeof(device), typeof(topic) FROM events "
    "WHERE typeof(kind) != 'text' OR typeof(phase) NOT IN ('text', 'null') "
    "OR typeof(device) NOT IN ('text', 'null') OR typeof(topic) NOT IN ('text', 'null') "
    "ORDER BY seq LIMIT 1"
)
"""The first event with a label column that is not text, for naming it in an error."""


def label_problem(
    seq: object, phase: object, kind: object, device: object, topic: object
) -> str | None:
    """The first of an event's text columns that is not text, named; None if all are."""
    for name, value in zip(LABEL_COLUMNS, (phase, kind, device, topic), strict=True):
        if not isinstance(value, str) and (value is not None or name == "kind"):
            return f"event {seq}: its {name} is not text"
    return None


@dataclass(frozen=True)
class SessionMeta:
    """What the `meta` table says about a session."""

    session_id: str
    room: str
    plan: str
    participant: str
    time_scale: float
    started_wall_ns: int
    ended_wall_ns: int | None
    ended_cleanly: bool


def sessions_dir(data_dir: Path) -> Path:
    """The folder holding one journal file per session."""
    return Path(data_dir) / SESSIONS_FOLDER


def session_path(data_dir: Path, session_id: str) -> Path:
    """The journal file of session `session_id`."""
    return sessions_dir(data_dir) / f"{session_id}{JOURNAL_SUFFIX}"


def connect_for_writing(path: Path) -> sqlite3.Connection:
    """Open an existing journal for writing (never creates a file); explicit transactions."""
    connection = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None
    )
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA synchronous = FULL")
    return connection


@contextlib.contextmanager
def reading(path: Path) -> Iterator[tuple[sqlite3.Connection, SessionMeta]]:
    """A read-only connection to a journal and its meta, closed afterwards.

    JournalError if the file is not a journal this version reads; SQLite errors and
    undecodable rows met inside the block become JournalError too.
    """
    try:
        connection = sqlite3.connect(
            f"{_regular_file(path).as_uri()}?mode=ro", uri=True, isolation_level=None
        )
    except sqlite3.Error as error:
        raise JournalError(f"{path}: cannot open ({error})") from None
    try:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        meta = read_meta(connection, path)
        yield connection, meta
    except (sqlite3.Error, DamagedEventError, UnicodeDecodeError) as error:
        raise JournalError(f"{path}: damaged journal ({sqlite_problem(error)})") from None
    finally:
        connection.close()


def sqlite_problem(error: Exception) -> str:
    """What `error` says. SQLite's message may quote a damaged schema's text, which need not
    be UTF-8: Python then raises UnicodeDecodeError for the message itself, whose bytes are
    told here with each undecodable one as U+FFFD."""
    if isinstance(error, UnicodeDecodeError) and isinstance(error.object, bytes):
        return error.object.decode("utf-8", "replace")
    return str(error)


def _regular_file(path: Path) -> Path:
    """`path` resolved, if it is a regular file; JournalError otherwise. Opening a FIFO (a
    named pipe) blocks until something writes to it: among the journals, one kept the
    engine from starting, deaf to SIGTERM, its room locked; a loop of links raised. (A
    journal is written only once read: a session is resumed after `reading` it.)"""
    try:
        resolved = path.resolve(strict=True)
        mode = resolved.stat().st_mode
    except (OSError, RuntimeError) as error:
        raise JournalError(f"{path}: cannot open ({error})") from None
    if not stat.S_ISREG(mode):
        raise JournalError(f"{path}: not a regular file")
    return resolved


def read_meta(connection: sqlite3.Connection, path: Path) -> SessionMeta:
    """Check that `connection` is a journal this version understands and return its meta."""
    try:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
    except (sqlite3.Error, UnicodeDecodeError) as error:
        raise JournalError(
            f"{path}: not a readable SQLite file ({sqlite_problem(error)})"
        ) from None
    if application_id != APPLICATION_ID:
        raise JournalError(f"{path}: not a Sessionroom journal")
    try:
        tables = connection.execute(BOTH_TABLES).fetchone()[0]
        row = connection.execute(SELECT_META).fetchone()
    except (sqlite3.Error, UnicodeDecodeError) as error:
        raise JournalError(f"{path}: damaged journal ({sqlite_problem(error)})") from None
    if tables != 2:
        raise JournalError(f"{path}: damaged journal (its meta and events are not both tables)")
    if row is None:
        raise JournalError(f"{path}: damaged journal (no session metadata)")
    version, *fields = row
    if not _meta_types_hold(row):
        raise JournalError(f"{path}: damaged journal (its session metadata is not readable)")
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"{path}: written by a newer Sessionroom (journal schema {version}, "
            f"this version reads up to {SCHEMA_VERSION})"
        )
    session_id, room, plan, participant, time_scale, started, ended, cleanly = fields
    if not limits.TIME_SCALE_MIN <= time_scale <= limits.TIME_SCALE_MAX:
        raise JournalError(
            f"{path}: damaged journal (its time scale, {time_scale:g}, is outside "
            f"{limits.TIME_SCALE_MIN:g}–{limits.TIME_SCALE_MAX:g})"
        )
    return SessionMeta(
        session_id=session_id,
        room=room,
        plan=plan,
        participant=participant,
        time_scale=time_scale,
        started_wall_ns=started,
        ended_wall_ns=ended,
        ended_cleanly=bool(cleanly),
    )


def check_seq_is_the_key(connection: sqlite3.Connection, path: Path) -> None:
    """JournalError unless the journal's events are keyed by a whole-number `seq`, as a
    query that writes `seq` into text as it stands needs (`SEQ_IS_THE_KEY`)."""
    if not connection.execute(SEQ_IS_THE_KEY).fetchone()[0]:
        raise JournalError(f"{path}: damaged journal (its events are not numbered by seq)")


def _meta_types_hold(row: tuple[Any, ...]) -> bool:
    """Whether a meta row has the types its columns were written with (a damaged page may not)."""
    version, session_id, room, plan, participant, time_scale, started, ended, cleanly = row
    texts = (session_id, room, plan, participant)
    return (
        type(version) is int
        and all(isinstance(text, str) for text in texts)
        and isinstance(time_scale, int | float)
        and type(started) is int
        and (ended is None or type(ended) is int)
        and type(cleanly) is int
    )


_UNICODE_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=str)
_ASCII_JSON = json.JSONEncoder(ensure_ascii=True, allow_nan=False, default=str)


def json_text(value: Any) -> str:
    """JSON text, UTF-8 where possible; text holding lone surrogates is kept as \\u escapes."""
    text = _UNICODE_JSON.encode(value)
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return _ASCII_JSON.encode(value)
    return text


def encode_payload(payload: Payload) -> str | None:
    """A payload as the JSON text stored in its row (None stays NULL).

    Values JSON cannot hold are kept, not dropped: NaN and infinities become strings, other
    objects their `str()`, non-string keys strings.
    """
    if payload is None:
        return None
    try:
        return json_text(payload)
    except (TypeError, ValueError):
        return json_text(_plain(payload))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def event_fields(event: Event, *, t: float, wall_ns: int) -> EventFields:
    """The columns storing `event` at session time `t` and wall time `wall_ns`, seq aside."""
    return (
        wall_ns,
        float(t),
        event.phase,
        event.kind,
        event.device,
        event.topic,
        encode_payload(event.payload),
    )


def row_event(row: Row) -> Event:
    """The event a stored row holds."""
    seq, wall_ns, t, phase, kind, device, topic, payload = row
    if problem := label_problem(seq, phase, kind, device, topic):
        raise DamagedEventError(problem)
    return Event(
        kind=kind,
        payload=None if payload is None else _payload(seq, payload),
        device=device,
        topic=topic,
        phase=phase,
        wall_ns=wall_ns,
        t=t,
        seq=seq,
    )


def _payload(seq: int, stored: object) -> Any:
    """The value of a stored payload; DamagedEventError if it is not JSON text Python can read
    (bytes, or nested deeper than its parser recurses)."""
    if not isinstance(stored, str):
        raise DamagedEventError(f"event {seq}: its payload is not JSON")
    try:
        return stored_json(stored)
    except (ValueError, RecursionError):
        raise DamagedEventError(f"event {seq}: its payload is not JSON") from None
