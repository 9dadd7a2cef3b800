"""An engine killed (SIGKILL) right after each answer it gave loses nothing it answered `ok`.

Real processes on a Mosquitto of the test's own: `sessionroom run` (its log kept), `sim` and
`ctl`. After each of a note, a hold and an emergency the engine is killed as soon as `ctl`
has its `ok`, and started again: the session is resumed each time in its phase, held, and
latched after the emergency; every note is in the journal, and no engine wrote a traceback.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.journal import list_sessions, read_events
from tests.support.mosquitto import Mosquitto
from tests.support.room import Operator, room_on, spawn, until

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def operator(private_mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Operator]:
    with room_on(private_mosquitto, tmp_path / "data") as room:
        yield room


def test_every_answered_word_survives_a_kill_right_after_its_answer(
    operator: Operator, tmp_path: Path
) -> None:
    wire = operator.watch()
    logs: list[Path] = []

    def start_engine() -> None:
        logs.append(tmp_path / f"engine-{len(logs)}.log")
        operator.engine = spawn(
            "run", *operator.common, "--data-dir", str(operator.data_dir), "--time-scale", "1",
            output=logs[-1],
        )  # fmt: skip
        operator.until_settled(wire)

    def kill_and_restart() -> dict[str, object]:
        assert operator.engine is not None
        operator.engine.send_signal(signal.SIGKILL)
        operator.engine.wait()
        until(lambda: wire.last(f"{operator.topics}/status") == "offline", "the engine's will")
        start_engine()
        until(lambda: operator.ctl("state").returncode == 0, "the engine's state")
        return operator.state()

    until(
        lambda: wire.last("zigbee2mqtt/ceiling_light/availability") == '{"state":"online"}',
        "sim up",
    )
    start_engine()
    assert operator.ctl("start", "plan=rehearsal", "participant=P042").returncode == 0
    until(lambda: operator.ctl("goto", "phase=peak").returncode == 0, "peak", timeout=20)

    words = ["first", "second", "third"]
    for word in words:
        assert operator.ctl("note", f"text={word}").returncode == 0
        state = kill_and_restart()
        assert state["phase"]["name"] == "peak"  # type: ignore[index]
    assert operator.ctl("hold").returncode == 0
    state = kill_and_restart()
    assert (state["phase"]["name"], state["phase"]["held"]) == ("peak", True)  # type: ignore[index]
    assert operator.ctl("emergency").returncode == 0
    state = kill_and_restart()
    assert state["emergency"]["active"] is True  # type: ignore[index]
    assert operator.ctl("note", "text=after the emergency").returncode == 0
    assert operator.ctl("clear_emergency").returncode == 0
    assert operator.ctl("end").returncode == 0
    state = kill_and_restart()
    assert state["session"] is None

    [info] = list_sessions(operator.data_dir)
    assert info.ended_cleanly and info.resumed
    notes = [event.payload for event in read_events(info.path) if event.kind == "note"]
    assert notes == [*words, "after the emergency"]
    resumes = [event for event in read_events(info.path) if event.kind == "resume"]
    assert len(resumes) == 5
    for log in logs:
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text()
