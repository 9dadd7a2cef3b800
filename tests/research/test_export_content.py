"""Exports that cannot break on content: any text a journal can hold survives every format.

Hypothesis writes journals whose notes, error messages, alert texts, scene names, device
ids, topics, wire payloads, participant codes and plan names hold quotes, tabs, newlines,
NUL, lone surrogates (payloads only: the journal refuses them elsewhere) and any other
Unicode; each is exported as JSONL, CSV, MCAP and BIDS and read back with standard
readers (`json`, `csv`, the `mcap` reader), and the BIDS dataset they all went into is
checked by the BIDS validator.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sqlite3
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcap.reader import make_reader

from controller.cli import main
from controller.journal import Event, JournalError
from controller.journal.export import COLUMNS, contract_payload, export_bids, export_session
from controller.research.bids import bids_text, read_tsv
from controller.research.mcap_export import export_mcap, level_read, light_level
from tests.research.support import bids_errors, write_journal

SPECIALS = ['"', "'", "\t", "\n", "\r", "\x00", "\x1f", "\x85", "\u2028", "\\", ",", "/", "é"]
any_character = st.characters(exclude_categories=())
"""Every code point, lone surrogates included."""
valid_character = st.characters(exclude_categories=("Cs",))

nasty = st.text(st.sampled_from(SPECIALS) | any_character, max_size=30)
"""Text as a payload may hold it."""
nasty_name = st.text(st.sampled_from(SPECIALS[:-2]) | valid_character, min_size=1, max_size=20)
"""Text as a participant code, plan, device id or topic may hold it (valid Unicode)."""


@st.composite
def timelines(draw: st.DrawFn) -> list[tuple[float, Event]]:
    """A session's events: every place researcher-visible text can sit, in time order."""
    device = draw(nasty_name)
    happenings: list[Event] = [
        Event("phase", {"to": "centering", "planned_s": 60.0, "reason": "start"}),
        Event("note", draw(nasty)),
        Event("error", {"media": draw(nasty)}, device=device),
        Event("alert", {"key": draw(nasty), "message": draw(nasty)}),
        Event("scene", {"name": draw(nasty), "fade_s": 2.0}),
        Event("vitals", {"hr": draw(st.integers(30, 200)), "spo2": 97}, device=device),
        Event("availability", {"available": "offline"}, device=device),
        Event("command", {"payload": draw(nasty)}, device=device, topic=draw(nasty_name)),
        Event("operator", {"action": "note", "source": draw(nasty)}),
        Event("availability", {"available": "online"}, device=device),
    ]
    return [
        (float(n), Event(e.kind, e.payload, e.device, e.topic, "centering"))
        for n, e in enumerate(happenings)
    ]


def exported(path: Path, format_name: str, key: bytes | None = None) -> str:
    out = io.StringIO()
    export_session(path, out, format_name=format_name, key=key)
    return out.getvalue()


def check_jsonl_and_csv(path: Path, timeline: list[tuple[float, Event]]) -> None:
    records = [json.loads(line) for line in exported(path, "jsonl").split("\n") if line]
    assert [record["payload"] for record in records] == [
        contract_payload(event) for _, event in timeline
    ]
    assert [(r["device"], r["topic"]) for r in records] == [
        (e.device, e.topic) for _, e in timeline
    ]
    header, *rows = csv.reader(io.StringIO(exported(path, "csv"), newline=""))
    assert tuple(header) == COLUMNS
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        assert json.loads(row[-1]) == record["payload"]
        assert (row[5] or None, row[6] or None) == (record["device"], record["topic"])
    # MCAP: every event is one message holding the same record
    mcap = io.BytesIO()
    export_mcap(path, mcap)
    mcap.seek(0)
    messages = [
        json.loads(message.data)
        for _, channel, message in make_reader(mcap).iter_messages(log_time_order=False)
        if not channel.topic.startswith("/room/")
    ]
    assert messages == records
    # SQLite writes the rows of a plain export, Python those of a pseudonymised one (no
    # participant code in these events): both read back the same.
    for format_name in ("jsonl", "csv"):
        plain = exported(path, format_name)
        keyed = exported(path, format_name, key=b"a key of sixteen bytes or more")
        if format_name == "jsonl":
            assert [json.loads(line) for line in keyed.split("\n") if line] == records
        else:
            assert list(csv.reader(io.StringIO(keyed, newline=""))) == list(
                csv.reader(io.StringIO(plain, newline=""))
            )


