"""A long JSONL or CSV export on two cores (controller/journal/halves.py): the same text as one
process writes, the first damaged event named, no child left behind, and a child that cannot
write its half leaves it to the parent.

Each case runs in a fresh interpreter (`python -c`), as `sessionroom export` does: the export
forks only in a process with one thread, and the test process runs others.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

import pytest
from mcap.reader import make_reader

from controller.journal import Event, Journal, JournalError, read_events
from controller.journal.export import export_session
from controller.research.mcap_export import export_mcap
from tests.journal.conftest import JournalFactory
from tests.journal.support import START_NS, eventually

SCRIPT = """
import io, json, os, resource, signal, sys
from pathlib import Path
from controller.journal import JournalError
from controller.journal.export import export_session
from controller.research.mcap_export import export_mcap
from controller.journal.halves import second_half_from

from mcap.reader import make_reader

path, format_name, limit = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])


def exported(split_from, progress=None):
    # The event count and what a reader makes of the export: its text, or for MCAP every
    # message with its channel and schema (in the file's order, then in log time order by
    # the index; CRCs checked) and the summary's counts, each channel's with its schema.
    if format_name != "mcap":
        out = io.StringIO()
        count = export_session(
            path, out, format_name=format_name, split_from=split_from, progress=progress
        )
        return count, out.getvalue()
    out = io.BytesIO()
    count = export_mcap(path, out, split_from=split_from, progress=progress)
    def messages(**order):
        out.seek(0)
        return [
            (schema.name, schema.data, channel.topic, m.log_time, m.publish_time, m.sequence)
            + (m.data,)
            for schema, channel, m in make_reader(out, validate_crcs=True).iter_messages(**order)
        ]
    out.seek(0)
    summary = make_reader(out, validate_crcs=True).get_summary()
    statistics = summary.statistics
    channels = [
        (summary.channels[channel_id], n)
        for channel_id, n in statistics.channel_message_counts.items()
    ]
    counts = sorted(
        (channel.topic, summary.schemas[channel.schema_id].data, n) for channel, n in channels
    )
    totals = (statistics.message_count, statistics.schema_count, statistics.channel_count)
    totals += (statistics.message_start_time, statistics.message_end_time)
    return count, (messages(log_time_order=False), messages(log_time_order=True), counts, totals)


alone, alone_error = None, None
try:
    alone = exported(10**9)[1]
except JournalError as problem:
    alone_error = str(problem)
if limit:  # files this process writes (the child's spool) stop at `limit` bytes
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
split, error, progress = None, None, []
try:
    count, split = exported(2, progress.append)
except JournalError as problem:
    count, error = None, str(problem)
try:
    os.waitpid(-1, os.WNOHANG)
    children_left = True
except ChildProcessError:
    children_left = False
try:
    splits_at = second_half_from(path, split_from=2)
except JournalError:
    splits_at = None
print(json.dumps({
    "splits_at": splits_at,
    "same": split == alone,
    "count": count,
    "progress": progress,
    "error": error,
    "alone_error": alone_error,
    "children_left": children_left,
}))
"""

STALLED_CLI = """
import os, sys, time
os.register_at_fork(after_in_child=lambda: time.sleep(60))  # the second half takes its time
from controller.cli import main
sys.argv[0] = "sessionroom"
main()
"""

SIGNALLED_CLI = """
import os, signal, sys, time
from pathlib import Path
from controller.journal import halves

child_pid, moment = Path(sys.argv.pop(1)), sys.argv.pop(1)

