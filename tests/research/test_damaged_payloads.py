"""Journals whose stored payloads were edited by hand: every reader refuses or skips them alike.

A payload stored as bytes, or JSON holding NaN, an infinity or a number no float holds, is
not what the journal writes; each export, the report, a replay and the sessions summary
either refuse the journal as damaged or skip the unreadable reading, with no traceback.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.cli import main
from controller.config import load_room
from controller.journal import Event, SessionMeta
from controller.research.pseudonym import keyed_pseudonym
from controller.research.replay_state import ReplayedRoom
from tests.conftest import REPO
from tests.research.support import START_NS, write_journal

FORMATS = ("jsonl", "csv", "mcap", "bids")


def sessionroom(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def session_with_vitals(data_dir: Path) -> Path:
    """A journal of two oximeter readings, events 2 and 3."""
    vitals = [{"hr": 70, "spo2": 97}, {"hr": 64, "spo2": 95}]
    timeline = [(0.0, Event("phase", {"to": "centering", "planned_s": 60.0}, phase="centering"))]
    timeline += [
        (1.0 + index, Event("vitals", reading, device="oximeter", phase="centering"))
        for index, reading in enumerate(vitals)
    ]
    return write_journal(data_dir, timeline)


def stored(journal: Path, seq: int, payload: str | bytes) -> None:
    with sqlite3.connect(journal) as connection:
        connection.execute("UPDATE events SET payload = ? WHERE seq = ?", (payload, seq))
    connection.close()


def export(journal: Path, format_name: str, target: Path) -> Result:
    return sessionroom("export", journal, "--format", format_name, "-o", target)


def summary(data_dir: Path, target: Path) -> tuple[Result, list[dict[str, str]]]:
    result = sessionroom("sessions", "--data-dir", data_dir, "--format", "csv", "-o", target)
    return result, list(csv.DictReader(io.StringIO(target.read_text("utf-8"), newline="")))


@pytest.mark.parametrize("format_name", FORMATS)
def test_a_payload_stored_as_bytes_is_refused_by_every_export(
    tmp_path: Path, format_name: str
) -> None:
    """SQLite's json_valid takes bytes that spell JSON for JSON; the export must not."""
    journal = session_with_vitals(tmp_path / "data")
    stored(journal, 3, b"{}\x00\xff")
    target = tmp_path / "out"

    result = export(journal, format_name, target)

    assert result.exit_code == 2, result.output
    assert "damaged journal (event 3: its payload is not JSON)" in result.stderr
    assert not target.exists()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "2E+308"])
def test_a_payload_holding_a_number_that_is_not_finite_is_refused_by_every_reader(
    tmp_path: Path, number: str
) -> None:
    data = tmp_path / "data"
    journal = session_with_vitals(data)
    stored(journal, 3, f'{{"hr": {number}, "spo2": 95}}')

    report = sessionroom("report", journal)
    replay = sessionroom("replay", journal, "--speed", "0")
    exports = [export(journal, name, tmp_path / name) for name in FORMATS]
    listing, rows = summary(data, tmp_path / "sessions.csv")

    for refused in (report, replay, *exports):
        assert refused.exit_code == 2, refused.output
        assert "damaged journal (event 3: its payload is not JSON)" in refused.stderr
    assert listing.exit_code == 0, listing.output
    assert "damaged journal (event 3: its payload is not JSON)" in listing.stderr
    assert rows == []


@pytest.mark.parametrize(
    "value",
    ["1" + "0" * 5000, "1" + "0" * 400 + ".5", "[" * 1500 + "]" * 1500],
    ids=["5001 digits", "a float of 401 digits", "nested 1500 deep"],
)
def test_a_payload_only_sqlite_reads_is_refused_by_every_export_as_by_the_report(
    tmp_path: Path, value: str
) -> None:
    """SQLite's JSON takes integers of any length, numbers beyond a float and nesting up to
    2,000 deep; Python's does not (the report refused the journal): the JSONL, CSV and MCAP
    exports, read by SQLite, wrote such a payload, which a researcher's reader refuses."""
    journal = session_with_vitals(tmp_path / "data")
    stored(journal, 3, f'{{"hr": {value}, "spo2": 95}}')

    for result in [sessionroom("report", journal)] + [
        export(journal, name, tmp_path / name) for name in FORMATS
    ]:
        assert result.exit_code == 2, result.output
        assert "damaged journal (event 3: its payload is not JSON)" in result.stderr


