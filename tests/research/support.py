"""Journals written for the research tests through the Journal API, and the BIDS validator."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from controller.journal import Event, Journal
from tests.support.requirements import missing

START_NS = 1_795_282_200 * 10**9
"""2026-11-21T17:30:00Z."""


def write_journal(
    data_dir: Path,
    timeline: Iterable[tuple[float, Event]],
    *,
    room: str = "room-a",
    plan: str = "standard",
    participant: str = "P-017",
    wall_ns: int = START_NS,
) -> Path:
    """A closed journal holding `timeline` ((session t, event) pairs); its path."""
    journal = Journal.create(
        data_dir,
        room=room,
        plan=plan,
        participant=participant,
        time_scale=1.0,
        wall_ns=wall_ns,
        on_alert=lambda problem: None,
    )
    for t, event in timeline:
        journal.append(event, t=t, wall_ns=wall_ns + int(t * 1e9))
    journal.close(ended_cleanly=True)
    return journal.path


def bids_errors(folder: Path) -> list[dict[str, Any]]:
    """The errors the BIDS validator (bids-validator-deno, beside this Python) finds in `folder`."""
    validator = Path(sys.executable).with_name("bids-validator-deno")
    if not validator.exists():
        missing("the BIDS validator", "pip install bids-validator-deno")
    run = subprocess.run(
        [str(validator), str(folder), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    issues: list[dict[str, Any]] = json.loads(run.stdout)["issues"]["issues"]
    return [issue for issue in issues if issue["severity"] == "error"]
