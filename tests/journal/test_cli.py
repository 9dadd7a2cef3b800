"""`sessionroom export` and `sessionroom sessions`, run through click's CliRunner."""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from controller.cli import main
from controller.cli.export import ExportProgress
from controller.journal import Event
from controller.journal.export import export_session
from tests.journal.conftest import JournalFactory
from tests.journal.support import START_NS

REPO = Path(__file__).resolve().parents[2]


def sessionroom(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture
def no_config(tmp_path: Path) -> Path:
    return tmp_path / "there-is-no-config.yaml"


@pytest.fixture
def session_path(new_journal: JournalFactory) -> Path:
    journal = new_journal()
    journal.append(Event("session", {"action": "start"}), t=0.0, wall_ns=START_NS)
    journal.append(
        Event("note", "Atmung ruhig", phase="centering"), t=61.5, wall_ns=START_NS + 61_500_000_000
    )
    journal.append(
        Event("command", {"level": 0.3}, device="ceiling", topic="zigbee2mqtt/ceiling/set"),
        t=62.0,
        wall_ns=START_NS + 62 * 10**9,
    )
    journal.close(ended_cleanly=True)
    return journal.path


def test_export_by_id_writes_the_jsonl_timeline_to_stdout(
    session_path: Path, data_dir: Path, no_config: Path
) -> None:
    result = sessionroom(
        "export", "room-a-20261121T173000Z", "--data-dir", data_dir, "--config", no_config
    )

    assert result.exit_code == 0, result.output
    expected = io.StringIO()
    export_session(session_path, expected, format_name="jsonl")
    assert result.stdout == expected.getvalue()
    assert [json.loads(line)["kind"] for line in result.stdout.splitlines()] == [
        "session",
        "note",
        "command",
    ]
    assert result.stderr == ""


def test_export_by_path_needs_no_config_and_writes_csv(session_path: Path, no_config: Path) -> None:
    result = sessionroom("export", session_path, "--format", "csv", "--config", no_config)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "seq,t,wall,phase,kind,device,topic,payload"
    assert lines[2] == '2,61.5,2026-11-21T17:31:01.500000Z,centering,note,,,"""Atmung ruhig"""'


def test_export_to_a_file_is_owner_only_and_says_how_many_events(
    session_path: Path, tmp_path: Path, no_config: Path
) -> None:
    target = tmp_path / "timeline.jsonl"

    result = sessionroom("export", session_path, "-o", target, "--config", no_config)

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == f"Wrote 3 events to {target}.\n"
    assert len(target.read_text(encoding="utf-8").splitlines()) == 3
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_an_unknown_session_is_a_one_line_error_with_status_2(
    data_dir: Path, no_config: Path
) -> None:
    result = sessionroom(
        "export", "room-a-20990101T000000Z", "--data-dir", data_dir, "--config", no_config
    )

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: no session room-a-20990101T000000Z in {data_dir / 'sessions'}"
        " (`sessionroom sessions` lists them)\n"
    )


def test_a_missing_journal_file_is_a_one_line_error_with_status_2(tmp_path: Path) -> None:
    result = sessionroom("export", tmp_path / "gone.sqlite")

    assert result.exit_code == 2
    assert result.stderr == f"Error: no journal file {tmp_path / 'gone.sqlite'}\n"


@pytest.mark.parametrize("format_name", ["jsonl", "csv", "bids", "mcap"])
def test_a_file_that_is_not_a_journal_is_a_one_line_error(tmp_path: Path, format_name: str) -> None:
    foreign = tmp_path / "photos.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE photos (name)")
    target = tmp_path / "out"

    result = sessionroom("export", foreign, "--format", format_name, "-o", target)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {foreign}: not a Sessionroom journal")
    assert result.stderr.count("\n") == 1
    assert not target.exists()


def test_a_journal_damaged_half_way_leaves_no_half_written_output_file(
    session_path: Path, tmp_path: Path
) -> None:
    with sqlite3.connect(session_path) as connection:
        connection.execute("UPDATE events SET payload = '{\"cut off' WHERE seq = 3")
    target = tmp_path / "out.jsonl"

    result = sessionroom("export", session_path, "-o", target)

    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: {session_path}: damaged journal (event 3: its payload is not JSON)"
    )
    assert result.stderr.count("\n") == 1
    assert not target.exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_without_data_dir_the_sessions_are_found_through_config_yaml(
    tmp_path: Path, new_journal: JournalFactory
) -> None:
    room = tmp_path / "room"
    room.mkdir()
    (room / "config.yaml").write_text((REPO / "config.yaml").read_text())
    for folder in ("devices", "scenes", "playlists"):
        (room / folder).symlink_to(REPO / folder)
    journal = new_journal(data_dir=room / "data")
    journal.append(Event("note", "found"), t=0.0, wall_ns=START_NS)
    journal.close(ended_cleanly=True)

    exported = sessionroom("export", journal.session_id, "--config", room / "config.yaml")
    listed = sessionroom("sessions", "--config", room / "config.yaml")

    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["payload"] == "found"
    assert listed.exit_code == 0, listed.output
    assert journal.session_id in listed.stdout


def test_without_data_dir_a_broken_config_is_reported(tmp_path: Path) -> None:
    result = sessionroom("sessions", "--config", tmp_path / "config.yaml")

    assert result.exit_code == 2
    assert "config.yaml: cannot read the file" in result.stderr