def test_a_wire_payload_python_reads_as_no_json_is_exported_as_its_text(tmp_path: Path) -> None:
    """A device command's wire payload is exported as its JSON value where it is JSON, as its
    text where not: `{"level": 1e999}` is text to Python (an infinity is no JSON value), as
    the export of the journal's events wrote it, but was a number to SQLite's export."""
    wire = '{"level": 1e999}'
    command = Event("command", {"payload": wire}, device="lamp", topic="lamp/set")
    journal = write_journal(tmp_path / "data", [(0.0, command)])
    key = tmp_path / "study.key"
    key.write_text("k" * 32)

    for options in ((), ("--pseudonymise", key)):
        target = tmp_path / "timeline.jsonl"
        result = sessionroom("export", journal, "--format", "jsonl", "-o", target, *options)
        assert result.exit_code == 0, result.output
        [record] = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
        assert record["payload"] == wire


def test_a_payload_with_line_breaks_between_its_values_is_one_jsonl_line(tmp_path: Path) -> None:
    journal = session_with_vitals(tmp_path / "data")
    stored(journal, 3, '{"hr": 64,\r\n "spo2": 95}\n')
    target = tmp_path / "timeline.jsonl"

    result = export(journal, "jsonl", target)

    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert [record["payload"] for record in records][1:] == [
        {"hr": 70, "spo2": 97},
        {"hr": 64, "spo2": 95},
    ]


def test_a_reading_no_float_holds_is_skipped_like_any_unreadable_value(tmp_path: Path) -> None:
    data = tmp_path / "data"
    journal = session_with_vitals(data)
    stored(journal, 3, '{"hr": 1' + "0" * 4000 + ', "spo2": 95}')

    report = sessionroom("report", journal)
    replay = sessionroom("replay", journal, "--speed", "0")
    bids = export(journal, "bids", tmp_path / "bids")
    listing, rows = summary(data, tmp_path / "sessions.csv")

    for result in (report, replay, bids, listing):
        assert result.exit_code == 0, result.output
    assert "oximeter: spo2 95" in replay.stdout
    assert [(row["hr_min"], row["hr_max"], row["spo2_min"]) for row in rows] == [("70", "70", "95")]


def test_a_phase_length_whose_sum_overflows_is_no_length(tmp_path: Path) -> None:
    """Each finite, the plan's 1.7e308 s and an extension of as much overflow to infinity as
    the report, its timeline and the summary add them; such a length is read as none."""
    data = tmp_path / "data"
    huge = 1.7e308
    timeline = [
        (0.0, Event("phase", {"to": "centering", "planned_s": huge}, phase="centering")),
        (1.0, Event("operator", {"action": "extend", "seconds": huge}, phase="centering")),
        (2.0, Event("operator", {"action": "extend", "seconds": huge}, phase="centering")),
        (3.0, Event("session", {"event": "end"}, phase="centering")),
    ]
    journal = write_journal(data, timeline)

    report = sessionroom(
        "report", journal, "--png", tmp_path / "t.png", "--html", tmp_path / "r.html"
    )
    listing, rows = summary(data, tmp_path / "sessions.csv")
    bids = export(journal, "bids", tmp_path / "bids")

    for result in (report, listing, bids):
        assert result.exit_code == 0, result.output
    assert "  centering  0:00      ?        —         3s      ?" in report.stdout
    assert [(row["centering_planned_s"], row["extension_s"]) for row in rows] == [("", "0")]
    [events] = (tmp_path / "bids").rglob("*_events.tsv")
    assert "inf" not in events.read_text("utf-8")


def test_a_bls_set_of_no_mode_or_length_the_report_can_write_is_reported_with_question_marks(
    tmp_path: Path,
) -> None:
    """A BLS start whose mode is a list and which names neither passes nor seconds: the
    report ended with a TypeError (a list is no text to escape, None no number to format)."""
    start = {"bls": "start", "speed_hz": 1.0, "mode": ["tactile"]}
    timeline = [(1.0, Event("command", start, device="tappers", phase="centering"))]
    journal = write_journal(tmp_path / "data", timeline)

    report = sessionroom("report", journal)

    assert report.exit_code == 0, report.output
    assert "  0:01  tappers  ?     1 Hz   ?      0s      session end" in report.stdout


@pytest.mark.parametrize("outage", ['"long"', "1" + "0" * 400])
def test_a_broker_outage_of_no_readable_length_is_replayed_as_a_connection(
    tmp_path: Path, outage: str
) -> None:
    """Text, or an integer no float holds, as the outage's length: the replay ended with a
    ValueError or an OverflowError (formatted as a number of seconds)."""
    back = Event("broker", {"connected": True, "outage_s": 2.5})
    journal = write_journal(tmp_path / "data", [(1.0, back)])
    stored(journal, 1, f'{{"connected": true, "outage_s": {outage}}}')

    replay = sessionroom("replay", journal, "--speed", "0")

    assert replay.exit_code == 0, replay.output
    assert "broker connected" in replay.stdout


