"""The export contract of docs/control-api.md: JSONL and CSV, one record per event in seq order."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.journal import EVENT_KINDS, Event, Journal, read_events
from controller.journal.export import (
    COLUMNS,
    LABELS_REMEMBERED,
    Labels,
    export_session,
    iso_wall,
    wire_value,
)
from tests.journal.conftest import JournalFactory
from tests.journal.support import START_NS

WALL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def recorded_session(new_journal: JournalFactory) -> Journal:
    """A short session touching every column: devices, topics, phases, notes and null payloads."""
    journal = new_journal()
    timeline: list[tuple[float, Event]] = [
        (0.0, Event("session", {"action": "start", "plan": "standard"})),
        (0.0, Event("phase", {"to": "centering", "index": 0}, phase="centering")),
        (
            0.25,
            Event(
                "command",
                {"state": "ON", "brightness": 89, "transition": 8},
                device="ceiling",
                topic="zigbee2mqtt/ceiling/set",
                phase="centering",
            ),
        ),
        (61.5, Event("note", "Breathing slowed, hands relaxed.", phase="centering")),
        (62, Event("availability", {"available": "offline"}, device="bls-bar", phase="centering")),
        (63.0, Event("broker", None)),
    ]
    for t, event in timeline:
        journal.append(event, t=t, wall_ns=START_NS + int(t * 1e9))
    journal.close(ended_cleanly=True)
    return journal


def exported(path: Path, format_name: str) -> str:
    out = io.StringIO()
    export_session(path, out, format_name=format_name)
    return out.getvalue()


def test_jsonl_has_one_contract_record_per_line_in_seq_order(new_journal: JournalFactory) -> None:
    journal = recorded_session(new_journal)

    lines = exported(journal.path, "jsonl").splitlines()
    records = [json.loads(line) for line in lines]

    assert len(records) == 6
    for record in records:
        assert list(record) == list(COLUMNS)
        assert type(record["seq"]) is int
        assert type(record["t"]) is float
        assert WALL.match(record["wall"])
        assert record["phase"] is None or isinstance(record["phase"], str)
        assert record["kind"] in EVENT_KINDS
        assert record["device"] is None or isinstance(record["device"], str)
        assert record["topic"] is None or isinstance(record["topic"], str)
        assert record["payload"] is None or isinstance(record["payload"], dict | str)
    assert [record["seq"] for record in records] == [1, 2, 3, 4, 5, 6]
    assert records[2] == {
        "seq": 3,
        "t": 0.25,
        "wall": "2026-11-21T17:30:00.250000Z",
        "phase": "centering",
        "kind": "command",
        "device": "ceiling",
        "topic": "zigbee2mqtt/ceiling/set",
        "payload": {"state": "ON", "brightness": 89, "transition": 8},
    }
    assert records[3]["kind"] == "note"
    assert records[3]["payload"] == "Breathing slowed, hands relaxed."
    assert records[4]["t"] == 62.0
    assert records[5]["payload"] is None


def test_wall_is_iso_8601_utc_to_the_microsecond() -> None:
    assert iso_wall(START_NS) == "2026-11-21T17:30:00.000000Z"
    assert iso_wall(START_NS + 123_456_789) == "2026-11-21T17:30:00.123456Z"
    assert iso_wall(START_NS + 999_999_999) == "2026-11-21T17:30:00.999999Z"
    assert iso_wall(0) == "1970-01-01T00:00:00.000000Z"


def test_an_export_forgets_labels_rather_than_grow_with_a_journal_of_new_ones() -> None:
    calls: list[str] = []
    labels = Labels(lambda phase, kind, device, topic: calls.append(kind) or f"<{kind}>")
    kinds = [f"kind-{n}" for n in range(3 * LABELS_REMEMBERED)]

    parts = [labels[json.dumps([None, kind, None, None])] for kind in [*kinds, kinds[-1]]]

    assert parts == [f"<{kind}>" for kind in [*kinds, kinds[-1]]]
    assert calls == kinds  # the last one was remembered
    assert len(labels) <= LABELS_REMEMBERED


def test_csv_has_the_same_columns_with_the_payload_as_json_text(
    new_journal: JournalFactory,
) -> None:
    journal = recorded_session(new_journal)
    jsonl = [json.loads(line) for line in exported(journal.path, "jsonl").splitlines()]

    rows = list(csv.reader(io.StringIO(exported(journal.path, "csv"))))

    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 1 + len(jsonl)
    for row, record in zip(rows[1:], jsonl, strict=True):
        seq, t, wall, phase, kind, device, topic, payload = row
        assert (int(seq), float(t), wall, kind) == (
            record["seq"],
            record["t"],
            record["wall"],
            record["kind"],
        )
        assert (phase or None, device or None, topic or None) == (
            record["phase"],
            record["device"],
            record["topic"],
        )
        assert json.loads(payload) == record["payload"]
    assert rows[4][7] == '"Breathing slowed, hands relaxed."'
    assert rows[6][7] == "null"


def test_an_open_session_exports_what_is_on_disk_so_far(new_journal: JournalFactory) -> None:
    journal = new_journal()
    journal.append(Event("note", "first"), t=1.0, wall_ns=START_NS)
    assert journal.flush()

    assert [
        json.loads(line)["payload"] for line in exported(journal.path, "jsonl").splitlines()
    ] == ["first"]


def test_a_lone_surrogate_in_a_note_still_exports_valid_json(new_journal: JournalFactory) -> None:
    journal = new_journal()
    journal.append(Event("note", "broken \udc80 text"), t=0.0, wall_ns=START_NS)
    journal.close(ended_cleanly=True)

    line = exported(journal.path, "jsonl")

    assert line.encode("utf-8")
    assert json.loads(line)["payload"] == "broken \udc80 text"


def test_unicode_line_separators_inside_a_note_keep_the_record_on_one_line(
    new_journal: JournalFactory,
) -> None:
    text = "one\u2028two\u2029three\x85four\nfive"
    journal = new_journal()
    journal.append(Event("note", text), t=0.0, wall_ns=START_NS)
    journal.close(ended_cleanly=True)

    exported_text = exported(journal.path, "jsonl")

    assert len(exported_text.splitlines()) == 1
    assert json.loads(exported_text)["payload"] == text


def test_progress_is_reported_while_exporting(new_journal: JournalFactory) -> None:
    journal = new_journal()
    for n in range(2500):
        journal.append(Event("state", {"n": n}), t=n, wall_ns=START_NS)
    journal.close(ended_cleanly=True)
    reported: list[int] = []

    export_session(journal.path, io.StringIO(), format_name="jsonl", progress=reported.append)

    assert reported == [1000, 2000, 2500]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.none() | st.text() | st.dictionaries(st.text(), json_values, max_size=5)
optional_names = st.none() | st.text(min_size=1, max_size=20)
events = st.builds(
    Event,
    kind=st.sampled_from(EVENT_KINDS),
    payload=payloads,
    device=optional_names,
    topic=optional_names,
    phase=optional_names,
)
timed_events = st.tuples(
    events,
    st.floats(min_value=0, max_value=1e7, allow_nan=False),
    st.integers(min_value=0, max_value=2**63 - 1),
)


def is_device_command(event: Event) -> bool:
    """Recorded as the engine records what it sent a device: `{"payload": <wire text>}`."""
    payload = event.payload
    return (
        event.kind == "command"
        and event.topic is not None
        and isinstance(payload, dict)
        and list(payload) == ["payload"]
        and isinstance(payload["payload"], str)
    )


def test_a_device_command_exports_the_wire_payload_as_json_where_it_is_json(
    new_journal: JournalFactory,
) -> None:
    journal = new_journal()
    sent = ['{"state":"ON","brightness":76}', "Dimmer 40; Power ON", "[1, 2]", "NaN", "7", ""]
    for n, wire in enumerate(sent):
        journal.append(Event("command", {"payload": wire}, device="d", topic="t"), t=n, wall_ns=0)
    journal.append(Event("command", {"volume": 0.5}, device="music"), t=9, wall_ns=0)
    both = {"payload": "7", "more": 1}  # not the engine's record of a wire payload: as recorded
    journal.append(Event("command", both, device="d", topic="t"), t=10, wall_ns=0)
    journal.close(ended_cleanly=True)

    records = [json.loads(line) for line in exported(journal.path, "jsonl").splitlines()]
    rows = list(csv.DictReader(io.StringIO(exported(journal.path, "csv"))))

    expected = [{"state": "ON", "brightness": 76}, "Dimmer 40; Power ON", [1, 2], "NaN", 7, ""]
    assert [record["payload"] for record in records] == [*expected, {"volume": 0.5}, both]
    assert [json.loads(row["payload"]) for row in rows] == [*expected, {"volume": 0.5}, both]


@settings(max_examples=30, deadline=None)
@given(st.lists(timed_events, max_size=25))
def test_any_sequence_of_events_round_trips_through_journal_and_jsonl(
    timeline: list[tuple[Event, float, int]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal.create(
            Path(folder),
            room="room-a",
            plan="standard",
            participant="P-017",
            time_scale=1.0,
            wall_ns=START_NS,
            on_alert=lambda message: None,
        )
        for event, t, wall_ns in timeline:
            journal.append(event, t=t, wall_ns=wall_ns)
        journal.close(ended_cleanly=True)
        records = [json.loads(line) for line in exported(journal.path, "jsonl").splitlines()]
        assert len(list(read_events(journal.path))) == len(timeline)

    expected: list[dict[str, Any]] = [
        {
            "seq": seq,
            "t": t,
            "wall": iso_wall(wall_ns),
            "phase": event.phase,
            "kind": event.kind,
            "device": event.device,
            "topic": event.topic,
            "payload": wire_value(event.payload["payload"])
            if is_device_command(event)
            else event.payload,
        }
        for seq, (event, t, wall_ns) in enumerate(timeline, start=1)
    ]
    assert records == expected
