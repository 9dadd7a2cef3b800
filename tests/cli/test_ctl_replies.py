"""`sessionroom ctl` with replies no engine writes and parameters that are not the command's.

The engine is the stand-in of the console's tests (`tests/console/standin_engine.py`) on
the real Mosquitto: it answers each command as a test sets, and records what arrived; `ctl`
runs as its own process (in a thread, so that the stand-in goes on answering).
"""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tests.console.standin_engine import StandInEngine
from tests.support.mosquitto import Mosquitto
from tests.support.room import sessionroom

pytestmark = pytest.mark.mosquitto

REFUSED = 1
USAGE = 2
ESCAPES = (
    "\x1b]8;;https://example.invalid/\x07press here\x1b]8;;\x07"  # an OSC 8 link
    "\x1b[2J\x1b[H"  # clear the screen, cursor home
    "\x9b31m"  # a C1 CSI
    "\x07"
)


@pytest.fixture
async def engine(mosquitto: Mosquitto) -> StandInEngine:  # type: ignore[misc]
    async with StandInEngine(mosquitto.host, mosquitto.port, "ctl-replies") as stand_in:
        yield stand_in


async def ctl(mosquitto: Mosquitto, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        sessionroom,
        "ctl",
        "--broker",
        f"mqtt://{mosquitto.host}:{mosquitto.port}",
        "--room",
        "ctl-replies",
        "--timeout",
        "5",
        *args,
    )


async def test_a_refusal_s_reason_reaches_the_terminal_without_its_escape_sequences(
    mosquitto: Mosquitto, engine: StandInEngine
) -> None:
    engine.refusals["note"] = f"no such thing {ESCAPES} here"

    result = await ctl(mosquitto, "note", "text=hello")

    assert result.returncode == REFUSED, result.stderr
    assert "refused: no such thing" in result.stderr
    for control in ("\x1b", "\x07", "\x9b"):
        assert control not in result.stderr


@pytest.mark.parametrize("ok", ["true", 1, "yes", [True]])
async def test_a_reply_whose_ok_is_not_true_is_no_success(
    mosquitto: Mosquitto, engine: StandInEngine, ok: object
) -> None:
    engine.answers["note"] = {"ok": ok, "error": "not carried out"}

    result = await ctl(mosquitto, "note", "text=hello")

    assert result.returncode == REFUSED, (result.stdout, result.stderr)
    assert result.stdout == ""


@pytest.mark.parametrize("param", ["id=abc", "action=clear_emergency", "source=console"])
async def test_a_parameter_naming_the_command_s_id_action_or_source_is_a_usage_error(
    mosquitto: Mosquitto, engine: StandInEngine, param: str
) -> None:
    """`ctl note action=clear_emergency` sent a clear_emergency; `ctl note id=abc` sent the
    note under that id and, never hearing the reply to its own, said no engine answered."""
    result = await ctl(mosquitto, "note", "text=hello", param)

    assert result.returncode == USAGE, (result.returncode, result.stderr)
    assert engine.commands == []


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1", "0"])
def test_a_timeout_that_is_no_positive_finite_number_is_a_usage_error(timeout: str) -> None:
    """(`--timeout nan` waited for ever: asyncio's wait_for never times out at NaN.)"""
    result = sessionroom(
        "ctl", "--broker", "mqtt://127.0.0.1:1", "--room", "r", "--timeout", timeout, "state"
    )

    assert result.returncode == USAGE, result.stderr
