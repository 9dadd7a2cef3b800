"""A journal whose session times run backwards between events (edited by hand, or a clock set
back): nothing that lasted is said to have lasted less than nothing. A BIDS `duration` must
not be negative, and the report's spans end where they start at the earliest."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from controller.cli import main
from controller.journal import Event
from controller.journal.export import analysed
from tests.research.support import write_journal


def backwards_session(data_dir: Path) -> Path:
    """A set started, a lamp gone offline and a hold begun at t = 90 s, each ended by an event
    journaled after them at t = 10 s, and the session's end at t = 5 s."""
    held = {"run": {"held": True}}
    timeline = [
        (0.0, Event("phase", {"to": "centering", "planned_s": 900.0}, phase="centering")),
        (90.0, Event("command", {"bls": "start", "speed_hz": 1.0}, device="tappers")),
        (90.0, Event("availability", {"available": "offline"}, device="strip")),
        (90.0, Event("broker", {"connected": False})),
        (90.0, Event("operator", {"action": "hold", **held})),
        (10.0, Event("command", {"bls": "stop"}, device="tappers")),
        (10.0, Event("availability", {"available": "online"}, device="strip")),
        (10.0, Event("broker", {"connected": True})),
        (10.0, Event("operator", {"action": "resume", "run": {"held": False}})),
        (95.0, Event("command", {"bls": "start", "speed_hz": 1.0}, device="tappers")),
        (95.0, Event("operator", {"action": "hold", **held})),
        (95.0, Event("availability", {"available": "offline"}, device="strip")),
        (5.0, Event("session", {"event": "end"})),
    ]
    return write_journal(data_dir, timeline)


def test_no_span_of_the_analysis_ends_before_it_starts(tmp_path: Path) -> None:
    analysis = analysed(backwards_session(tmp_path / "data"), key=None)
    spans = [*analysis.holds, *analysis.dropouts, *analysis.broker_outages, *analysis.bls_sets]
    assert len(spans) == 7
    assert [span for span in spans if span.end < span.start] == []
    assert [phase for phase in analysis.phases if phase.held_s < 0] == []


def test_a_bids_export_writes_no_negative_duration(tmp_path: Path) -> None:
    journal = backwards_session(tmp_path / "data")
    result = CliRunner().invoke(
        main, ["export", str(journal), "--format", "bids", "-o", str(tmp_path / "bids")]
    )
    assert result.exit_code == 0, result.output
    [events] = (tmp_path / "bids").rglob("*_events.tsv")
    with events.open(newline="", encoding="utf-8") as table:
        durations = [row["duration"] for row in csv.DictReader(table, delimiter="\t")]
    assert len(durations) > 7
    assert [value for value in durations if value != "n/a" and float(value) < 0] == []
