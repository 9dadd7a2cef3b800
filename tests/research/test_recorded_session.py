"""The recorded rehearsal through the research tools: analysis, report, BIDS and JSONL export."""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from mcap.reader import make_reader

from controller.cli import main
from controller.journal import EVENT_KINDS, Event, read_events
from controller.research.analysis import SessionAnalysis, analyse
from controller.research.bids import read_tsv
from controller.research.sessions import session_meta
from tests.research.conftest import NOTE, PARTICIPANT, RecordedSession
from tests.research.support import bids_errors


def sessionroom(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def analysis(recorded: RecordedSession) -> SessionAnalysis:
    return analyse(
        session_meta(recorded.path),
        read_events(recorded.path),
    )


def test_the_analysis_finds_every_phase_with_its_planned_length(
    analysis: SessionAnalysis,
) -> None:
    assert [(p.name, p.planned_s, p.began) for p in analysis.phases] == [
        ("centering", 60.0, "start"),
        ("peak", 90.0, "auto"),
        ("return", 60.0, "auto"),
        ("integration", 90.0, "auto"),
    ]
    peak = analysis.phases[1]
    assert peak.extended_s == 30.0
    # A hold stops the automatic advance, not the phase clock: released before the planned
    # end, the peak still ends on time (90 s planned + 30 s extension).
    assert peak.held_s > 0
    assert peak.duration_s == pytest.approx(90 + 30, abs=0.01)


def test_the_analysis_finds_holds_bls_sets_outages_alerts_and_the_note(
    analysis: SessionAnalysis,
) -> None:
    assert [hold.label for hold in analysis.holds] == ["peak", "integration"]  # hold; emergency
    # passes take real time (8 at 1 Hz: 8 s), longer than phases last at time scale 40, so
    # how each set ended depends on the moment: each says why
    assert sorted(span.speed_hz for span in analysis.bls_sets) == [1.0, 1.5]
    ends = {"set complete", "scene", "restarted", "emergency", "operator"}
    assert {span.ended for span in analysis.bls_sets} <= ends
    assert "strip" in {span.label for span in analysis.dropouts}
    assert len(analysis.broker_outages) == 1
    assert [alert.category for alert in analysis.alerts][:2] == ["alert", "alert_cleared"]
    assert "131" in analysis.alerts[0].text
    assert [note.text for note in analysis.notes] == [NOTE]
    assert [s.name for s in analysis.safety] == ["emergency start", "emergency cleared"]
    assert 0.5 in [level for _, level in analysis.volume]
    assert {"ceiling", "strip"} <= set(analysis.light_levels)


def test_the_report_prints_every_section_and_draws_the_timeline(
    recorded: RecordedSession, tmp_path: Path
) -> None:
    png, page = tmp_path / "timeline.png", tmp_path / "report.html"
    result = sessionroom(
        "report", recorded.path, "--png", png, "--html", page, "--config", tmp_path / "none"
    )

    assert result.exit_code == 0, result.output
    for title in ("Phases against the plan", "Holds and extensions", "BLS sets", "Vitals"):
        assert title in result.stdout
    assert "2 sets" in result.stdout and "MQTT broker" in result.stdout
    assert NOTE not in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
    assert "data:image/png;base64," in page.read_text()


def bids_folder(recorded: RecordedSession, folder: Path, *extra: str | Path) -> Path:
    result = sessionroom("export", recorded.path, "--format", "bids", "-o", folder, *extra)
    assert result.exit_code == 0, result.output
    [data] = folder.glob("sub-*/ses-*/beh")
    return data


def test_bids_events_have_onset_duration_trial_type_first_and_are_sorted(
    recorded: RecordedSession, tmp_path: Path
) -> None:
    data = bids_folder(recorded, tmp_path / "bids")
    [events] = data.glob("*_events.tsv")
    header, *rows = read_tsv(events)

    assert header[:3] == ["onset", "duration", "trial_type"]
    onsets = [float(row[0]) for row in rows]
    assert onsets == sorted(onsets)
    assert all(float(row[1]) >= 0 for row in rows)
    kinds = {row[2] for row in rows}
    assert {"phase", "hold", "bls_set", "operator", "cue", "alert", "safety"} <= kinds
    assert "note" not in kinds and NOTE not in events.read_text()
    phases = [row for row in rows if row[2] == "phase"]
    assert [row[3] for row in phases] == ["centering", "peak", "return", "integration"]
    assert all(float(row[1]) > 0 for row in phases)
    sidecar = json.loads(events.with_suffix(".json").read_text())
    assert set(header) <= set(sidecar) and "Levels" in sidecar["trial_type"]
    # P-014 and P014 must not share a label: the dash is written as x and its hex
    assert events.name.startswith("sub-Px2d014_ses-")


def test_bids_physio_is_one_row_per_second_described_by_its_sidecar(
    recorded: RecordedSession, analysis: SessionAnalysis, tmp_path: Path
) -> None:
    data = bids_folder(recorded, tmp_path / "bids")
    [physio] = data.glob("*_physio.tsv.gz")
    rows = [line.split("\t") for line in gzip.decompress(physio.read_bytes()).decode().split("\n")]
    rows = [row for row in rows if row != [""]]
    sidecar = json.loads(physio.with_name(physio.name.replace(".tsv.gz", ".json")).read_text())

    assert sidecar["SamplingFrequency"] == 1.0 and sidecar["StartTime"] == 0.0
    assert {len(row) for row in rows} == {len(sidecar["Columns"])}
    assert len(rows) == int(analysis.end_t) + 1
    hr = sidecar["Columns"].index("oximeter_hr")
    assert "131" in [row[hr] for row in rows]
    assert sidecar["oximeter_hr"]["Units"] == "bpm"


def test_notes_are_exported_to_bids_only_when_asked(
    recorded: RecordedSession, tmp_path: Path
) -> None:
    data = bids_folder(recorded, tmp_path / "bids", "--include-notes")
    [events] = data.glob("*_events.tsv")

    assert f"note: {NOTE}" in events.read_text()


def test_pseudonymised_exports_never_hold_the_participant_code(
    recorded: RecordedSession, tmp_path: Path
) -> None:
    key_file = tmp_path / "study.key"
    key_file.write_text("a secret of the study, kept elsewhere\n")
    expected = hmac.new(
        b"a secret of the study, kept elsewhere", PARTICIPANT.encode(), hashlib.sha256
    ).hexdigest()[:12]

    bids = tmp_path / "bids"
    bids_folder(recorded, bids, "--pseudonymise", key_file)
    jsonl = tmp_path / "timeline.jsonl"
    result = sessionroom("export", recorded.path, "-o", jsonl, "--pseudonymise", key_file)

    assert result.exit_code == 0, result.output
    assert [path.name for path in bids.glob("sub-*")] == [f"sub-{expected}"]
    for path in [*bids.rglob("*.tsv"), *bids.rglob("*.json"), jsonl]:
        assert PARTICIPANT not in path.read_text(), path
    assert expected in jsonl.read_text()
    mcap = tmp_path / "session.mcap"
    result = sessionroom(
        "export", recorded.path, "--format", "mcap", "-o", mcap, "--pseudonymise", key_file
    )
    assert result.exit_code == 0, result.output
    with mcap.open("rb") as stream:
        reader = make_reader(stream)
        texts = [message.data.decode() for _, _, message in reader.iter_messages()]
        [session] = [record.metadata for record in reader.iter_metadata()]
    assert session["participant"] == expected
    assert not any(PARTICIPANT in text for text in texts) and any(expected in t for t in texts)


def test_a_short_key_is_refused_with_a_reason(recorded: RecordedSession, tmp_path: Path) -> None:
    key_file = tmp_path / "short.key"
    key_file.write_text("abc")

    result = sessionroom("export", recorded.path, "--pseudonymise", key_file)

    assert result.exit_code == 2
    assert "a key needs at least 16" in result.output


def test_the_jsonl_export_keeps_the_contract(recorded: RecordedSession) -> None:
    result = sessionroom("export", recorded.path)
    records = [json.loads(line) for line in result.stdout.splitlines()]

    assert all(
        list(r) == ["seq", "t", "wall", "phase", "kind", "device", "topic", "payload"]
        for r in records
    )
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert {r["kind"] for r in records} <= set(EVENT_KINDS)
    assert all(r["wall"].endswith("Z") and isinstance(r["t"], float) for r in records)


def as_sent(wire_payload: str) -> Any:
    """A wire payload as the export contract promises it: JSON value if JSON, else the text."""
    try:
        return json.loads(wire_payload)
    except ValueError:
        return wire_payload


def test_device_command_payloads_are_what_the_broker_carried(recorded: RecordedSession) -> None:
    records = [
        json.loads(line) for line in sessionroom("export", recorded.path).stdout.split("\n") if line
    ]
    commands = [
        (r["topic"], r["payload"]) for r in records if r["kind"] == "command" and r["topic"]
    ]
    topics = {topic for topic, _ in commands}
    # The engine sends a few commands as a session starts, before its journal exists (their
    # events carry no seq); the comparison starts at the first journaled event on the wire.
    first = next(
        n
        for n, (topic, payload) in enumerate(recorded.wire)
        if topic.endswith("/events") and json.loads(payload)["seq"] is not None
    )
    on_the_wire = [
        (topic, as_sent(payload)) for topic, payload in recorded.wire[first:] if topic in topics
    ]

    # A JSON wire payload is exported as its value, never as text to parse a second time.
    assert {type(payload) for _, payload in commands} <= {dict, str, list, int, float}
    assert any(isinstance(payload, dict) and "brightness" in payload for _, payload in commands)
    # Per topic, the subscriber saw the commands in the order the journal holds them, with
    # equal payloads (which it missed: see the next test).
    for topic in topics:
        exported = [payload for t, payload in commands if t == topic]
        seen = [payload for t, payload in on_the_wire if t == topic]
        remaining = iter(exported)
        assert all(payload in remaining for payload in seen), topic
    assert on_the_wire
    # CSV carries the JSON text of the same values.
    rows = list(
        csv.DictReader(
            io.StringIO(sessionroom("export", recorded.path, "--format", "csv").stdout, newline="")
        )
    )
    assert [json.loads(row["payload"]) for row in rows] == [r["payload"] for r in records]


def missing_from_the_wire(commands: list[Event], wire: list[tuple[str, str]]) -> list[Event]:
    """The commands the wire did not carry in the journal's order: per topic, each command is
    looked for on the wire after the message found for the command before it."""
    missing = []
    for topic in {command.topic for command in commands}:
        carried = [payload for t, payload in wire if t == topic]
        found = 0
        for command in (command for command in commands if command.topic == topic):
            assert isinstance(command.payload, dict)
            payload = command.payload["payload"]
            at = next((n for n in range(found, len(carried)) if carried[n] == payload), None)
            if at is None:
                missing.append(command)
            else:
                found = at + 1
    return sorted(missing, key=lambda command: command.seq)


def test_every_command_journaled_outside_the_broker_outage_went_out_on_the_wire(
    recorded: RecordedSession,
) -> None:
    """While the broker is away the engine keeps a light's newest target only (by design), so
    a command journaled from the broker's stop until the engine is back may never go out; nor
    can the subscriber see what passes before its own subscription is back. Every command
    journaled before or after that went out, in the journal's order, but one the journal
    says was dropped rather than sent late."""
    events = list(read_events(recorded.path))
    [lost, back] = [event for event in events if event.kind == "broker"]
    assert isinstance(lost.payload, dict) and lost.payload["connected"] is False
    assert isinstance(back.payload, dict) and back.payload["connected"] is True
    stopped_ns, resubscribed_ns = recorded.blind_ns
    assert stopped_ns <= lost.wall_ns <= back.wall_ns
    outage = range(stopped_ns, max(back.wall_ns, resubscribed_ns) + 1)
    commands = [event for event in events if event.kind == "command" and event.topic]
    before = [command for command in commands if command.wall_ns < outage.start]
    after = [command for command in commands if command.wall_ns >= outage.stop]
    assert before and after

    missing = missing_from_the_wire(before + after, recorded.wire_to_the_end)

    never_sent = not_told_unsent(missing, events)
    assert never_sent == [], [(c.seq, c.topic, c.payload) for c in never_sent]


def not_told_unsent(missing: list[Event], events: list[Event]) -> list[Event]:
    """The commands of `missing` the journal does not say were dropped rather than sent late
    (a light bar's set start, a headset's volume step, docs/robustness.md#queueing). Each
    payload an `error` event lists as `unsent` accounts for one command of its device with
    that payload, journaled before it and not yet accounted for: a set or a step of the
    same value lost again, or journaled after the loss was told, is not excused by it."""
    waiting: dict[tuple[str | None, str], list[Event]] = {}
    excused: set[int] = set()
    missing_seqs = {command.seq for command in missing}
    for event in events:
        if not isinstance(event.payload, dict):
            continue
        if event.kind == "command" and event.seq in missing_seqs:
            waiting.setdefault((event.device, event.payload.get("payload")), []).append(event)
        elif event.kind == "error":
            for payload in event.payload.get("unsent", []):
                candidates = waiting.get((event.device, payload))
                if candidates:
                    excused.add(candidates.pop(0).seq)
    return [command for command in missing if command.seq not in excused]


def test_a_command_told_unsent_once_excuses_one_missing_command_journaled_before() -> None:
    """The excuse above counts: two sets of the same start missing from the wire, the
    journal saying one was dropped, leave the other missing; so does a start journaled
    after the loss it would match."""
    start = '{"running":true,"mode":"visual","speed_hz":1.0,"passes":2,"duration_s":null}'
    bar = "bls/lightbar/set"

    def command(seq: int) -> Event:
        return Event("command", {"payload": start}, device="lightbar", topic=bar, seq=seq)

    lost = Event("error", {"error": "lost", "unsent": [start]}, device="lightbar", seq=3)
    first, second, later = command(1), command(2), command(4)
    events = [first, second, lost, later]

    assert not_told_unsent([first], events) == []
    assert not_told_unsent([first, second], events) == [second]
    assert not_told_unsent([later], events) == [later]


def test_the_bids_validator_finds_no_error(recorded: RecordedSession, tmp_path: Path) -> None:
    folder = tmp_path / "bids"
    bids_folder(recorded, folder)

    assert bids_errors(folder) == []


def test_the_session_summary_is_one_csv_row_with_what_happened(
    recorded: RecordedSession, tmp_path: Path
) -> None:
    result = sessionroom(
        "sessions", "--format", "csv", "--data-dir", recorded.data_dir, "--config", tmp_path / "no"
    )

    assert result.exit_code == 0, result.output
    [row] = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert (row["session"], row["plan"], row["participant"]) == (
        recorded.session_id,
        "rehearsal",
        PARTICIPANT,
    )
    assert [float(row[f"{phase}_planned_s"]) for phase in ("centering", "peak")] == [60, 90]
    assert float(row["peak_actual_s"]) == pytest.approx(120, abs=0.01)
    assert (row["holds"], row["extensions"], row["extension_s"]) == ("2", "1", "30")
    assert (row["overrides_lights"], row["overrides_volume"], row["overrides_bls"]) == (
        "1",
        "1",
        "1",
    )
    assert (row["bls_sets"], row["emergencies"], row["broker_outages"]) == ("2", "1", "1")
    assert int(row["alerts"]) >= 1 and int(row["device_outages"]) >= 1
    assert float(row["hr_max"]) == 131 and float(row["hr_min"]) <= float(row["hr_median"]) <= 131
    assert row["status"] == "ended cleanly"
    header = result.stdout.splitlines()[0].split(",")
    assert header.index("duration_s") < header.index("centering_planned_s") < header.index("holds")


def test_the_mcap_export_reads_back_with_the_journals_counts_and_times(
    recorded: RecordedSession, analysis: SessionAnalysis, tmp_path: Path
) -> None:
    target = tmp_path / "session.mcap"
    result = sessionroom("export", recorded.path, "--format", "mcap", "-o", target)
    assert result.exit_code == 0, result.output

    with target.open("rb") as stream:
        reader = make_reader(stream)
        read = [
            (schema, channel.topic, message, json.loads(message.data))
            for schema, channel, message in reader.iter_messages(log_time_order=False)
        ]
        metadata = {record.name: record.metadata for record in reader.iter_metadata()}
    events = list(read_events(recorded.path))
    timeline = [item for item in read if not item[1].startswith("/room/")]

    assert len(timeline) == len(events)
    for (_, topic, message, data), event in zip(timeline, events, strict=True):
        assert topic == (f"/{event.kind}/{event.device}" if event.device else f"/{event.kind}")
        assert message.log_time == round(event.t * 1e9)  # the session clock
        assert message.publish_time == event.wall_ns
        assert (data["seq"], data["kind"]) == (event.seq, event.kind)
    phases = [data["phase"] for _, topic, _, data in read if topic == "/room/phase"]
    assert phases == [phase.name for phase in analysis.phases]
    [vitals_schema] = {schema.data for schema, topic, _, _ in read if topic == "/vitals/oximeter"}
    assert json.loads(vitals_schema)["properties"]["payload"]["properties"]["hr"] == {
        "type": "number"
    }
    assert 131 in [
        data["payload"]["hr"] for _, topic, _, data in read if topic == "/vitals/oximeter"
    ]
    ceiling = [data["level"] for _, topic, _, data in read if topic == "/room/light/ceiling"]
    assert ceiling and all(0 <= level <= 1 for level in ceiling)
    assert any(topic.startswith("/room/volume/") for _, topic, _, _ in read)
    session = metadata["session"]
    assert (session["plan"], session["room"], session["time_scale"]) == (
        "rehearsal",
        recorded.room.room_id,
        "40",
    )
    assert session["participant"] == PARTICIPANT
