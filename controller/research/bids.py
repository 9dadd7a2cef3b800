"""A recorded session as BIDS files: task events (`_events.tsv`) and vitals (`_physio.tsv.gz`).

Layout (BIDS "behavioral recordings": the `beh` datatype MAY hold `_events.tsv` for
experiments without neuroimaging data, and `_physio` recordings)::

    DIR/dataset_description.json, README, participants.tsv/.json
    DIR/sub-<participant>/sub-<participant>_sessions.tsv
    DIR/sub-<participant>/ses-<start>/beh/sub-<p>_ses-<start>_task-<plan>_events.tsv/.json
    DIR/sub-<participant>/ses-<start>/beh/sub-<p>_ses-<start>_task-<plan>_physio.tsv.gz/.json

Events (BIDS "task events"): one row per event with `onset` and `duration` in seconds
(`onset` from the session start; `duration` 0 for an impulse) and `trial_type` as the
first columns, more columns after them, `n/a` where a value does not apply; rows sorted by
onset. Phases, holds, BLS sets, device dropouts and broker outages have durations;
operator actions, cues, scenes, alerts, safety events and errors are impulses. Notes are
left out unless asked for. The JSON sidecar describes every column and the `trial_type`
levels, as the spec says extra columns SHOULD be.

Vitals (BIDS "physiological and other continuous recordings"): a gzip-compressed TSV
without a header line, whose JSON sidecar MUST give `SamplingFrequency` (Hz), `StartTime`
(seconds, relative to onset 0 of the events) and `Columns`. Vitals arrive irregularly
(an oximeter about once a second, a cuff every few minutes), so they are resampled to
`PHYSIO_RATE_HZ`: row k covers session seconds [k, k+1) and holds each measure's last
reading in that second, `n/a` where none came. Nothing is interpolated or carried
forward: a cuff reading appears once, in the second it was taken.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import gzip
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller import __version__
from controller.config.yamlsource import NotRegularFileError, RoomFileTooLargeError, read_room_file
from controller.journal.sessions import utc_datetime
from controller.research.analysis import SessionAnalysis
from controller.research.files import move_into, staging_folder, write_private_bytes
from controller.research.pseudonym import bids_label
from controller.untrusted import valid_text

BIDS_VERSION = "1.10.0"
PHYSIO_RATE_HZ = 1.0
DATATYPE = "beh"
NA = "n/a"

EVENT_COLUMNS: dict[str, dict[str, Any]] = {
    "onset": {
        "Description": "Session time the event began, seconds since the session started.",
        "Units": "s",
    },
    "duration": {
        "Description": "How long it lasted; 0 for an instantaneous event (an impulse).",
        "Units": "s",
    },
    "trial_type": {
        "LongName": "Event category",
        "Description": "What kind of thing happened in the session room.",
        "Levels": {
            "phase": "A stay in one phase of the session plan (centering, peak, return, "
            "integration), from its start to the next phase or the session end.",
            "hold": "The phase clock was held (no automatic advance); emergencies hold too.",
            "bls_set": "A set of bilateral stimulation on one device.",
            "device_offline": "A device was offline (reported unavailable).",
            "broker_outage": "The engine had lost its MQTT broker connection.",
            "operator": "An action of the therapist at the console or the command line.",
            "cue": "A timed cue of the session plan fired.",
            "scene": "A scene (target state of the room) was applied.",
            "note": "A note written by the therapist (only with --include-notes).",
            "alert": "A vitals alert was raised.",
            "alert_cleared": "A vitals alert ended.",
            "safety": "A safety event: an emergency, or an output clamped or refused.",
            "error": "A device or cue reported an error.",
            "resume": "The engine resumed the session after a crash.",
            "check": "A vitals check (name: baseline, baseline refused, due, taken, missed, "
            "recovery): what was measured, confirmed or missed; reasons stay in the journal.",
        },
    },
    "name": {"Description": "The phase, action, scene, alert key or BLS mode the row is about."},
    "phase": {"Description": "The session phase the event happened in."},
    "device": {"Description": "The device concerned (its id in the room's configuration)."},
    "planned_duration": {
        "Description": "For phases: the plan's length of the phase, before extensions.",
        "Units": "s",
    },
    "extended_duration": {
        "Description": "For phases: seconds the therapist added to the phase.",
        "Units": "s",
    },
    "held_duration": {
        "Description": "For phases: seconds the phase clock was held.",
        "Units": "s",
    },
    "speed_hz": {
        "Description": "For BLS sets: left-right cycles per second.",
        "Units": "Hz",
    },
    "passes": {"Description": "For BLS sets: the number of passes asked for."},
    "source": {"Description": "Who sent an operator action (console, ctl, cue)."},
    "refused": {"Description": "Why the engine refused an operator action; n/a if carried out."},
    "detail": {"Description": "The event in plain words."},
    "seq": {"Description": "The event's sequence number in the session journal."},
}

SIDECARS_OF_LISTS: dict[str, dict[str, Any]] = {
    "participants.json": {
        "participant_id": {"Description": "Pseudonymous participant code (sub-<label>)."}
    },
    "sessions.json": {
        "session_id": {
            "Description": "The session: ses-<UTC time its journal was created> (its "
            "start, acq_time, may be up to seconds later on a slow disk)."
        },
        "acq_time": {"Description": "When the session started (UTC)."},
        "room": {"Description": "The session room it took place in."},
        "plan": {"Description": "The session plan followed (the task)."},
        "session": {"Description": "The session's id in Sessionroom (`sessionroom sessions`)."},
    },
}
"""Dataset-level sidecars of participants.tsv and every sub-<label>_sessions.tsv."""
PARTICIPANTS = "participants.tsv"
PARTICIPANT_COLUMNS = ("participant_id",)
SESSION_COLUMNS = ("session_id", "acq_time", "room", "plan", "session")
DATASET_DESCRIPTION: dict[str, Any] = {
    "Name": "Sessionroom recorded sessions",
    "BIDSVersion": BIDS_VERSION,
    "DatasetType": "raw",
    "GeneratedBy": [
        {
            "Name": "sessionroom",
            "Version": __version__,
            "Description": "sessionroom export --format bids",
        }
    ],
}
README = (
    "Sessions recorded in a Sessionroom session room, exported with "
    "`sessionroom export --format bids`.\n\nEach session is one BIDS session "
    "(ses-<UTC time its journal was created, acq_time gives its start>) of its "
    "participant; its plan is the task. Events give "
    "phases, BLS sets, operator actions and alerts; physio gives the vital signs "
    "resampled to 1 Hz.\n"
)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

VITAL_UNITS = {"hr": "bpm", "spo2": "%", "sys": "mmHg", "dia": "mmHg"}
VITAL_NAMES = {
    "hr": "heart rate",
    "spo2": "peripheral oxygen saturation",
    "sys": "systolic blood pressure",
    "dia": "diastolic blood pressure",
}


@dataclass(frozen=True)
class BidsExport:
    """What one session's BIDS export wrote (paths inside the finished dataset)."""

    events: Path
    rows: int
    physio: Path | None
    samples: int