def check_bids_session(folder: Path, plan: str, timeline: list[tuple[float, Event]]) -> None:
    [events] = folder.glob("sub-*/ses-*/beh/*_events.tsv")
    raw = events.read_bytes()
    raw.decode("utf-8")  # strict: valid UTF-8 or this raises
    header, *rows = read_tsv(events)
    assert {len(row) for row in rows} == {len(header)}
    details = [row[header.index("detail")] for row in rows]
    note = bids_text(f"note: {timeline[1][1].payload}")
    assert note in details
    for sidecar in folder.rglob("*.json"):
        json.loads(sidecar.read_bytes().decode("utf-8"))
    for physio in folder.rglob("*_physio.tsv.gz"):
        lines = gzip.decompress(physio.read_bytes()).decode("utf-8").splitlines()
        assert all(line.count("\t") == lines[0].count("\t") for line in lines)
    [participants] = read_tsv(folder / "participants.tsv")[1:]
    label = participants[0].removeprefix("sub-")
    assert label.isascii() and label.isalnum()
    [session] = read_tsv(next(folder.glob("sub-*/sub-*_sessions.tsv")))[1:]
    assert session[3] == bids_text(plan)


def test_any_text_survives_jsonl_csv_and_bids_and_the_validator_accepts_it(
    tmp_path: Path,
) -> None:
    study = tmp_path / "study"
    count = 0

    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(timelines(), nasty_name, nasty_name)
    def one_session(timeline: list[tuple[float, Event]], participant: str, plan: str) -> None:
        nonlocal count
        with tempfile.TemporaryDirectory() as scratch:
            path = write_journal(Path(scratch), timeline, participant=participant, plan=plan)
            check_jsonl_and_csv(path, timeline)
            alone = Path(scratch) / "bids"
            export_bids(path, alone, include_notes=True)
            check_bids_session(alone, plan, timeline)
            count += 1
            # every example also goes into one shared dataset, which the validator checks
            export_bids(path, study, include_notes=True)

    one_session()

    assert count >= 25
    assert bids_errors(study) == []


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(10**300, 10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=4,
)
truth_values = st.sampled_from([None, False, True, 0, 1, 0.0, -0.0, "", "x", [], [0], {}, {"": 0}])
"""A value of each JSON type that Python reads as false, and one it reads as true."""
light_reports = (
    st.fixed_dictionaries(
        {"level": st.floats(-2, 2) | st.integers(10**308, 10**309), "on": truth_values}
    )
    | st.fixed_dictionaries({}, optional={"on": json_values, "level": json_values})
).map(lambda payload: Event("state", payload, device="ceiling"))
volume_commands = st.one_of(
    st.builds(lambda volume: {"payload": json.dumps({"volume": volume})}, json_values),
    st.builds(lambda volume: {"volume": volume}, json_values),
    st.builds(lambda text: {"payload": text}, nasty),
    st.just({"payload": '{"vol\\u0075me": 0.5}'}),
).map(lambda payload: Event("command", payload, device="speaker", topic="vlc/speaker"))


def derived_messages(path: Path, key: bytes | None) -> list[tuple[str, int, bytes]]:
    out = io.BytesIO()
    export_mcap(path, out, key=key)
    out.seek(0)
    reader = make_reader(out, validate_crcs=True)
    return [
        (channel.topic, message.log_time, message.data)
        for _, channel, message in reader.iter_messages(log_time_order=False)
        if channel.topic.startswith("/room/")
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(light_reports | volume_commands, min_size=1, max_size=12))
def test_mcap_level_channels_agree_whether_read_from_the_journal_or_from_its_events(
    happenings: list[Event],
) -> None:
    # A plain export reads light levels and volumes from the journal's text, a pseudonymised
    # one from its events written anew (these hold no participant code): the derived
    # channels must be the same messages.
    with tempfile.TemporaryDirectory() as scratch:
        path = write_journal(Path(scratch), [(n / 4, e) for n, e in enumerate(happenings)])
        plain = derived_messages(path, None)
        assert plain == derived_messages(path, b"a key of sixteen bytes or more")
    levels = [
        payload.get("level")
        for event in happenings
        if event.kind == "state" and isinstance(payload := event.payload, dict)
    ]
    light = [json.loads(data)["level"] for topic, _, data in plain if topic.startswith("/room/l")]
    assert len(light) <= len(levels)
    if all(isinstance(level, float) and -2 <= level <= 2 for level in levels):
        assert len(light) == len(levels)