def signalled(step):
    def step_then_signal(*args, **kwargs):
        done = step(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return done
    return step_then_signal

def slow_child():
    child_pid.write_text(str(os.getpid()))
    time.sleep(60)

if moment == "made":  # the second half made, its block not yet entered; the child is slow
    os.register_at_fork(after_in_child=slow_child)
    halves.SecondHalf.__init__ = signalled(halves.SecondHalf.__init__)
else:  # "reaped": the child has ended and its parent has just reaped it
    os.register_at_fork(after_in_child=lambda: child_pid.write_text(str(os.getpid())))
    os.waitpid = signalled(os.waitpid)
from controller.cli import main
sys.argv[0] = "sessionroom"
main()
"""
"""`sessionroom export` that gets SIGTERM at a moment named by argv[2]; argv[1] is where a
forked child writes its pid (the CLI sees the rest)."""


UNTYPED = (
    "ALTER TABLE events RENAME TO typed; CREATE TABLE events (seq INTEGER PRIMARY KEY, wall_ns,"
    " t, phase, kind, device, topic, payload); INSERT INTO events SELECT * FROM typed;"
    " DROP TABLE typed"
)
"""A journal's events table remade with no column types: a label may be any SQLite value."""


def export_in_halves(path: Path, format_name: str, *, spool_limit: int = 0) -> dict[str, object]:
    """Export `path` split (from 2 events) and alone in a fresh interpreter; what it saw."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), format_name, str(spool_limit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def awkward_session(new_journal: JournalFactory, events: int = 3000) -> Journal:
    """A session whose text needs every kind of escaping, in both halves."""
    journal = new_journal()
    texts = ['say "hi"', "tab\there", "two\nlines", "\u2028sep", "nul\x00", "é ✓ 🙂", "a,b;c"]
    for n in range(events):
        text = texts[n % len(texts)]
        if n % 3 == 0:
            event = Event("note", text, phase="peak")
        elif n % 3 == 1:
            wire = json.dumps({"state": "ON", "brightness": n % 255, "label": text})
            event = Event("command", {"payload": wire}, device="lamp", topic="z/lamp/set")
        else:
            event = Event("state", {"hr": 60 + n % 40, "label": text}, device=text)
        journal.append(event, t=n * 0.37, wall_ns=START_NS + n * 370_000_123)
    journal.close(ended_cleanly=True)
    return journal


def long_session(new_journal: JournalFactory) -> Journal:
    """An `awkward_session` of 24,000 events, long enough for `sessionroom export` to split."""
    journal = awkward_session(new_journal)
    with sqlite3.connect(journal.path) as connection:
        for copy in range(1, 8):
            connection.execute(
                f"INSERT INTO events SELECT seq + {copy * 3000}, wall_ns, t, phase, kind, device, "
                "topic, payload FROM events WHERE seq <= 3000"
            )
    return journal


@pytest.mark.parametrize("format_name", ["jsonl", "csv", "mcap"])
def test_an_export_in_halves_is_the_text_one_process_writes(
    new_journal: JournalFactory, format_name: str
) -> None:
    journal = awkward_session(new_journal)
    result = export_in_halves(journal.path, format_name)
    assert result["splits_at"] == 1501
    assert result["same"] is True
    assert result["count"] == 3000
    assert result["progress"] == [1000, 1500, 3000]  # the first half as it goes, then all
    assert result["children_left"] is False


@pytest.mark.parametrize(
    ("reshape", "splits_at", "count"),
    [
        ("UPDATE events SET seq = seq - 10000", -8499, 3000),  # negative seqs
        ("UPDATE events SET seq = -seq; UPDATE events SET seq = -seq * 1000", 1500501, 3000),
        ("DELETE FROM events WHERE seq BETWEEN 1400 AND 1600", 1501, 2799),  # split in a gap
        ("DELETE FROM events WHERE seq NOT IN (1, 3000)", 1501, 2),  # one event a half
        (  # the last seq SQLite can number: the second half is that one event
            "UPDATE events SET seq = 9223372036854775807 WHERE seq = 3000",
            4611686018427387905,
            3000,
        ),
        (  # notes of megabytes with line breaks, NUL, non-BMP and lone surrogates
            "UPDATE events SET payload = json_quote(hex(zeroblob(1000000)) || char(8232, 133, 0,"
            " 128512)) WHERE seq IN (10, 2990);"
            "UPDATE events SET payload = '\"\\udc80 \\ud83d\\ude00\"' WHERE seq % 7 = 0",
            1501,
            3000,
        ),
        (  # device commands whose wire text holds a lone surrogate, as text and inside JSON
            'UPDATE events SET payload = \'{"payload": "\\ud800 x"}\' WHERE seq IN (2, 2999);'
            'UPDATE events SET payload = \'{"payload": "[\\"\\ud800\\"]"}\''
            " WHERE seq IN (5, 1502)",
            1501,
            3000,
        ),
        (  # a light only in the first half, another only in the second: a channel each
            "UPDATE events SET device = 'first only' WHERE seq IN (9, 12);"
            "UPDATE events SET device = 'second only' WHERE seq IN (2001, 2004)",
            1501,
            3000,
        ),
        (  # kinds named as the derived channels' paths, or their schemas
            "UPDATE events SET kind = 'room/phase', device = NULL WHERE seq IN (6, 2004);"
            "UPDATE events SET kind = 'room/volume', device = 'lamp' WHERE seq IN (9, 2007);"
            "UPDATE events SET kind = 'room.phase' WHERE seq IN (12, 1501)",
            1501,
            3000,
        ),
        (  # labels that are not text, in a table remade without column types
            f"{UNTYPED}; UPDATE events SET kind = 7 WHERE seq IN (4, 2004);"
            " UPDATE events SET kind = NULL WHERE seq IN (7, 2998);"
            " UPDATE events SET device = 1.5 WHERE seq IN (3, 1503)",
            1501,
            3000,
        ),
        (  # a phase SQLite writes in JSON with fewer digits than Python reads it, over the split
            f"{UNTYPED}; UPDATE events SET phase = 0.1 + 0.2 WHERE seq BETWEEN 1400 AND 1600",
            1501,
            3000,
        ),
    ],
)
@pytest.mark.parametrize("format_name", ["jsonl", "csv", "mcap"])
def test_any_seqs_and_texts_export_in_halves_as_one_process_writes_them(
    new_journal: JournalFactory, reshape: str, splits_at: int, count: int, format_name: str
) -> None:
    journal = awkward_session(new_journal)
    with sqlite3.connect(journal.path) as connection:
        connection.executescript(reshape)
    result = export_in_halves(journal.path, format_name)
    assert (result["splits_at"], result["count"], result["same"]) == (splits_at, count, True)
    assert result["error"] is result["alone_error"] is None


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("payload = '{not json'", "event {seq}: its payload is not JSON"),
        ("device = X'41'", "event {seq}: its device is not text"),
        ("device = CAST(X'FF' AS TEXT)", "a value SQLite cannot turn into JSON"),  # not UTF-8
        ("kind = X'41'", "event {seq}: its kind is not text"),
    ],
)
@pytest.mark.parametrize("seq", [1, 200, 1501, 2900])  # 1501: the second half's first event
@pytest.mark.parametrize("format_name", ["jsonl", "mcap"])
def test_a_damaged_event_in_either_half_is_named_and_no_child_is_left(
    new_journal: JournalFactory, seq: int, damage: str, reason: str, format_name: str
) -> None:
    journal = awkward_session(new_journal)
    with sqlite3.connect(journal.path) as connection:
        connection.execute(f"UPDATE events SET {damage} WHERE seq = {seq}")
        connection.execute("UPDATE events SET payload = '{cut' WHERE seq = 2950")
    result = export_in_halves(journal.path, format_name)
    named = f"{journal.path}: damaged journal ({reason.format(seq=seq)})"
    assert (result["error"], result["alone_error"]) == (named, named)
    assert result["children_left"] is False


@pytest.mark.parametrize("seq", [200, 1501, 2900])
@pytest.mark.parametrize("format_name", ["jsonl", "csv", "mcap"])
def test_an_infinite_label_is_named_as_damaged_in_either_half(
    new_journal: JournalFactory, seq: int, format_name: str
) -> None:
    """A number too large for a double, in a table without column types, is infinite: SQLite
    writes it in a label's JSON as `Inf`, which no JSON reader reads."""
    journal = awkward_session(new_journal)
    with sqlite3.connect(journal.path) as connection:
        connection.executescript(f"{UNTYPED}; UPDATE events SET device = 9e999 WHERE seq = {seq}")
    result = export_in_halves(journal.path, format_name)
    named = f"{journal.path}: damaged journal (event {seq}: its device is not text)"
    assert (result["error"], result["alone_error"]) == (named, named)
    assert result["children_left"] is False


@pytest.mark.parametrize(
    "remade",
    [
        "(seq TEXT, wall_ns INTEGER, t REAL, phase TEXT, kind TEXT, device TEXT, topic TEXT,"
        " payload TEXT)",
        "(seq INTEGER PRIMARY KEY, wall_ns INTEGER, t REAL, phase TEXT, kind TEXT, device TEXT,"
        " topic TEXT, payload TEXT) WITHOUT ROWID",  # INTEGER here keeps text as text
    ],
)
def test_a_journal_whose_seq_is_not_a_number_is_refused_as_one_process_refuses_it(
    new_journal: JournalFactory, remade: str
) -> None:
    """A remade events table: no traceback from working out the halves, and no JSONL with
    `"seq": n1` in it."""
    journal = awkward_session(new_journal)
    with sqlite3.connect(journal.path) as connection:
        connection.executescript(
            "ALTER TABLE events RENAME TO numbered;"
            f"CREATE TABLE events {remade};"
            "INSERT INTO events SELECT 'n' || seq, wall_ns, t, phase, kind, device, topic,"
            " payload FROM numbered;"
        )
    result = export_in_halves(journal.path, "jsonl")
    refused = f"{journal.path}: damaged journal (its events are not numbered by seq)"
    assert result["error"] == result["alone_error"] == refused
    for reads_it in (
        lambda: export_session(journal.path, io.StringIO(), format_name="csv", key=b"k" * 32),
        lambda: export_mcap(journal.path, io.BytesIO()),
        lambda: export_mcap(journal.path, io.BytesIO(), key=b"k" * 32),
        lambda: list(read_events(journal.path)),
    ):
        with pytest.raises(JournalError) as raised:
            reads_it()
        assert str(raised.value) == refused


GROWING = """
import io, os, sqlite3, sys
from pathlib import Path
from controller.journal.export import export_session
from controller.research.mcap_export import export_mcap

path = Path(sys.argv[1])

def another_writer():  # the engine appends between the split and the fork
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO events SELECT seq + 1000, wall_ns, t, phase, kind, device, topic, payload"
            " FROM events WHERE seq > (SELECT max(seq) - 1000 FROM events)"
        )
    connection.close()

os.register_at_fork(before=another_writer)
split, alone = io.StringIO(), io.StringIO()
count = export_session(path, split, format_name="jsonl", split_from=2)
export_session(path, alone, format_name="jsonl", split_from=10**9)
print(count, len(split.getvalue().splitlines()), split.getvalue() == alone.getvalue())
"""


def test_an_open_session_growing_while_it_is_exported_in_halves_is_exported_whole(
    new_journal: JournalFactory,
) -> None:
    """The halves read at different moments, but a journal only grows, in seq order: the
    first half was all on disk before the split was chosen, so the export is the session
    as the second half's read saw it, as one process reading then would write it."""
    journal = new_journal()
    for n in range(3000):
        journal.append(Event("note", f"note {n}"), t=n * 0.5, wall_ns=START_NS + n)
    assert journal.flush()
    done = subprocess.run(
        [sys.executable, "-c", GROWING, str(journal.path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4000", "4000", "True"]


CHANGED_MCAP = """
import io, os, sqlite3, sys
from pathlib import Path
from mcap.reader import make_reader
from controller.research.mcap_export import export_mcap

path, change = Path(sys.argv[1]), sys.argv[2]

def changed():  # after the MCAP channels were planned, before the fork
    with sqlite3.connect(path) as connection:
        connection.executescript(change)
    connection.close()

def read(out):
    out.seek(0)
    return [
        (channel.topic, message.log_time, message.data)
        for _, channel, message in make_reader(out).iter_messages(log_time_order=False)
    ]

os.register_at_fork(before=changed)
split, alone = io.BytesIO(), io.BytesIO()
count = export_mcap(path, split, split_from=2)
export_mcap(path, alone, split_from=10**9)
topics = [topic for topic, _, _ in read(split)]
print(count, *(topics.count(topic) for topic in sys.argv[3:]))
print(read(split) == read(alone))
"""


def changed_mcap_export(path: Path, change: str, *topics: str) -> list[str]:
    """Export `path` as MCAP in halves, with `change` made to the journal between the plan and
    the fork, then alone: the split's event count and message counts on `topics`, and whether
    it reads back as the export alone."""
    done = subprocess.run(
        [sys.executable, "-c", CHANGED_MCAP, str(path), change, *topics],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")[:2]


def test_a_channel_new_to_the_second_half_of_a_growing_mcap_export_is_written_by_the_parent(
    new_journal: JournalFactory,
) -> None:
    """The halves agree on channel ids planned from the events on disk before the fork; a
    device that first reports after that is not in the plan, so the child gives up its half
    and the parent writes it: one channel for the new lamp, its messages all there."""
    journal = awkward_session(new_journal)
    a_new_lamp_reports = (
        "INSERT INTO events SELECT max(seq) + 1, max(wall_ns), max(t), 'peak', 'state',"
        " 'new lamp', NULL, '{\"on\": true, \"level\": 0.5}' FROM events"
    )
    topics = ("/state/new lamp", "/room/light/new lamp")
    assert changed_mcap_export(journal.path, a_new_lamp_reports, *topics) == ["3001 1 1", "True"]


def test_phases_rewritten_before_the_split_between_plan_and_fork_are_those_both_halves_read(
    new_journal: JournalFactory,
) -> None:
    """Not an append: an UPDATE of the events just before the split. The phase the second half
    starts in is the one the first half ends in, as read after the fork: a `/room/phase`
    message at the second half's first note, as one process writes it."""
    journal = awkward_session(new_journal)
    rewritten = "UPDATE events SET phase = 'rewritten' WHERE seq BETWEEN 1490 AND 1500"
    assert changed_mcap_export(journal.path, rewritten, "/room/phase") == ["3000 3", "True"]


@pytest.mark.parametrize("format_name", ["csv", "mcap"])
def test_a_child_that_cannot_write_its_half_leaves_it_to_the_parent(
    new_journal: JournalFactory, format_name: str
) -> None:
    """The spool stops at 64 KB (as on a full disk): the parent writes the second half."""
    journal = awkward_session(new_journal)
    result = export_in_halves(journal.path, format_name, spool_limit=65536)
    assert (result["same"], result["count"], result["children_left"]) == (True, 3000, False)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])  # SIGHUP: the terminal closed
@pytest.mark.parametrize("format_name", ["jsonl", "mcap"])
def test_a_signal_ends_a_long_export_with_its_second_half_and_leaves_no_file(
    new_journal: JournalFactory, tmp_path: Path, stop: signal.Signals, format_name: str
) -> None:
    journal = long_session(new_journal)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / f"session.{format_name}"
    cli = [sys.executable, "-c", STALLED_CLI, "export", str(journal.path), "-o", str(target)]
    export = subprocess.Popen([*cli, "--format", format_name], stderr=subprocess.PIPE)
    children = Path(f"/proc/{export.pid}/task/{export.pid}/children")
    eventually(lambda: children.read_text(), timeout=30)
    child = int(children.read_text().split()[0])
    try:
        export.send_signal(stop)
        status = export.wait(timeout=30)
        assert not Path(f"/proc/{child}").exists()  # ended and reaped
        assert list(target.parent.iterdir()) == []
        assert (status, export.communicate()[1]) == (128 + stop, b"")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("moment", ["made", "reaped"])
@pytest.mark.parametrize("format_name", ["jsonl", "mcap"])
def test_a_signal_in_the_second_half_s_narrow_windows_ends_the_export_cleanly(
    new_journal: JournalFactory, tmp_path: Path, format_name: str, moment: str
) -> None:
    """Windows a busy machine can stretch. Made: the export's second half is made but its
    block not yet entered, so nothing would stop and reap a child forked already. Reaped: the
    child just reaped, the parent unwinding must not wait for it again (ChildProcessError)."""
    journal = long_session(new_journal)
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / f"session.{format_name}"
    child_pid = tmp_path / "child.pid"
    cli = [sys.executable, "-c", SIGNALLED_CLI, str(child_pid), moment, "export"]
    with (tmp_path / "stderr").open("w+b") as stderr:  # a pipe would wait for a child left
        done = subprocess.run(
            [*cli, str(journal.path), "-o", str(target), "--format", format_name],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=60,
            check=False,
        )
        stderr.seek(0)
        said = stderr.read()
    child = int(child_pid.read_text()) if child_pid.exists() else None
    try:
        assert child is None or not Path(f"/proc/{child}").exists()
        assert (done.returncode, said, list(target.parent.iterdir())) == (128 + 15, b"", [])
    finally:
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("format_name", ["jsonl", "csv"])
def test_the_cli_writes_a_long_export_once_to_standard_output_and_to_a_file(
    new_journal: JournalFactory, tmp_path: Path, format_name: str
) -> None:
    """Nothing the forked process holds (the header in the output's buffer) is written twice."""
    journal = long_session(new_journal)
    alone = io.StringIO()
    export_session(journal.path, alone, format_name=format_name, split_from=10**9)
    target = tmp_path / f"session.{format_name}"
    cli = [sys.executable, "-m", "controller.cli", "export", str(journal.path)]
    cli += ["--format", format_name]
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}

    to_stdout = subprocess.run(cli, capture_output=True, env=buffered, timeout=60, check=False)
    to_file = subprocess.run(
        [*cli, "-o", str(target)], capture_output=True, env=buffered, timeout=60, check=False
    )

    assert (to_stdout.returncode, to_stdout.stderr) == (0, b"")
    assert to_stdout.stdout.decode() == alone.getvalue()
    assert to_file.stderr.decode() == f"Wrote 24000 events to {target}.\n"
    assert target.read_bytes().decode() == alone.getvalue()


FORK_NOTED_CLI = """
import os, sys
os.register_at_fork(after_in_parent=lambda: print("forked", file=sys.stderr))
from controller.cli import main
sys.argv[0] = "sessionroom"
main()
"""


def test_the_cli_writes_a_long_mcap_export_in_halves_that_reads_back_as_one_process_wrote_it(
    new_journal: JournalFactory, tmp_path: Path
) -> None:
    journal = long_session(new_journal)
    target = tmp_path / "session.mcap"
    cli = [sys.executable, "-c", FORK_NOTED_CLI, "export", str(journal.path)]
    done = subprocess.run(
        [*cli, "--format", "mcap", "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (
        0,
        f"forked\nWrote 24000 events to {target} (open it in Foxglove).\n",
    )
    alone = io.BytesIO()
    export_mcap(journal.path, alone, split_from=10**9)

    def messages(stream: BinaryIO) -> list[tuple[str, int, int, int, bytes]]:
        reader = make_reader(stream, validate_crcs=True)
        return [
            (channel.topic, m.log_time, m.publish_time, m.sequence, m.data)
            for _, channel, m in reader.iter_messages(log_time_order=False)
        ]

    alone.seek(0)
    with target.open("rb") as written:
        assert messages(written) == messages(alone)


def test_an_export_whose_sighup_is_ignored_as_nohup_leaves_it_goes_on_when_one_comes(
    new_journal: JournalFactory, tmp_path: Path
) -> None:
    journal = long_session(new_journal)
    target = tmp_path / "session.jsonl"
    nohup = (
        "import os, signal, sys\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGHUP))\n"
        "from controller.cli import main\n"
        "sys.argv[0] = 'sessionroom'\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", nohup, "export", str(journal.path), "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, f"Wrote 24000 events to {target}.\n")