class BidsDataset:
    """A BIDS dataset being written: sessions are staged, then moved in whole by `bids_dataset`.

    Dataset-level files (description, README, sidecars) are created once and kept;
    `participants.tsv` and every `sub-<label>_sessions.tsv` get the staged sessions' rows
    added to those already there; a session exported again replaces its own files.
    """

    def __init__(self, folder: Path, staged: Path) -> None:
        self.folder = folder
        self._staged = staged
        self._participants: set[str] = set()
        self._sessions: dict[str, dict[str, list[str]]] = {}
        self._listed: set[str] = set()
        """Subjects whose sessions.tsv in `folder` has been read into `_sessions`."""

    def add(self, analysis: SessionAnalysis, *, include_notes: bool) -> BidsExport:
        """Stage the session `analysis` describes; notes only if `include_notes`."""
        meta = analysis.meta
        subject = f"sub-{bids_label(meta.participant)}"
        session = self._session_label(subject, meta.session_id, meta.room)
        stem = f"{subject}_{session}_task-{bids_label(meta.plan)}"
        relative = Path(subject, session, DATATYPE)
        data = self._staged / relative
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._participants.add(subject)
        self._sessions[subject][session] = [
            session,
            _acq_time(meta.started_wall_ns),
            bids_text(meta.room),
            bids_text(meta.plan),
            bids_text(meta.session_id),
        ]
        rows = event_rows(analysis, include_notes=include_notes)
        events = f"{stem}_events.tsv"
        write_private_bytes(data / events, tsv(list(EVENT_COLUMNS), rows).encode())
        task = task_metadata(meta.plan)
        _write_json(data / f"{stem}_events.json", {**task, **EVENT_COLUMNS})
        columns, samples = physio_table(analysis)
        if not columns:
            return BidsExport(self.folder / relative / events, len(rows), None, 0)
        physio = f"{stem}_physio.tsv.gz"
        write_private_bytes(data / physio, gzip.compress(tsv(None, samples).encode(), mtime=0))
        _write_json(data / f"{stem}_physio.json", {**task, **physio_sidecar(columns)})
        return BidsExport(
            self.folder / relative / events,
            len(rows),
            self.folder / relative / physio,
            len(samples),
        )

    def _session_label(self, subject: str, session_id: str, room: str) -> str:
        """`ses-<start>`, or `ses-<whole session id>` if another session of the subject (in
        another room) started in the same second: two sessions never share a folder."""
        label = f"ses-{session_label(session_id, room)}"
        staged = self._sessions.setdefault(subject, {})
        if subject not in self._listed:
            listed = read_tsv(self.folder / subject / f"{subject}_sessions.tsv")[1:]
            width = len(SESSION_COLUMNS)  # then any columns a researcher added
            staged.update({row[0]: row[:width] for row in listed if len(row) >= width})
            self._listed.add(subject)
        other = staged.get(label)
        if other is not None and other[-1] != bids_text(session_id):
            return f"ses-{bids_label(session_id)}"
        return label

    def finish(self) -> None:
        """Stage the dataset-level files and the merged participant and session lists."""
        self._write_dataset_files()
        _merge_rows(
            self.folder / PARTICIPANTS,
            self._staged / PARTICIPANTS,
            PARTICIPANT_COLUMNS,
            {subject: [subject] for subject in self._participants},
        )
        for subject, rows in self._sessions.items():
            name = Path(subject, f"{subject}_sessions.tsv")
            _merge_rows(self.folder / name, self._staged / name, SESSION_COLUMNS, rows)

    def _write_dataset_files(self) -> None:
        files: dict[str, bytes] = {
            "dataset_description.json": _json_bytes(DATASET_DESCRIPTION),
            "README": README.encode(),
            **{name: _json_bytes(columns) for name, columns in SIDECARS_OF_LISTS.items()},
        }
        for name, content in files.items():
            if not (self.folder / name).exists():
                write_private_bytes(self._staged / name, content)


