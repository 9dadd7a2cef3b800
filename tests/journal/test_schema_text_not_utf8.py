"""A journal whose stored schema is damaged into text that is not UTF-8 (a flipped byte on
disk): SQLite's error quotes that text, and Python could not decode the message. Every
reader says the journal is damaged, and a listing skips it and goes on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result

from controller.cli import main
from controller.journal import Event
from tests.research.support import START_NS, write_journal

DAMAGED_SCHEMA = b"CREATE TABLE events \xe6\xe6 (x),)"
"""Not UTF-8, and not SQL: SQLite's error message quotes the bytes near its syntax error."""


def damaged(data: Path) -> Path:
    journal = write_journal(data, [(0.0, Event("phase", {"to": "a"}, phase="a"))])
    connection = sqlite3.connect(journal)
    connection.execute("PRAGMA writable_schema = ON")
    connection.execute(
        "UPDATE sqlite_master SET sql = CAST(? AS TEXT) WHERE name = 'events'", (DAMAGED_SCHEMA,)
    )
    connection.commit()
    connection.close()
    return journal


def sessionroom(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_the_listing_skips_the_journal_and_shows_the_others(tmp_path: Path) -> None:
    data = tmp_path / "data"
    journal = damaged(data)
    write_journal(data, [(0.0, Event("phase", {"to": "a"}))], wall_ns=START_NS + 10**12)

    result = sessionroom("sessions", "--data-dir", data)

    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0
    assert f"skipped {journal}: damaged journal" in result.stderr
    assert len(result.stdout.strip().splitlines()) == 2  # the heading and the readable one


def test_an_export_says_the_journal_is_damaged(tmp_path: Path) -> None:
    journal = damaged(tmp_path / "data")

    result = sessionroom("export", journal, "-o", tmp_path / "out.jsonl")

    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2
    assert f"Error: {journal}: damaged journal" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()
