"""A BIDS dataset's participants.tsv and sessions lists, as researchers keep them: columns they
added (BIDS recommends `age`, `sex`, `handedness`) stay through every later export, and a list
that cannot be read (saved as UTF-16 or Latin-1 by a spreadsheet, a FIFO in its place) ends
the export with an error naming it, leaving the dataset as it was."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest

from controller.journal import Event
from tests.research.support import START_NS, write_journal
from tests.support.cli_process import sessionroom

DAY_NS = 86_400 * 10**9


def a_session(data: Path, participant: str, day: int) -> Path:
    timeline = [(0.0, Event("phase", {"to": "centering"}, phase="centering"))]
    return write_journal(data, timeline, participant=participant, wall_ns=START_NS + day * DAY_NS)


def export_bids(journal: Path, dataset: Path) -> subprocess.CompletedProcess[str]:
    return sessionroom("export", journal, "--format", "bids", "-o", dataset)


def table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as text:
        return list(csv.DictReader(text, delimiter="\t", strict=True))


def test_columns_added_to_participants_tsv_stay_through_later_exports(tmp_path: Path) -> None:
    data, dataset = tmp_path / "data", tmp_path / "study"
    first = a_session(data, "P-001", 0)
    assert export_bids(first, dataset).returncode == 0
    participants = dataset / "participants.tsv"
    participants.write_text("participant_id\tage\tsex\nsub-Px2d001\t34\tF\n", encoding="utf-8")

    for journal in (a_session(data, "P-002", 1), first, a_session(data, "P-001", 2)):
        result = export_bids(journal, dataset)
        assert result.returncode == 0, result.stderr

    lines = participants.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "participant_id\tage\tsex"
    assert {len(line.split("\t")) for line in lines} == {3}
    assert table(participants) == [
        {"participant_id": "sub-Px2d001", "age": "34", "sex": "F"},
        {"participant_id": "sub-Px2d002", "age": "n/a", "sex": "n/a"},
    ]


def test_columns_added_to_a_sessions_list_stay_through_later_exports(tmp_path: Path) -> None:
    data, dataset = tmp_path / "data", tmp_path / "study"
    first = a_session(data, "P-001", 0)
    assert export_bids(first, dataset).returncode == 0
    sessions = dataset / "sub-Px2d001" / "sub-Px2d001_sessions.tsv"
    [row] = table(sessions)
    header = "\t".join([*row, "dose_mg"])
    sessions.write_text(f"{header}\n" + "\t".join([*row.values(), "35"]) + "\n", encoding="utf-8")

    for journal in (a_session(data, "P-001", 1), first):
        result = export_bids(journal, dataset)
        assert result.returncode == 0, result.stderr

    rows = table(sessions)
    assert [row["dose_mg"] for row in rows] == ["35", "n/a"]
    assert {len(line.split("\t")) for line in sessions.read_text().splitlines()} == {6}


@pytest.mark.parametrize(
    "saved",
    [
        "participant_id\tage\nsub-Px2d001\t34\n".encode("utf-16"),
        "participant_id\tcity\nsub-Px2d001\tZürich\n".encode("latin-1"),
    ],
    ids=["utf-16", "latin-1"],
)
def test_a_participants_list_that_is_not_utf8_is_named_and_the_dataset_kept(
    tmp_path: Path, saved: bytes
) -> None:
    data, dataset = tmp_path / "data", tmp_path / "study"
    assert export_bids(a_session(data, "P-001", 0), dataset).returncode == 0
    participants = dataset / "participants.tsv"
    participants.write_bytes(saved)

    result = export_bids(a_session(data, "P-002", 1), dataset)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "participants.tsv" in result.stderr
    assert "UTF-8" in result.stderr
    assert participants.read_bytes() == saved
    assert not (dataset / "sub-Px2d002").exists()


def test_a_fifo_in_place_of_the_participants_list_is_refused_without_waiting(
    tmp_path: Path,
) -> None:
    data, dataset = tmp_path / "data", tmp_path / "study"
    assert export_bids(a_session(data, "P-001", 0), dataset).returncode == 0
    participants = dataset / "participants.tsv"
    participants.unlink()
    os.mkfifo(participants)

    result = export_bids(a_session(data, "P-002", 1), dataset)

    assert result.returncode == 2, result.stderr
    assert "participants.tsv" in result.stderr
    assert not (dataset / "sub-Px2d002").exists()