@contextlib.contextmanager
def bids_dataset(folder: Path) -> Iterator[BidsDataset]:
    """A dataset to add sessions to, written into `folder` only if the block ends normally.

    Everything is staged in a temporary folder beside `folder`; a block that raises leaves
    `folder` exactly as it was (absent if it was new).
    """
    with staging_folder(folder) as staged:
        dataset = BidsDataset(folder, staged)
        yield dataset
        dataset.finish()
        move_into(staged, folder)


def write_bids(analysis: SessionAnalysis, folder: Path, *, include_notes: bool) -> BidsExport:
    """Write the one session `analysis` describes into the BIDS dataset `folder`."""
    with bids_dataset(folder) as dataset:
        return dataset.add(analysis, include_notes=include_notes)


def task_metadata(plan: str) -> dict[str, Any]:
    """What the sidecars say about the task: the session plan, and the software that ran it."""
    return {
        "TaskName": plan,
        "TaskDescription": f"A guided session following the plan {plan!r} in a Sessionroom "
        "session room (phases centering, peak, return, integration).",
        "StimulusPresentation": {"SoftwareName": "Sessionroom", "SoftwareVersion": __version__},
    }


def session_label(session_id: str, room: str) -> str:
    """The BIDS session label: the session id without its room, letters and digits only."""
    return bids_label(session_id.removeprefix(f"{room}-"))


