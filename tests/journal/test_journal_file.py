"""The journal file: where it lives, its name and permissions, its tables, and continuing it."""

from __future__ import annotations

import math
import os
import re
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from controller.journal import (
    EVENT_KINDS,
    Event,
    Journal,
    JournalError,
    find_open_session,
    list_sessions,
    read_events,
)
from tests.journal.conftest import JournalFactory
from tests.journal.support import START_NS, AlertLog

REPO = Path(__file__).resolve().parents[2]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def stored(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(query).fetchall()


def test_the_file_is_named_by_room_and_utc_start_inside_the_sessions_folder(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    journal = new_journal()

    assert journal.session_id == "room-a-20261121T173000Z"
    assert journal.path == data_dir / "sessions" / "room-a-20261121T173000Z.sqlite"
    assert journal.path.is_file()


def test_the_session_id_never_contains_the_participant_code(
    new_journal: JournalFactory,
) -> None:
    journal = new_journal(participant="P-017")

    assert "P-017" not in journal.session_id
    assert "P-017" not in journal.path.name


def test_sessions_starting_in_the_same_second_get_numbered_suffixes(
    new_journal: JournalFactory,
) -> None:
    ids = [new_journal(wall_ns=START_NS + n * 1000).session_id for n in range(3)]

    assert ids == [
        "room-a-20261121T173000Z",
        "room-a-20261121T173000Z-2",
        "room-a-20261121T173000Z-3",
    ]


def test_the_file_and_its_wal_and_shm_are_readable_by_the_owner_only(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    previous = os.umask(0o022)
    try:
        journal = new_journal()
        journal.append(Event("note", "private words"), t=1.0, wall_ns=START_NS)
        assert journal.flush()
        files = [
            journal.path,
            *(journal.path.with_name(journal.path.name + s) for s in ("-wal", "-shm")),
        ]
        assert {path.name: mode_of(path) for path in files} == {path.name: 0o600 for path in files}
        assert mode_of(data_dir / "sessions") == 0o700
    finally:
        os.umask(previous)


def test_meta_records_the_session_while_open_and_its_end_after_close(
    new_journal: JournalFactory,
) -> None:
    journal = new_journal(time_scale=10.0)
    columns = (
        "schema_version, session_id, room, plan, participant, time_scale, started_wall_ns,"
        " ended_wall_ns, ended_cleanly"
    )
    open_meta = stored(journal.path, f"SELECT {columns} FROM meta")
    journal.append(Event("session", {"action": "end"}), t=5.0, wall_ns=START_NS + 5 * 10**9)
    journal.close(ended_cleanly=True)

    assert open_meta == [
        (1, journal.session_id, "room-a", "standard", "P-017", 10.0, START_NS, None, 0)
    ]
    assert stored(journal.path, "SELECT ended_wall_ns, ended_cleanly FROM meta") == [
        (START_NS + 5 * 10**9, 1)
    ]
    assert stored(journal.path, "PRAGMA journal_mode") == [("wal",)]


def test_close_can_name_the_end_time_and_an_unclean_end(new_journal: JournalFactory) -> None:
    journal = new_journal()
    journal.close(ended_cleanly=False, wall_ns=START_NS + 42)

    assert stored(journal.path, "SELECT ended_wall_ns, ended_cleanly FROM meta") == [
        (START_NS + 42, 0)
    ]


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_every_event_kind_round_trips(new_journal: JournalFactory, kind: str) -> None:
    journal = new_journal()
    event = Event(
        kind,
        {"value": 0.35, "list": [1, "two", None], "nested": {"ok": True}},
        device="ceiling",
        topic="zigbee2mqtt/ceiling/set",
        phase="centering",
    )
    journal.append(event, t=12.5, wall_ns=START_NS + 12_500_000_000)
    journal.close(ended_cleanly=True)

    assert list(read_events(journal.path)) == [
        Event(
            kind,
            event.payload,
            device="ceiling",
            topic="zigbee2mqtt/ceiling/set",
            phase="centering",
            wall_ns=START_NS + 12_500_000_000,
            t=12.5,
            seq=1,
        )
    ]


def test_seq_counts_from_one_and_t_and_wall_are_stored_exactly_as_given(
    new_journal: JournalFactory,
) -> None:
    journal = new_journal()
    seqs = [
        journal.append(Event("state", {"n": n}), t=n * 0.1, wall_ns=START_NS + n * 123_456_789)
        for n in range(5)
    ]
    journal.append(Event("note", "integer t"), t=7, wall_ns=START_NS + 1)
    journal.close(ended_cleanly=True)
    events = list(read_events(journal.path))

    assert seqs == [1, 2, 3, 4, 5]
    assert [(e.seq, e.t, e.wall_ns) for e in events[:5]] == [
        (n + 1, n * 0.1, START_NS + n * 123_456_789) for n in range(5)
    ]
    assert isinstance(events[5].t, float)
    assert events[5].t == 7.0


def test_payloads_are_kept_as_dict_string_or_none(new_journal: JournalFactory) -> None:
    journal = new_journal()
    payloads: list[dict[str, object] | str | None] = [
        {"text": "Atmung ruhig — 呼吸"},
        'a plain note, with "quotes" and\nnewlines',
        None,
        "",
        {},
    ]
    for payload in payloads:
        journal.append(Event("note", payload), t=0.0, wall_ns=START_NS)
    journal.close(ended_cleanly=True)

    assert [event.payload for event in read_events(journal.path)] == payloads


def test_values_json_cannot_hold_are_kept_as_text_not_dropped(
    new_journal: JournalFactory, tmp_path: Path
) -> None:
    journal = new_journal()
    awkward: dict[Any, Any] = {"hr": math.nan, "spo2": math.inf, "file": tmp_path, 3: "three"}
    journal.append(Event("vitals", awkward), t=0.0, wall_ns=START_NS)
    journal.append(Event("note", "lone surrogate \udc80 kept"), t=0.0, wall_ns=START_NS)
    journal.close(ended_cleanly=True)

    payloads = [event.payload for event in read_events(journal.path)]
    assert payloads == [
        {"hr": "nan", "spo2": "inf", "file": str(tmp_path), "3": "three"},
        "lone surrogate \udc80 kept",
    ]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (Event("gossip"), "unknown event kind 'gossip'"),
        (Event("note", ["not", "an", "object"]), "payload must be a dict, a string or None"),  # type: ignore[arg-type]
        (Event("state", device=7), "device must be a string or None"),  # type: ignore[arg-type]
        (Event("state", topic="bad \udc80"), "topic 'bad \\udc80' is not valid Unicode"),
    ],
)
def test_an_event_that_cannot_be_journaled_is_refused_with_the_reason(
    new_journal: JournalFactory, event: Event, message: str
) -> None:
    journal = new_journal()

    with pytest.raises(ValueError, match="^" + re.escape(message)):
        journal.append(event, t=0.0, wall_ns=START_NS)
    journal.append(Event("note", "still usable"), t=0.0, wall_ns=START_NS)
    journal.close(ended_cleanly=True)
    assert [e.seq for e in read_events(journal.path)] == [1]


def test_appending_after_close_is_an_error(new_journal: JournalFactory) -> None:
    journal = new_journal()
    journal.close(ended_cleanly=True)

    with pytest.raises(JournalError, match="closed"):
        journal.append(Event("note", "too late"), t=0.0, wall_ns=START_NS)


def test_a_room_that_is_not_an_id_is_refused(new_journal: JournalFactory) -> None:
    with pytest.raises(ValueError, match=r"'\.\./escape' is not a valid id"):
        new_journal(room="../escape")


def test_a_data_dir_that_cannot_hold_sessions_is_a_journal_error(
    new_journal: JournalFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    with pytest.raises(JournalError, match=r"cannot create a journal in .*not-a-folder/sessions"):
        new_journal(data_dir=blocker)


def test_reopen_after_a_crash_continues_seq_from_the_last_stored_event(
    data_dir: Path, alert_log: AlertLog
) -> None:
    crash = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from controller.journal import Event, Journal
        journal = Journal.create(Path({str(data_dir)!r}), room="room-a", plan="standard",
            participant="P-017", time_scale=1.0, wall_ns={START_NS}, on_alert=print)
        for n in range(1, 6):
            journal.append(Event("phase", {{"n": n}}, phase="peak"), t=n, wall_ns={START_NS} + n)
        assert journal.flush()
        print(journal.path)
        os._exit(0)  # the engine dies: no close, the WAL is left behind
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", crash], cwd=REPO, capture_output=True, text=True, check=True
    )
    path = Path(result.stdout.strip())

    journal = Journal.reopen(path, on_alert=alert_log)
    seq = journal.append(Event("resume", {"after_s": 3}), t=6.0, wall_ns=START_NS + 6)
    journal.close(ended_cleanly=True)

    assert journal.last_event == Event(
        "phase", {"n": 5}, phase="peak", wall_ns=START_NS + 5, t=5.0, seq=5
    )
    assert seq == 6
    assert [(e.seq, e.kind) for e in read_events(path)] == [
        *((n, "phase") for n in range(1, 6)),
        (6, "resume"),
    ]


def test_events_queued_when_the_process_exits_without_close_are_still_written(
    data_dir: Path,
) -> None:
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from controller.journal import Event, Journal
        journal = Journal.create(Path({str(data_dir)!r}), room="room-a", plan="standard",
            participant="P-017", time_scale=1.0, wall_ns={START_NS}, on_alert=print)
        for n in range(1, 301):
            journal.append(Event("state", {{"n": n}}), t=n, wall_ns={START_NS} + n)
        print(journal.path)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )

    assert [event.seq for event in read_events(Path(result.stdout.strip()))] == list(range(1, 301))


