"""A whole study into one BIDS dataset, all or nothing, and export files that are private."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.cli import main
from controller.journal import Event
from controller.research.bids import read_tsv
from controller.research.pseudonym import PseudonymKeyError, bids_label, keyed_pseudonym, read_key
from tests.research.support import START_NS, bids_errors, write_journal
from tests.support.fifo import raised_without_waiting

DAY_NS = 86_400 * 10**9
KEY = b"a secret of the study, kept elsewhere"
NESTED_DEEPER_THAN_PYTHON_PARSES = "'" + "[" * 100_000 + "]" * 100_000 + "'"


def sessionroom(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def a_session(data_dir: Path, *, participant: str, plan: str = "standard", day: int = 0) -> Path:
    timeline = [
        (0.0, Event("phase", {"to": "centering", "planned_s": 60.0}, phase="centering")),
        (1.0, Event("vitals", {"hr": 72, "spo2": 97}, device="oximeter", phase="centering")),
        (2.0, Event("error", {"media": 'cannot open ALSA device "default"'}, phase="centering")),
    ]
    return write_journal(
        data_dir, timeline, participant=participant, plan=plan, wall_ns=START_NS + day * DAY_NS
    )


def test_a_whole_study_goes_into_one_valid_dataset_with_one_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for participant, day in (("P-014", 0), ("P014", 1), ("P-014", 2)):
        a_session(data, participant=participant, day=day)
    a_session(data, participant="P-020", plan="short", day=3)
    key_file = tmp_path / "study.key"
    key_file.write_bytes(KEY)
    study = tmp_path / "study"

    result = sessionroom(
        "export", "--all", "--plan", "standard", "--format", "bids", "-o", study,
        "--pseudonymise", key_file, "--data-dir", data, "--config", tmp_path / "none",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Wrote 3 sessions of 2 participants" in result.output
    subjects = sorted(f"sub-{keyed_pseudonym(code, KEY)}" for code in ("P-014", "P014"))
    assert [row[0] for row in read_tsv(study / "participants.tsv")[1:]] == subjects
    repeat = f"sub-{keyed_pseudonym('P-014', KEY)}"
    sessions = read_tsv(study / repeat / f"{repeat}_sessions.tsv")
    assert sessions[0] == ["session_id", "acq_time", "room", "plan", "session"]
    assert [row[1] for row in sessions[1:]] == ["2026-11-21T17:30:00", "2026-11-23T17:30:00"]
    assert bids_errors(study) == []
    # the summary table names the participants as the dataset does, with the same key
    summary = sessionroom(
        "sessions", "--format", "csv", "--pseudonymise", key_file, "--data-dir", data,
        "--config", tmp_path / "none",
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(summary.stdout, newline="")))
    assert len(rows) == 4 and "P-014" not in summary.stdout and "P014" not in summary.stdout
    assert {f"sub-{row['participant']}" for row in rows if row["plan"] == "standard"} == set(
        subjects
    )

    # a later export adds to the study and keeps what is there
    later = sessionroom(
        "export", "--since", "2026-11-24", "--until", "2026-11-24", "--format", "bids",
        "-o", study, "--data-dir", data, "--config", tmp_path / "none",
    )  # fmt: skip
    assert later.exit_code == 0, later.output
    assert len(read_tsv(study / "participants.tsv")) == 1 + 3
    assert "sub-Px2d020" in {row[0] for row in read_tsv(study / "participants.tsv")}


@pytest.mark.parametrize(
    ("since", "until", "chosen"),
    [
        ("2026-11-22", "9999-12-31", 2),
        ("0001-01-01", "2026-11-22", 2),
        ("20261122", "20261122", 1),
        ("2026-11-22T00:00", "2026-11-22T17:30", 0),
    ],
)
def test_since_and_until_take_any_date_and_a_day_counts_whole(
    tmp_path: Path, since: str, until: str, chosen: int
) -> None:
    data = tmp_path / "data"
    for day in range(3):
        a_session(data, participant="P-001", day=day)

    result = sessionroom(
        "export", "--since", since, "--until", until, "--format", "bids", "-o", tmp_path / "study",
        "--data-dir", data, "--config", tmp_path / "none",
    )  # fmt: skip

    if chosen:
        assert result.exit_code == 0, result.output
        assert f"Wrote {chosen} sessions" in result.stderr
    else:
        assert result.exit_code == 2 and "no recorded session matches" in result.stderr


def test_a_session_time_of_weeks_is_refused_for_bids_not_resampled_second_by_second(
    tmp_path: Path,
) -> None:
    journal = a_session(tmp_path / "data", participant="P-001")
    with sqlite3.connect(journal) as connection:  # a damaged clock: some 23 days
        connection.execute("UPDATE events SET t = 2e6 WHERE seq = 3")
    study = tmp_path / "study"

    result = sessionroom("export", journal, "--format", "bids", "-o", study)

    assert result.exit_code == 2
    assert f"{journal}: its session time reaches 2e+06 s" in result.stderr
    assert not study.exists()


def test_a_journal_that_breaks_midway_leaves_no_dataset_and_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    a_session(data, participant="P-001", day=0)
    broken = a_session(data, participant="P-002", day=1)
    with sqlite3.connect(broken) as connection:
        connection.execute("UPDATE events SET payload = '{not json' WHERE seq = 3")
    study = tmp_path / "study"

    result = sessionroom(
        "export", "--all", "--format", "bids", "-o", study, "--data-dir", data,
        "--config", tmp_path / "none",
    )  # fmt: skip

    assert result.exit_code == 2
    assert f"{broken}: damaged journal" in result.output and "nothing was written" in result.output
    assert not study.exists()
    assert list(tmp_path.iterdir()) == [data]  # no staging folder left behind


def test_a_failed_export_into_an_existing_dataset_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    good = a_session(data, participant="P-001")
    study = tmp_path / "study"
    assert sessionroom("export", good, "--format", "bids", "-o", study).exit_code == 0
    before = {path: path.read_bytes() for path in study.rglob("*") if path.is_file()}
    broken = a_session(data, participant="P-002", day=1)
    with sqlite3.connect(broken) as connection:
        connection.execute("UPDATE events SET payload = '{not json' WHERE seq = 3")

    result = sessionroom("export", broken, "--format", "bids", "-o", study)

    assert result.exit_code == 2 and "damaged journal" in result.output
    assert {path: path.read_bytes() for path in study.rglob("*") if path.is_file()} == before


def test_export_files_are_0600_replace_links_and_ignore_planted_temporary_files(
    tmp_path: Path,
) -> None:
    journal = a_session(tmp_path / "data", participant="P-001")
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    target = tmp_path / "timeline.jsonl"
    target.write_text("old")
    target.chmod(0o644)
    (tmp_path / ".timeline.jsonl.partial").symlink_to(victim)  # the old temporary name
    linked = tmp_path / "linked.csv"
    linked.symlink_to(victim)

    assert sessionroom("export", journal, "-o", target).exit_code == 0
    assert sessionroom("export", journal, "--format", "csv", "-o", linked).exit_code == 0
    report = sessionroom("report", journal, "--html", tmp_path / "report.html")

    assert report.exit_code == 0, report.output
    assert victim.read_text() == "keep me"
    for path in (target, linked, tmp_path / "report.html"):
        assert not path.is_symlink()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert target.read_text().count("\n") == 3


@pytest.mark.parametrize(
    "how", ["jsonl", "csv", "mcap", "report png", "report html", "summary", "another journal"]
)
def test_an_export_never_replaces_a_journal(tmp_path: Path, how: str) -> None:
    data = tmp_path / "data"
    journal = a_session(data, participant="P-001")
    other = a_session(data, participant="P-002", day=1)
    args: dict[str, list[str | Path]] = {
        "jsonl": ["export", journal, "-o", journal],
        "csv": ["export", journal, "--format", "csv", "-o", journal],
        "mcap": ["export", journal, "--format", "mcap", "-o", journal],
        "report png": ["report", journal, "--png", journal],
        "report html": ["report", journal, "--html", journal],
        "summary": ["sessions", "--format", "csv", "-o", journal, "--data-dir", data],
        "another journal": ["export", other, "-o", journal],
    }
    before = journal.read_bytes()

    result = sessionroom(*args[how], "--config", tmp_path / "none")

    assert result.exit_code == 2
    assert f"cannot write {journal}: it is an SQLite database" in result.stderr
    assert journal.read_bytes() == before
    assert sorted((data / "sessions").glob("*.sqlite")) == [journal, other]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"short\n", "is 5 bytes; a key needs at least 16"), (b"x" * 100_000, "is larger than")],
)
def test_a_key_file_that_holds_no_short_secret_is_refused(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    journal = a_session(tmp_path / "data", participant="P-001")
    key_file = tmp_path / "study.key"
    key_file.write_bytes(content)
    target = tmp_path / "out.jsonl"

    result = sessionroom("export", journal, "-o", target, "--pseudonymise", key_file)

    assert result.exit_code == 2
    assert reason in result.stderr and str(key_file) in result.stderr
    assert not target.exists()


def test_a_key_file_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    key_file = tmp_path / "study.key"
    os.mkfifo(key_file)
    error = raised_without_waiting(lambda: read_key(key_file), key_file)
    assert isinstance(error, PseudonymKeyError), error
    assert str(error) == f"the key file {key_file} is no plain file (a FIFO, a device or a folder)"


def test_two_rooms_starting_in_the_same_second_keep_two_sessions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    a_session(data / "a", participant="P-001")
    write_journal(data / "a", [], room="room-b", participant="P-001")
    study = tmp_path / "study"

    result = sessionroom(
        "export", "--all", "--format", "bids", "-o", study, "--data-dir", data / "a",
        "--config", tmp_path / "none",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    sessions = read_tsv(study / "sub-Px2d001" / "sub-Px2d001_sessions.tsv")[1:]
    assert sorted(row[4] for row in sessions) == [
        "room-a-20261121T173000Z",
        "room-b-20261121T173000Z",
    ]
    assert len({row[0] for row in sessions}) == 2
    assert len(list(study.glob("sub-Px2d001/ses-*/beh/*_events.tsv"))) == 2
    assert bids_errors(study) == []


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("t", "'soon'", "its session time is not a number"),
        ("t", "9e999", "its session time is not a number"),
        ("wall_ns", "'later'", "its wall time is out of range"),
        ("payload", "'{\"cut'", "its payload is not JSON"),
        ("kind", "X'41'", "its kind is not text"),
        ("device", "X'41'", "its device is not text"),
    ],
)
@pytest.mark.parametrize("format_name", ["jsonl", "csv", "mcap"])
def test_a_damaged_row_fails_the_export_naming_the_event(
    tmp_path: Path, format_name: str, column: str, value: str, reason: str
) -> None:
    journal = a_session(tmp_path / "data", participant="P-001")
    with sqlite3.connect(journal) as connection:
        connection.execute(f"UPDATE events SET {column} = {value} WHERE seq = 2")
    target = tmp_path / f"out.{format_name}"

    result = sessionroom("export", journal, "--format", format_name, "-o", target)

    assert result.exit_code == 2
    assert f"damaged journal (event 2: {reason})" in result.output
    assert not target.exists()


def test_bids_labels_are_distinct_letters_and_digits_and_bounded() -> None:
    codes = ["P-014", "P014", "Px2d014", "x", "", "P 014", "é" * 30, "é" * 30 + "!", "P_014"]

    labels = [bids_label(code) for code in codes]

    assert len(set(labels)) == len(codes)
    assert all(label.isascii() and label.isalnum() and len(label) <= 64 for label in labels)
    assert labels[:2] == ["Px2d014", "P014"]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("t", "'soon'"),
        ("t", "9e999"),
        ("wall_ns", "'later'"),
        ("payload", "'{\"cut'"),
        ("payload", "X'FFFE00'"),
        pytest.param("payload", NESTED_DEEPER_THAN_PYTHON_PARSES, id="payload-nested"),
        ("kind", "X'41'"),
        ("device", "X'41'"),
    ],
)
@pytest.mark.parametrize(
    "how", ["bids", "pseudonymised jsonl", "pseudonymised mcap", "report", "summary", "replay"]
)
def test_a_damaged_row_is_a_clear_error_on_every_path(
    tmp_path: Path, how: str, column: str, value: str
) -> None:
    data = tmp_path / "data"
    journal = a_session(data, participant="P-001")
    with sqlite3.connect(journal) as connection:
        connection.execute(f"UPDATE events SET {column} = {value} WHERE seq = 2")
    key_file = tmp_path / "study.key"
    key_file.write_bytes(KEY)
    target = tmp_path / "out"
    args: dict[str, list[str | Path]] = {
        "bids": ["export", journal, "--format", "bids", "-o", target],
        "pseudonymised jsonl": ["export", journal, "-o", target, "--pseudonymise", key_file],
        "pseudonymised mcap": [
            "export", journal, "--format", "mcap", "-o", target, "--pseudonymise", key_file,
        ],
        "report": ["report", journal, "--html", target],
        "summary": ["sessions", "--format", "csv", "-o", target, "--data-dir", data],
        "replay": ["replay", journal, "--speed", "0"],
    }  # fmt: skip

    result = sessionroom(*args[how], "--config", tmp_path / "none")

    assert f"{journal}: damaged journal (" in result.output
    if how == "summary":  # the table goes on without the damaged session
        assert result.exit_code == 0 and target.read_text().count("\n") == 1
    else:
        assert result.exit_code == 2 and not target.exists()


def test_the_summary_carries_the_baseline_the_timed_readings_and_the_recovery(
    tmp_path: Path,
) -> None:
    write_journal(
        tmp_path,
        [
            (0.0, Event("check", {"check": "baseline", "confirmed": False, "reason": "known"})),
            (900.0, Event("check", {"check": "due", "sensor": "bp-cuff", "asked": True})),
            (930.0, Event("check", {"check": "taken", "sensor": "bp-cuff", "late_s": 30.0})),
            (1800.0, Event("check", {"check": "due", "sensor": "bp-cuff", "asked": True})),
            (2700.0, Event("check", {"check": "missed", "sensor": "bp-cuff"})),
            (3000.0, Event("check", {"check": "recovery", "done": False, "reason": None})),
        ],
    )
    write_journal(
        tmp_path,
        [(0.0, Event("check", {"check": "baseline", "confirmed": True}))],
        wall_ns=START_NS + DAY_NS,
    )

    result = sessionroom("sessions", "--format", "csv", "--data-dir", tmp_path)

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    columns = ("baseline", "readings_due", "readings_taken", "readings_missed", "recovery")
    assert [tuple(row[c] for c in columns) for row in rows] == [
        ("with reason", "2", "1", "1", "skipped"),
        ("confirmed", "0", "0", "0", ""),
    ]
    assert "known" not in result.stdout