def event_rows(analysis: SessionAnalysis, *, include_notes: bool) -> list[list[str]]:
    """The events table's rows (cells as text, in `EVENT_COLUMNS` order), sorted by onset."""
    rows: list[tuple[float, int, dict[str, Any]]] = []

    def add(onset: float, order: int, **cells: Any) -> None:
        cells.setdefault("phase", analysis.phase_at(onset))
        rows.append((onset, order, {"onset": onset, **cells}))

    for phase in analysis.phases:
        add(
            phase.start,
            0,
            duration=phase.duration_s,
            trial_type="phase",
            name=phase.name,
            phase=phase.name,
            planned_duration=phase.planned_s,
            extended_duration=phase.extended_s,
            held_duration=phase.held_s,
            detail=f"began: {phase.began}",
        )
    for hold in analysis.holds:
        add(
            hold.start,
            1,
            duration=hold.duration_s,
            trial_type="hold",
            phase=hold.label,
            detail=None if hold.ended else "still held at the session end",
        )
    for bls in analysis.bls_sets:
        add(
            bls.start,
            1,
            duration=bls.duration_s,
            trial_type="bls_set",
            name=bls.mode,
            device=bls.device,
            speed_hz=bls.speed_hz,
            passes=bls.passes,
            detail=f"ended: {bls.ended}",
        )
    for span, trial_type in [(d, "device_offline") for d in analysis.dropouts] + [
        (b, "broker_outage") for b in analysis.broker_outages
    ]:
        add(
            span.start,
            1,
            duration=span.duration_s,
            trial_type=trial_type,
            device=span.label if trial_type == "device_offline" else None,
            detail=None if span.ended else "still going at the session end",
        )
    moments = [
        *analysis.actions,
        *analysis.scenes,
        *analysis.alerts,
        *analysis.safety,
        *analysis.errors,
        *analysis.resumes,
        *analysis.checks,
        *(analysis.notes if include_notes else ()),
    ]
    for moment in moments:
        add(
            moment.t,
            2,
            duration=0.0,
            trial_type=moment.category,
            name=moment.name if moment.category != "note" else None,
            phase=moment.phase,
            device=moment.device,
            source=moment.source,
            refused=moment.refused,
            detail=moment.text if moment.category != "note" else f"note: {moment.text}",
            seq=moment.seq,
        )
    rows.sort(key=lambda row: (row[0], row[1], row[2].get("seq") or 0))
    return [[_cell(cells.get(column)) for column in EVENT_COLUMNS] for _, _, cells in rows]


def physio_table(analysis: SessionAnalysis) -> tuple[list[str], list[list[str]]]:
    """The vitals resampled to one row per second: column names and rows (see module doc)."""
    series = [
        (f"{device}_{measure}", readings)
        for device, measures in sorted(analysis.vitals.items())
        for measure, readings in sorted(measures.items(), key=lambda item: _measure_order(item[0]))
    ]
    if not series:
        return [], []
    count = max(1, math.floor(analysis.end_t * PHYSIO_RATE_HZ) + 1)
    table = [[NA] * len(series) for _ in range(count)]
    for column, (_, readings) in enumerate(series):
        for t, value in readings:
            row = math.floor(t * PHYSIO_RATE_HZ)
            if 0 <= row < count:
                table[row][column] = f"{value:g}"
    return [name for name, _ in series], table