def test_every_mcap_channel_has_the_schema_of_its_messages(tmp_path: Path) -> None:
    """The derived `/room/phase` is not the `/phase` events' record, though both are phases;
    nor is it the channel of a (damaged) journal's events whose kind is `room/phase`."""
    path = write_journal(
        tmp_path,
        [
            (0.0, Event("phase", {"to": "centering", "planned_s": 60.0, "reason": "start"})),
            (1.0, Event("state", {"on": True, "level": 0.5}, device="lamp", phase="centering")),
            (2.0, Event("command", {"volume": 40}, device="speaker", phase="centering")),
            (3.0, Event("vitals", {"hr": 61, "spo2": 97}, device="oximeter", phase="centering")),
            (4.0, Event("note", {"x": 1})),
            (5.0, Event("note", {"y": 2}, device="lamp")),
            (6.0, Event("state", {"on": True, "level": 0.7}, device="lamp", phase="closing")),
        ],
    )
    with sqlite3.connect(path) as connection:  # kinds no recorder writes, as a tool might
        connection.execute("UPDATE events SET kind = 'room/phase' WHERE payload = '{\"x\": 1}'")
        connection.execute("UPDATE events SET kind = 'room.light' WHERE payload = '{\"y\": 2}'")
    connection.close()
    out = io.BytesIO()
    export_mcap(path, out)
    out.seek(0)
    seen: dict[int, tuple[str, set[str], set[str]]] = {}
    for schema, channel, message in make_reader(out).iter_messages(log_time_order=False):
        assert schema is not None
        properties = set(json.loads(schema.data)["properties"])
        _, keys, _ = seen.setdefault(channel.id, (channel.topic, set(), properties))
        keys.update(json.loads(message.data))
    topics = sorted(topic for topic, _, _ in seen.values())
    assert topics == [
        "/command/speaker",
        "/phase",
        "/room.light/lamp",
        "/room/light/lamp",
        "/room/phase",  # the derived channel
        "/room/phase",  # the events of kind `room/phase`
        "/room/volume/speaker",
        "/state/lamp",
        "/vitals/oximeter",
    ]
    for topic, keys, properties in seen.values():
        assert keys == properties, topic


def test_a_session_with_more_devices_than_mcap_has_channels_is_refused_clearly(
    tmp_path: Path,
) -> None:
    path = write_journal(tmp_path, [(0.0, Event("note", "x", device="d0"))])
    with sqlite3.connect(path) as connection:  # 70,000 devices, a channel each (MCAP: 65,535)
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 69999)"
            " INSERT INTO events SELECT i + 1, wall_ns + i, t + i / 100.0, phase, kind,"
            " 'd' || i, topic, payload FROM n, events WHERE seq = 1"
        )
    connection.close()
    with pytest.raises(JournalError) as refused:
        export_mcap(path, io.BytesIO())
    # the export let go of the journal as it failed (not whenever the collector runs)
    assert not [fd for fd in Path("/proc/self/fd").iterdir() if fd.resolve() == path.resolve()]
    assert str(refused.value) == (
        f"{path}: cannot be written as MCAP: an MCAP file holds at most 65,535 channels, one per"
        " kind of event and device, and the session needs more"
    )


number_texts = st.builds(
    lambda *parts: "".join(parts),
    st.sampled_from(["", "-", "+"]),
    st.sampled_from(["0", "7", "123", "05", "", "1_0", "\u0663", "1\u0663", "9" * 309]),
    st.sampled_from(["", ".5", ".25", ".", ".\u0663"]),
    st.sampled_from(["", "e-5", "E+400", "e999", "e"]),
)
"""Texts where a report's level goes: JSON numbers and look-alikes (`05`, `1_0`, `1٣`...)."""
reports = st.one_of(
    st.builds(  # the journal's text, with any number in it
        lambda on, number: f'{{"on": {on}, "level": {number}}}',
        st.sampled_from(["true", "false"]),
        number_texts,
    ),
    st.builds(  # and with anything else in it
        lambda on, number, rest: f'{{"on": {on}, "level": {number}{rest}}}',
        st.sampled_from(["true", "false", "null", "1", '"x"', "[]"]),
        number_texts | st.sampled_from(["NaN", "-Infinity", '"0.5"', "true", "[0.5]", " 0.5"]),
        st.sampled_from(["", ', "on": false', ', "on": true', ', "level": 0.25', ", [1]", " "]),
    ),
    st.builds(  # as Python writes reports, with any values (NaN, infinities, -0...)
        lambda on, level: json.dumps({"on": on, "level": level}),
        json_values | truth_values,
        st.floats() | st.integers() | st.integers(10**308, 10**309),
    ),
    st.builds(json.dumps, json_values),
    st.sampled_from(['{"o\\u006e": false, "level": 0.5}', '{"on": true, "level": 0.5', "[" * 2000]),
)


