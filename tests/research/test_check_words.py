"""The vitals checks' journal events in plain words: what happened, never a therapist's reason."""

from __future__ import annotations

from typing import Any

import pytest

from controller.journal import Event
from controller.research.describe import describe

REASON = "participant's husband drove her home"


def words(payload: dict[str, Any]) -> str:
    return describe(Event("check", payload), notes=True)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {
                "check": "baseline",
                "confirmed": True,
                "reason": None,
                "readings": {
                    "oximeter": {"hr": 72, "spo2": 97, "age_s": 3.0, "problems": []},
                    "bp-cuff": {"age_s": None, "problems": []},
                },
            },
            "baseline confirmed: oximeter hr 72 spo2 97 (3s old); bp-cuff no reading",
        ),
        (
            {
                "check": "baseline",
                "confirmed": False,
                "reason": REASON,
                "readings": {"bp-cuff": {"sys": 165, "dia": 92, "age_s": 60, "problems": ["x"]}},
            },
            "baseline accepted with a reason (in the journal): bp-cuff sys 165 dia 92 (1m old)"
            " OUTSIDE",
        ),
        (
            {"check": "baseline", "confirmed": False},
            "baseline inside the thresholds, unconfirmed: no sensors",
        ),
        (
            {"check": "baseline refused", "problems": ["bp-cuff: HR 104 is not under 100 bpm"]},
            "a start was refused for its baseline: bp-cuff: HR 104 is not under 100 bpm",
        ),
        (
            {"check": "due", "sensor": "bp-cuff", "asked": True},
            "bp-cuff reading due (sensor asked to measure)",
        ),
        (
            {"check": "taken", "sensor": "bp-cuff", "late_s": 35.2},
            "bp-cuff reading taken 35s after it was due",
        ),
        ({"check": "missed", "sensor": "bp-cuff"}, "bp-cuff reading missed"),
        (
            {
                "check": "recovery",
                "done": True,
                "items": {"oriented": True, "escort present": REASON},
                "since_peak_s": 3600,
            },
            "recovery check: 1 of 2 confirmed (not: escort present; why in the journal), 1h after"
            " the peak",
        ),
        (
            {"check": "recovery", "done": False, "reason": REASON},
            "ended without a recovery check; a reason given (in the journal)",
        ),
        (
            {"check": "recovery", "done": False, "reason": None},
            "ended without a recovery check; no reason given",
        ),
        ({"check": 7, "late_s": "soon"}, "check 7"),
    ],
)
def test_each_check_reads_in_plain_words_without_the_reasons(
    payload: dict[str, Any], expected: str
) -> None:
    assert words(payload) == expected
    assert REASON not in words(payload)