@pytest.mark.usefixtures("three_sessions")
def test_sessions_prints_a_table_newest_first(data_dir: Path, no_config: Path) -> None:
    result = sessionroom("sessions", "--data-dir", data_dir, "--config", no_config)

    assert result.exit_code == 0, result.output
    assert result.stdout == textwrap.dedent(
        """\
        SESSION                  ROOM    PLAN      PARTICIPANT  STARTED (UTC)        DURATION  PHASES                     STATUS
        room-a-20261122T173000Z  room-a  standard  P-017        2026-11-22 17:30:00  5m        centering                  open
        room-b-20261121T193000Z  room-b  standard  P-017        2026-11-21 19:30:00  10m       centering                  ended (not cleanly), resumed
        room-a-20261121T173000Z  room-a  standard  P-017        2026-11-21 17:30:00  1h30m     centering → peak → return  ended cleanly
        """  # noqa: E501
    )


@pytest.mark.usefixtures("three_sessions")
def test_sessions_of_one_room(data_dir: Path, no_config: Path) -> None:
    result = sessionroom(
        "sessions", "--room", "room-b", "--data-dir", data_dir, "--config", no_config
    )

    assert [line.split()[0] for line in result.stdout.splitlines()] == [
        "SESSION",
        "room-b-20261121T193000Z",
    ]


def test_sessions_names_unreadable_files_on_stderr_and_goes_on(
    session_path: Path, no_config: Path, data_dir: Path
) -> None:
    garbage = session_path.parent / "garbage.sqlite"
    garbage.write_text("not a database " * 100)

    result = sessionroom("sessions", "--data-dir", data_dir, "--config", no_config)

    assert result.exit_code == 0
    assert (
        result.stderr == f"skipped {garbage}: not a readable SQLite file (file is not a database)\n"
    )
    assert "room-a-20261121T173000Z" in result.stdout


def test_sessions_says_when_there_are_none(tmp_path: Path, no_config: Path) -> None:
    result = sessionroom(
        "sessions", "--room", "room-a", "--data-dir", tmp_path, "--config", no_config
    )

    assert result.exit_code == 0
    assert result.stdout == f"No sessions of room room-a in {tmp_path / 'sessions'}.\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def progress_shown(capsys: pytest.CaptureFixture[str], told: list[tuple[float, int]]) -> str:
    """What a progress line of 100,000 events shows, told counts at clock times from 100 s."""
    clock = FakeClock()
    progress = ExportProgress(100_000, clock=clock)
    for clock.now, done in told:
        progress(done)
    progress.finish()
    return capsys.readouterr().err


def test_progress_appears_only_once_an_export_takes_over_a_second(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 101.1: too soon after the last update
    told = [(100.9, 1000), (101.0, 45_000), (101.1, 46_000), (101.3, 60_000)]

    assert progress_shown(capsys, told) == (
        "\rexporting… 45% (45000/100000 events)\rexporting… 60% (60000/100000 events)\n"
    )


def test_the_progress_line_ends_at_the_last_count_even_one_told_too_soon_to_show(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As a long export on two cores does: the first half as it goes, then all at once."""
    told = [(101.0, 50_000), (101.1, 100_000)]  # 101.1: too soon after the last update

    assert progress_shown(capsys, told) == (
        "\rexporting… 50% (50000/100000 events)\rexporting… 100% (100000/100000 events)\n"
    )


def test_a_quick_export_shows_no_progress(capsys: pytest.CaptureFixture[str]) -> None:
    progress = ExportProgress(10, clock=FakeClock())
    progress(10)
    progress.finish()

    assert capsys.readouterr().err == ""


def test_export_piped_into_a_reader_that_stops_early_ends_quietly(
    new_journal: JournalFactory,
) -> None:
    journal = new_journal()
    for n in range(3000):
        journal.append(Event("state", {"n": n, "padding": "p" * 100}), t=n, wall_ns=START_NS)
    journal.close(ended_cleanly=True)
    command = [
        sys.executable,
        "-c",
        "from controller.cli import main; main()",
        "export",
        str(journal.path),
    ]

    with subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        first = json.loads(process.stdout.readline())
        process.stdout.close()  # like `head -n 1`
        errors = process.stderr.read()
        process.wait(timeout=10)

    assert first["seq"] == 1
    assert errors == b""
    assert process.returncode == 1


def test_a_listing_of_sessions_loads_neither_the_room_models_nor_the_bus(
    session_path: Path, data_dir: Path
) -> None:
    """`sessions --data-dir` reads journals only: pydantic, the room's models, MQTT and the
    research modules would add about a third to its start (bench: the study part's
    `sessionroom sessions` on 1,000 journals, < 1 s)."""
    probe = textwrap.dedent(
        f"""
        import sys
        from controller.cli import main
        try:
            main(["sessions", "--data-dir", {str(data_dir)!r}])
        except SystemExit:
            pass
        heavy = ("pydantic", "aiomqtt", "paho", "controller.bus", "controller.research.analysis")
        print(sorted(m for m in sys.modules if m.startswith(heavy)), file=sys.stderr)
        """
    )
    listed = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )

    assert "room-a-20261121T173000Z" in listed.stdout
    assert listed.stderr.strip() == "[]"
