"""A journal whose `events` is no table but a view (made by other hands): one that recurses
without end gave every reader rows without end, so that `sessions` never finished (sorting
them into temporary files as long as the disk lasted). Every reader refuses it as damaged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from controller.journal import Event
from tests.research.support import START_NS, write_journal
from tests.support.cli_process import sessionroom

ENDLESS = """
ALTER TABLE events RENAME TO recorded;
CREATE VIEW events AS WITH RECURSIVE endless(seq, wall_ns, t, phase, kind, device, topic,
    payload) AS (SELECT 1, 1795282200000000000, 0.0, 'centering', 'note', NULL, NULL, '"x"'
    UNION ALL SELECT seq + 1, wall_ns, t, phase, kind, device, topic, payload FROM endless)
    SELECT * FROM endless;
"""


def endless(data: Path) -> Path:
    journal = write_journal(data, [(0.0, Event("phase", {"to": "centering"}))])
    connection = sqlite3.connect(journal)
    connection.executescript(ENDLESS)
    connection.close()
    return journal


def test_the_listing_skips_it_and_ends(tmp_path: Path) -> None:
    data = tmp_path / "data"
    journal = endless(data)
    write_journal(data, [(0.0, Event("phase", {"to": "a"}))], wall_ns=START_NS + 10**12)

    result = sessionroom("sessions", "--data-dir", data)

    assert result.returncode == 0, result.stderr
    assert f"skipped {journal}: damaged journal" in result.stderr
    assert len(result.stdout.strip().splitlines()) == 2  # the heading and the readable one


def test_an_export_refuses_it(tmp_path: Path) -> None:
    journal = endless(tmp_path / "data")

    result = sessionroom("export", journal, "-o", tmp_path / "out.jsonl")

    assert result.returncode == 2, result.stderr
    assert f"Error: {journal}: damaged journal" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()
