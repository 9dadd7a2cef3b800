"""Send first, journal after: while the recorder holds, a command's device messages are out
before its events are journaled; the journal still gets every event, in order, in the right
journal, and the gate still decides what goes out.

The engine runs on the shipped example room with a manual clock and a real journal, as
`sessionroom run` holds it around a command (`RoomService._command`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.api.commands import parse_command
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.drivers.base import LightCommand
from controller.engine.clock import ManualClock
from controller.engine.engine import Engine
from controller.engine.safety import Rule
from controller.engine.targets import LightTarget
from controller.journal import Event, Journal, list_sessions, read_events
from tests.conftest import REPO

CEILING = "zigbee2mqtt/ceiling_light/set"


class Room:
    """An engine with a session running, and what its journal holds on disk."""

    def __init__(self, data_dir: Path) -> None:
        room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=data_dir))
        self.clock = ManualClock()
        self.engine = Engine(room, clock=self.clock)
        self.do("start", plan="rehearsal", participant="P014")
        for _ in range(24):
            self.clock.advance(0.25)
            self.engine.tick()
        self.engine.take_outgoing()
        self.engine.take_events()

    def do(self, action: str, **fields: object) -> None:
        payload = {"id": "c1", "action": action, **fields}
        self.engine.command(parse_command(json.dumps(payload).encode()))

    def journal(self) -> Journal:
        assert self.engine.session is not None
        return self.engine.session.journal

    def on_disk(self, journal: Journal) -> list[Event]:
        assert journal.flush(timeout_s=10.0)
        return list(read_events(journal.path))


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Room]:
    room = Room(tmp_path)
    yield room
    if room.engine.session is not None:
        room.journal().close(ended_cleanly=False)


def test_a_nudge_goes_out_before_its_events_are_journaled_and_they_follow_in_order(
    room: Room,
) -> None:
    journal = room.journal()
    before = room.on_disk(journal)
    with room.engine.recorder.holding():
        room.do("lights", device="ceiling", level=0.55)
        [sent] = [m for m in room.engine.take_outgoing() if m.topic == CEILING]
        assert room.on_disk(journal) == before  # nothing journaled yet
        assert room.engine.recorder.outgoing == []
    events = room.on_disk(journal)[len(before) :]
    assert [(e.kind, e.topic) for e in events] == [("command", CEILING), ("operator", None)]
    assert events[0].payload == {"payload": sent.payload}
    assert [e.seq for e in events] == [before[-1].seq + 1, before[-1].seq + 2]
    operator = events[1].payload
    assert isinstance(operator, dict)
    assert operator["action"] == "lights" and operator["overrides"]["lights"] == {"ceiling": 0.55}
    published = room.engine.take_events()
    assert [(e["kind"], e["seq"]) for e in published] == [(e.kind, e.seq) for e in events]


def test_the_gate_holds_back_a_flash_while_the_recorder_holds(room: Room) -> None:
    journal = room.journal()
    before = room.on_disk(journal)
    now = room.clock.now()
    engine = room.engine
    with engine.recorder.holding():
        for n in range(5):  # the ceiling flashed: its flash budget of the second is used up
            engine.output.light("ceiling", LightCommand(level=n % 2), now + n * 0.1)
        room.clock.advance(0.5)
        engine.lights.want("ceiling", LightTarget(on=True, level=1.0), 0.0)
        engine.tick()
        sent = [m for m in engine.take_outgoing() if m.topic == CEILING]
        assert len(sent) == 5  # the sixth change would flash: the gate kept it back
        assert room.on_disk(journal) == before
    events = room.on_disk(journal)[len(before) :]
    assert [e.kind for e in events] == ["command"] * 5 + ["safety"]
    safety = events[-1].payload
    assert isinstance(safety, dict) and str(Rule.FLASH_RATE) in safety["rules"]


def test_a_session_ended_while_held_journals_its_end_before_the_journal_closes(
    room: Room,
) -> None:
    with room.engine.recorder.holding():
        room.do("end")
        room.do("start", plan="rehearsal", participant="P015")
    sessions = {s.participant: s for s in list_sessions(room.engine.room.data_dir)}
    first = sessions["P014"]
    assert first.ended_cleanly and sessions["P015"].is_open
    ended = [e for e in read_events(first.path) if e.kind == "session"]
    assert [e.payload["event"] for e in ended if isinstance(e.payload, dict)] == ["start", "end"]
    started = room.on_disk(room.journal())
    assert started[0].kind == "session"
    assert isinstance(started[0].payload, dict) and started[0].payload["participant"] == "P015"
    assert started[-1].kind == "operator" and isinstance(started[-1].payload, dict)
    assert started[-1].payload["action"] == "start"


def test_an_event_that_cannot_be_journaled_keeps_none_of_the_others_back(room: Room) -> None:
    journal = room.journal()
    recorder = room.engine.recorder
    with pytest.raises(ValueError, match="unknown event kind"), recorder.holding():
        recorder.record("note", "before", t=1.0)
        recorder.record("nonsense", None, t=2.0)
        recorder.record("note", "after", t=3.0)
    assert [e.payload for e in room.on_disk(journal)[-2:]] == ["before", "after"]