def test_reopen_of_an_empty_open_session_starts_at_seq_one(
    new_journal: JournalFactory, alert_log: AlertLog
) -> None:
    path = new_journal().path

    journal = Journal.reopen(path, on_alert=alert_log)

    assert journal.last_event is None
    assert journal.append(Event("resume"), t=0.0, wall_ns=START_NS) == 1
    journal.close(ended_cleanly=True)


def test_reopen_refuses_a_session_that_has_ended(
    new_journal: JournalFactory, alert_log: AlertLog
) -> None:
    journal = new_journal()
    journal.close(ended_cleanly=True)

    with pytest.raises(JournalError, match="has already ended"):
        Journal.reopen(journal.path, on_alert=alert_log)


def test_reopen_refuses_a_file_that_is_not_a_journal(tmp_path: Path, alert_log: AlertLog) -> None:
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE things (x)")

    with pytest.raises(JournalError, match="not a Sessionroom journal"):
        Journal.reopen(foreign, on_alert=alert_log)


def test_a_discarded_journal_leaves_no_file_and_no_session(
    new_journal: JournalFactory, data_dir: Path
) -> None:
    """A start refused once its journal was open (an emergency pressed meanwhile) discards it:
    nothing is left of it, so no session is listed and none is resumed."""
    journal = new_journal()
    journal.discard()

    assert list(journal.path.parent.iterdir()) == []
    assert list_sessions(data_dir) == []


def test_a_discarded_journal_that_cannot_be_removed_is_left_ended_and_said(
    new_journal: JournalFactory,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stand-in for a folder that refuses the removal (root may remove any file here): the
    journal is left ended, never open (an open one would be resumed at the next start), and
    the log says which and why; nothing is raised."""
    journal = new_journal()

    def refused(path: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "unlink", refused)
    journal.discard()

    assert [(info.session_id, info.is_open) for info in list_sessions(data_dir)] == [
        (journal.session_id, False)
    ]
    assert find_open_session(data_dir, "room-a") is None
    assert f"journal {journal.session_id} of a start refused: not removed" in caplog.text
