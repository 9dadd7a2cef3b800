"""What recorded text reaches a researcher's terminal: never a control sequence of its own."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from controller.cli import main
from controller.cli.common import client_broker
from controller.cli.replay import Plan, _live_plan
from controller.config import load_room
from controller.journal import Event
from controller.research.replay import Selection
from controller.research.sessions import session_meta
from controller.research.terminal import StatusLine
from tests.conftest import REPO
from tests.research.support import write_journal

TITLE = "\x1b]0;owned\x07"
CLIPBOARD = "\x1b]52;c;ZWNobyBvd25lZA==\x07"
CLEAR = "\x1b[2J"
CSI_8_BIT = "\x9b31m"


def sessionroom(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def hostile_session(data_dir: Path) -> Path:
    timeline = [
        (0.0, Event("phase", {"to": "centering"}, phase=f"centering{CSI_8_BIT}")),
        (1.0, Event("note", f"calm {CLIPBOARD} breath\n  0:00:09.0  fake line \ud800")),
        (2.0, Event("vitals", {"hr": 70}, device=f"oximeter{CLEAR}", phase="centering")),
    ]
    return write_journal(data_dir, timeline, participant=f"P-1{TITLE}", plan=f"standard{CLEAR}")


def assert_shown_escaped(output: str) -> None:
    assert not any(control in output for control in ("\x1b", "\x07", "\x9b", "\ud800"))
    assert "\\x1b" in output


def test_the_sessions_table_shows_control_characters_escaped(tmp_path: Path) -> None:
    hostile_session(tmp_path / "data")

    result = sessionroom("sessions", "--data-dir", tmp_path / "data")

    assert result.exit_code == 0
    assert_shown_escaped(result.output)
    assert "P-1\\x1b]0;owned\\x07" in result.output


def test_a_replay_prints_each_event_on_one_line_with_control_characters_escaped(
    tmp_path: Path,
) -> None:
    journal = hostile_session(tmp_path / "data")

    result = sessionroom("replay", journal, "--speed", "0")

    assert result.exit_code == 0, result.output
    assert_shown_escaped(result.stdout)
    assert "fake line" in result.stdout
    assert not any(line.lstrip().startswith("0:00:09.0") for line in result.stdout.splitlines())
    assert "\\ud800" in result.stdout


def test_the_report_shows_control_characters_escaped(tmp_path: Path) -> None:
    journal = hostile_session(tmp_path / "data")

    result = sessionroom("report", journal)

    assert result.exit_code == 0, result.output
    assert_shown_escaped(result.stdout)


def test_the_plan_of_a_live_replay_shows_recorded_names_escaped(tmp_path: Path) -> None:
    """The plan a person reads before sending commands to real devices: an escape sequence in
    a recorded device or topic could rewrite the lines above it on the terminal."""
    journal = write_journal(
        tmp_path / "data",
        [(1.0, Event("command", {"payload": "{}"}, device=f"ceiling{CLEAR}", topic=f"z/{TITLE}"))],
    )
    room = load_room(REPO / "config.yaml")
    plan = Plan(journal, session_meta(journal), Selection(), 1.0, False, 1.0, StatusLine())

    shown = _live_plan(plan, room, client_broker(room))

    assert_shown_escaped(shown)
    assert "ceiling\\x1b[2J" in shown


def test_a_file_name_from_the_sessions_folder_is_shown_escaped(tmp_path: Path) -> None:
    hostile_session(tmp_path / "data")
    (tmp_path / "data" / "sessions" / f"from-a-clinic{CLEAR}.sqlite").write_text("not SQLite")

    listing = sessionroom("sessions", "--data-dir", tmp_path / "data")
    study = sessionroom(
        "export", "--all", "--format", "bids", "-o", tmp_path / "study",
        "--data-dir", tmp_path / "data",
    )  # fmt: skip

    assert "from-a-clinic\\x1b[2J.sqlite" in listing.stderr
    assert "from-a-clinic\\x1b[2J.sqlite" in study.stderr
    assert "\x1b" not in listing.stderr + study.stderr