@settings(max_examples=2000, deadline=None)
@given(reports)
def test_a_light_level_read_from_the_report_text_is_the_level_json_reads(report: str) -> None:
    """`light_level` reads the journal's own text of a report without `json` (a hundred
    thousand reports in a long session): the number `json` reads (`level_read`), or none."""
    quick, slow = light_level(report), level_read(report)
    assert (quick is None) == (slow is None)
    if quick is not None and slow is not None:
        number = json.loads(quick, parse_constant=lambda constant: pytest.fail(constant))
        assert repr(float(number)) == slow  # -0.0 is not 0.0


@pytest.mark.parametrize("key", [None, b"k" * 32], ids=["journal", "pseudonymised"])
def test_a_session_time_too_large_for_nanoseconds_is_held_to_mcaps_log_time(
    tmp_path: Path, key: bytes | None
) -> None:
    """A damaged journal's session time below 1e300 (a number, so every export writes it)
    but above 1.8e299 s is infinite in nanoseconds: the MCAP export ended with an
    OverflowError. Its log time is held to MCAP's 64 bits, as any other out of range."""
    notes = [(t, Event("note", f"at {t}")) for t in (0.0, 1.0, 2.0)]
    path = write_journal(tmp_path, notes)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE events SET t = 5e299 WHERE seq = 2")
        connection.execute("UPDATE events SET t = -9.9e299 WHERE seq = 3")
    connection.close()
    out = io.BytesIO()
    assert export_mcap(path, out, key=key) == 3
    out.seek(0)
    read = [
        (message.log_time, json.loads(message.data)["t"])
        for _, _, message in make_reader(out, validate_crcs=True).iter_messages(
            log_time_order=False
        )
    ]
    assert read == [(0, 0.0), (2**64 - 1, 5e299), (0, -9.9e299)]


ODD = "\ud800$\\frac{$^^$\x1b)0"
"""A lone surrogate, text matplotlib would read as broken math, and an escape sequence."""


def test_odd_text_survives_the_report_its_timeline_and_the_summary(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    data = tmp_path / "data"
    timeline = [
        (0.0, Event("phase", {"to": f"centering{ODD}", "planned_s": 60.0}, phase="centering")),
        (1.0, Event("scene", {"name": f"calm{ODD}", "fade_s": 2.0}, phase="centering")),
        (2.0, Event("vitals", {"hr": 72, f"hr{ODD}": 70}, device="ox$\\frac{$", phase="centering")),
        (3.0, Event("operator", {"source": f"ctl{ODD}", "action": "hold"}, phase="centering")),
        (4.0, Event("alert", {"message": f"high{ODD}", "active": True}, phase="centering")),
    ]
    journal = write_journal(data, timeline)
    png, html, summary = tmp_path / "t.png", tmp_path / "r.html", tmp_path / "s.csv"

    report = CliRunner().invoke(
        main, ["report", str(journal), "--png", str(png), "--html", str(html)]
    )
    listing = CliRunner().invoke(
        main, ["sessions", "--format", "csv", "-o", str(summary), "--data-dir", str(data)]
    )

    assert report.exit_code == 0, report.output
    # nor in a warning of a glyph missing from the font
    assert "\x1b" not in report.output + "".join(str(w.message) for w in recwarn)
    assert png.read_bytes().startswith(b"\x89PNG") and "<html" in html.read_text("utf-8")
    assert listing.exit_code == 0, listing.output
    assert len(list(csv.reader(io.StringIO(summary.read_text("utf-8"), newline="")))) == 2


@pytest.mark.parametrize("far", [-9.9e299, 9.9e299])
def test_labels_of_damaged_times_far_outside_the_session_leave_the_timeline_drawable(
    tmp_path: Path, far: float
) -> None:
    """A device offline since a session time of ±9.9e299 s (a number, so it is read): its
    label, drawn however far outside the picture, ended the timeline with a TypeError of
    matplotlib's font renderer."""
    timeline = [
        (0.0, Event("phase", {"to": "centering", "planned_s": 60.0}, phase="centering")),
        (1.0, Event("availability", {"available": "offline"}, device="lamp", phase="centering")),
        (2.0, Event("availability", {"available": "online"}, device="lamp", phase="centering")),
        (3.0, Event("session", {"event": "end"}, phase="centering")),
    ]
    journal = write_journal(tmp_path, timeline)
    with sqlite3.connect(journal) as connection:
        connection.execute("UPDATE events SET t = ? WHERE seq = 2", (far,))
    connection.close()
    png = tmp_path / "timeline.png"

    report = CliRunner().invoke(main, ["report", str(journal), "--png", str(png)])

    assert report.exit_code == 0, report.output
    assert png.read_bytes().startswith(b"\x89PNG")
