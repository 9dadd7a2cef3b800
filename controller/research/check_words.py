"""The vitals checks' journal events (`check`) in plain words, for replay, report and export.

A therapist's reasons are private words, like a note's: these lines say that a reason was
given, never what it says; the journal keeps it (docs/safety.md#vitals-checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.config.durations import format_duration
from controller.untrusted import finite_number


def describe_check(payload: Mapping[str, Any]) -> str:
    """One `check` event's payload as a short line."""
    check = payload.get("check")
    sensor = payload.get("sensor")
    if check == "baseline":
        return f"baseline {_judgement(payload)}: {_readings(payload.get('readings'))}"
    if check == "baseline refused":
        problems = payload.get("problems")
        listed = "; ".join(map(str, problems)) if isinstance(problems, list) else "?"
        return f"a start was refused for its baseline: {listed}"
    if check == "due":
        asked = " (sensor asked to measure)" if payload.get("asked") else ""
        return f"{sensor} reading due{asked}"
    if check == "taken":
        late = finite_number(payload.get("late_s"))
        after = f" {format_duration(late)} after it was due" if late is not None else ""
        return f"{sensor} reading taken{after}"
    if check == "missed":
        return f"{sensor} reading missed"
    if check == "recovery":
        return _recovery(payload)
    return f"check {check}"


def baseline_outcome(payload: Mapping[str, Any]) -> str:
    """A baseline check's outcome in one word or two: `with reason`, `confirmed`, `unconfirmed`."""
    if payload.get("reason") is not None:
        return "with reason"
    return "confirmed" if payload.get("confirmed") else "unconfirmed"


def recovery_outcome(payload: Mapping[str, Any]) -> str:
    """A recovery check's outcome: `done`, `skipped with reason` or `skipped`."""
    if payload.get("done"):
        return "done"
    return "skipped with reason" if payload.get("reason") else "skipped"


def _judgement(payload: Mapping[str, Any]) -> str:
    return {
        "with reason": "accepted with a reason (in the journal)",
        "confirmed": "confirmed",
        "unconfirmed": "inside the thresholds, unconfirmed",
    }[baseline_outcome(payload)]


def _readings(readings: Any) -> str:
    if not isinstance(readings, dict) or not readings:
        return "no sensors"
    parts = []
    for sensor, reading in readings.items():
        if not isinstance(reading, dict):
            continue
        numbers = {key: finite_number(reading.get(key)) for key in ("sys", "dia", "hr", "spo2")}
        values = [f"{key} {value:g}" for key, value in numbers.items() if value is not None]
        if not values:
            parts.append(f"{sensor} no reading")
            continue
        age = finite_number(reading.get("age_s"))
        old = f" ({format_duration(age)} old)" if age is not None else ""
        flagged = " OUTSIDE" if reading.get("problems") else ""
        parts.append(f"{sensor} {' '.join(values)}{old}{flagged}")
    return "; ".join(parts)


def _recovery(payload: Mapping[str, Any]) -> str:
    outcome = recovery_outcome(payload)
    if outcome != "done":
        reason = "a reason given (in the journal)" if outcome != "skipped" else "no reason given"
        return f"ended without a recovery check; {reason}"
    items = payload.get("items")
    answers = items if isinstance(items, dict) else {}
    confirmed = [item for item, answer in answers.items() if answer is True]
    words = f"recovery check: {len(confirmed)} of {len(answers)} confirmed"
    others = [item for item in answers if item not in confirmed]
    if others:
        words += f" (not: {', '.join(others)}; why in the journal)"
    since = finite_number(payload.get("since_peak_s"))
    return words + (f", {format_duration(since)} after the peak" if since is not None else "")