def physio_sidecar(columns: Sequence[str]) -> dict[str, Any]:
    """The `_physio.json`: SamplingFrequency, StartTime, Columns and each column's units."""
    sidecar: dict[str, Any] = {
        "PhysioType": "generic",
        "SamplingFrequency": PHYSIO_RATE_HZ,
        "StartTime": 0.0,
        "Columns": list(columns),
        "Description": "Vital signs from the room's sensors, resampled to 1 Hz: each row is "
        "one second of session time and holds the last reading taken in that second; n/a "
        "where a sensor gave none (nothing is interpolated).",
    }
    for column in columns:
        device, _, measure = column.rpartition("_")
        description: dict[str, Any] = {
            "Description": f"{VITAL_NAMES.get(measure, measure)} from {device}"
        }
        if measure in VITAL_UNITS:
            description["Units"] = VITAL_UNITS[measure]
        sidecar[column] = description
    return sidecar


def _measure_order(measure: str) -> tuple[int, str]:
    order = list(VITAL_UNITS)
    return (order.index(measure) if measure in order else len(order), measure)


def _cell(value: Any) -> str:
    if value is None:
        return NA
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if math.isfinite(value) else NA
    return bids_text(str(value)) or NA


def bids_text(text: str) -> str:
    """`text` as a BIDS table cell holds it: one line of valid UTF-8 text.

    Control characters (tab, newline, NUL...) and every run of white space become one
    space, lone surrogates U+FFFD; a double quote stays, and `tsv` quotes its cell.
    """
    text = " ".join(CONTROL.sub(" ", text).split())
    return text if text.isascii() else valid_text(text)


def tsv(header: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> str:
    """A BIDS TSV: tab-separated, one row a line; a cell holding `"` is quoted, `""` inside."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


MAX_LIST_BYTES = 64 * 1024 * 1024
"""The largest participants.tsv or sessions list read back (far beyond any study's)."""


class UnreadableListError(OSError):
    """A dataset's participants.tsv or sessions list that cannot be read back: not a regular
    file (a FIFO kept the export waiting for ever), too large, or not UTF-8 text."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(errno.EINVAL, f"{path} {problem}")


def read_tsv(path: Path) -> list[list[str]]:
    """The rows of a dataset's TSV (header included); none if `path` does not exist.
    UnreadableListError for one that is no regular file, too large, or not UTF-8 (a
    byte-order mark is fine: spreadsheets write one)."""
    try:
        raw = read_room_file(path, MAX_LIST_BYTES)
    except FileNotFoundError:
        return []
    except NotRegularFileError:
        raise UnreadableListError(path, "is not a regular file") from None
    except RoomFileTooLargeError:
        raise UnreadableListError(path, f"is larger than {MAX_LIST_BYTES // 2**20} MiB") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableListError(
            path, "is not UTF-8 text (save it as UTF-8, tab-separated)"
        ) from None
    return list(csv.reader(io.StringIO(text), delimiter="\t"))


def _merge_rows(
    existing: Path, staged: Path, header: Sequence[str], rows: dict[str, list[str]]
) -> None:
    """Write `staged`: the rows of `existing` (if any) with `rows` replacing or added, by id.
    Columns a researcher added to `existing` (BIDS recommends `age`, `sex`, ...) are kept
    after `header`'s, with their cells: a replaced row keeps its own, an added one is `n/a`
    there."""
    old_header, *old_rows = read_tsv(existing) or [[]]
    added = [name for name in dict.fromkeys(old_header) if name and name not in header]
    columns = [*header, *added]
    merged: dict[str, list[str]] = {}
    for row in old_rows:
        if row:
            cells = dict(zip(old_header, row, strict=False))
            merged[row[0]] = [cells.get(name, NA) for name in columns]
    for key, row in rows.items():
        kept = merged.get(key)
        merged[key] = [*row, *(kept[len(header) :] if kept else [NA] * len(added))]
    staged.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private_bytes(staged, tsv(columns, [merged[key] for key in sorted(merged)]).encode())


def _acq_time(wall_ns: int) -> str:
    return utc_datetime(wall_ns).strftime("%Y-%m-%dT%H:%M:%S")


def _json_bytes(content: dict[str, Any]) -> bytes:
    text = json.dumps(content, indent=2, ensure_ascii=False) + "\n"
    return valid_text(text).encode()


def _write_json(path: Path, content: dict[str, Any]) -> None:
    write_private_bytes(path, _json_bytes(content))
