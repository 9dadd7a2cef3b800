"""The session journal: one SQLite file per session, written off the event loop, read, exported."""

from controller.journal.events import EVENT_KINDS, Event, Payload
from controller.journal.journal import Journal
from controller.journal.sessions import (
    OpenSession,
    SessionInfo,
    count_events,
    find_open_session,
    list_sessions,
    newest_per_device,
    read_events,
    room_journals,
)
from controller.journal.store import JournalError, SessionMeta, session_path, sessions_dir

__all__ = [
    "EVENT_KINDS",
    "Event",
    "Journal",
    "JournalError",
    "OpenSession",
    "Payload",
    "SessionInfo",
    "SessionMeta",
    "count_events",
    "find_open_session",
    "list_sessions",
    "newest_per_device",
    "read_events",
    "room_journals",
    "session_path",
    "sessions_dir",
]