@pytest.mark.parametrize(
    "start",
    [
        {"speed_hz": 1e308, "seconds": 30},
        {"speed_hz": 1e-308, "passes": 3},
        {"speed_hz": 1.0, "passes": 10**400},
        {"speed_hz": 1.0, "seconds": 1e308},
    ],
)
def test_a_bls_start_the_gate_lets_through_no_set_of_is_no_set_in_a_replayed_room(
    start: dict[str, float],
) -> None:
    """The state a replay into a simulated room publishes: such a set's length or pass count
    overflowed to infinity (OverflowError) as it was drawn."""
    meta = SessionMeta("s", "room-a", "standard", "P-017", 1000.0, START_NS, None, False)
    room = ReplayedRoom("replayed", meta, None)
    room.apply(Event("command", {"bls": "start", "mode": "tactile", **start}, device="tappers"))

    assert not room.snapshot(1.0, published_ns=START_NS).bls.running


@pytest.mark.parametrize("format_name", FORMATS)
def test_a_participant_code_holding_a_lone_surrogate_is_pseudonymised(
    tmp_path: Path, format_name: str
) -> None:
    """A session start whose participant is `P\\ud800` (JSON escapes spell it): every
    pseudonymised export ended with a UnicodeEncodeError hashing it."""
    journal = session_with_vitals(tmp_path / "data")
    stored(journal, 1, '{"event": "start", "participant": "P\\ud800"}')
    key = tmp_path / "study.key"
    key.write_text("k" * 32)
    target = tmp_path / "out"

    result = sessionroom(
        "export", journal, "--format", format_name, "-o", target, "--pseudonymise", key
    )

    assert result.exit_code == 0, result.output
    if format_name == "jsonl":
        first = json.loads(target.read_text("utf-8").splitlines()[0])
        assert first["payload"]["participant"] == keyed_pseudonym("P\ud800", b"k" * 32)


def test_a_scene_name_or_reading_of_the_wrong_type_is_none_in_a_replayed_room() -> None:
    """The state a replay into a simulated room publishes is validated: a scene named by a
    list, a heart rate of text ended the replay with a ValidationError."""
    meta = SessionMeta("s", "room-a", "standard", "P-017", 1.0, START_NS, None, False)
    room = ReplayedRoom("replayed", meta, None)
    room.apply(Event("scene", {"name": ["calm"]}))
    room.apply(Event("vitals", {"hr": "high", "spo2": 97, "sys": [120]}, device="oximeter"))

    state = room.snapshot(1.0, published_ns=START_NS)

    assert state.scene is None
    assert state.vitals["oximeter"].model_dump(exclude_none=True) == {"spo2": 97}


def test_readings_too_large_to_average_are_no_readings(tmp_path: Path) -> None:
    """Two heart rates of 1.7e308, each finite: the report's mean ended with an
    OverflowError (fsum), the summary's median was infinite."""
    data = tmp_path / "data"
    journal = session_with_vitals(data)
    stored(journal, 2, '{"hr": 1.7e308, "spo2": 97}')
    stored(journal, 3, '{"hr": 1.7e308, "spo2": 95}')

    report = sessionroom("report", journal)
    listing, rows = summary(data, tmp_path / "sessions.csv")

    assert report.exit_code == 0, report.output
    assert "  oximeter  hr" not in report.stdout
    assert listing.exit_code == 0, listing.output
    assert [(row["hr_median"], row["spo2_median"]) for row in rows] == [("", "96")]


def test_a_lone_surrogate_or_a_huge_reading_leaves_a_replayed_room_publishable() -> None:
    """A scene named `calm\\ud800` (JSON escapes spell it) could not be published as JSON
    (PydanticSerializationError); a systolic pressure of 400 digits ended the replay in the
    alert board (OverflowError): the engine never received one, `read_json` refuses it."""
    meta = SessionMeta("s", "room-a", "standard", "P-017", 1.0, START_NS, None, False)
    room = ReplayedRoom("replayed", meta, None)
    room.apply(Event("scene", {"name": "calm\ud800"}))
    room.apply(Event("vitals", {"hr": 72, "sys": 10**400}, device="oximeter"))

    state = json.loads(room.snapshot(1.0, published_ns=START_NS).model_dump_json())

    assert state["scene"] == "calm\ufffd"
    assert state["vitals"]["oximeter"]["hr"] == 72


def test_a_run_record_no_float_holds_is_no_progress_in_a_replayed_room() -> None:
    """The phase's start as an integer of 400 digits: restoring the run ended the replay into
    a simulated room with an OverflowError."""
    room = load_room(REPO / "config.yaml")
    meta = SessionMeta("s", "room-a", "rehearsal", "P-017", 1.0, START_NS, None, False)
    replayed = ReplayedRoom("replayed", meta, room)
    run = {"phase_index": 0, "phase_started": 10**400, "held": False, "extended_s": 0.0}
    replayed.apply(Event("operator", {"action": "hold", "run": {**run, "fired_cues": []}}))

    assert replayed.snapshot(1.0, published_ns=START_NS).phase is None
