"""Resume never blocks a start: real journals on disk, left open by an engine that "crashed".

An engine on the shipped room (manual clock, no broker) starts a session and stops without
closing its journal, as a SIGKILL leaves it; the journal is then damaged or the room edited,
and a new engine starts on the same data directory. Whatever the journal holds, the new
engine starts; a session it cannot carry on leaves the room idle with a critical alert
naming it and the reason, and is closed as abandoned with the reason in its journal.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.api.commands import parse_command
from controller.cli.common import Overrides, apply_overrides
from controller.config import Room, load_room
from controller.engine import resume as resume_module
from controller.engine.clock import ManualClock
from controller.engine.engine import Engine
from controller.engine.resume import resume_or_close
from controller.engine.safety import FLASH_WINDOW_S
from controller.journal import (
    Event,
    Journal,
    JournalError,
    find_open_session,
    list_sessions,
    read_events,
)
from controller.journal.writer import Ending, keep_pending_end
from tests.conftest import REPO
from tests.journal.support import LimitedDisk, ReadOnlyDisk

START_WALL_NS = 1_795_000_000_000_000_000
RUN = {"phase_index": 0, "phase_started": 0.0, "held": False, "extended_s": 0.0, "fired_cues": []}
"""A run record as the engine journals it (`SessionRun.snapshot`)."""


def the_room(data_dir: Path) -> Room:
    return apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=data_dir))


def engine_on(room: Room, clock: ManualClock | None = None) -> Engine:
    ticking = clock or ManualClock()
    return Engine(room, clock=ticking, wall_ns=lambda: START_WALL_NS + int(ticking.now() * 1e9))


def command(engine: Engine, action: str, **fields: object) -> None:
    engine.command(parse_command(json.dumps({"id": "c", "action": action, **fields}).encode()))


def crashed_session(data_dir: Path, *, phase: str = "return") -> Path:
    """A rehearsal left open in `phase` by an engine that stopped without closing it."""
    clock = ManualClock()
    engine = engine_on(the_room(data_dir), clock)
    clock.advance(FLASH_WINDOW_S)  # settled: its scenes pass the gate
    command(engine, "start", plan="rehearsal", participant="P014")
    clock.advance(5.0)
    if phase != "centering":  # the first
        command(engine, "goto", phase=phase)
    assert engine.session is not None
    journal = engine.session.journal
    assert journal.flush()
    return journal.path


def restart(room: Room) -> tuple[Engine, str | None]:
    """A new engine on `room` resumes what it can; the engine and the session it resumed."""
    engine = engine_on(room)
    return engine, resume_or_close(engine, room.data_dir, room.room_id)


def resume_alert(engine: Engine) -> str:
    alerts = {alert.key: alert for alert in engine.snapshot().alerts}
    assert alerts["resume"].level == "critical"
    return alerts["resume"].message


def assert_idle(engine: Engine) -> None:
    """The room has no session and, once the engine has settled, the idle scene."""
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(FLASH_WINDOW_S)
    engine.tick()
    state = engine.snapshot()
    assert state.session is None
    assert state.scene == "idle"


def abandoned_reason(path: Path) -> str:
    """The reason the journal's last event gives for abandoning the session; it is ended."""
    [info] = [info for info in list_sessions(path.parent.parent) if info.path == path]
    assert not info.is_open and not info.ended_cleanly
    last = next(read_events(path, newest_first=True))
    assert last.kind == "session"
    assert isinstance(last.payload, dict) and last.payload["event"] == "abandoned"
    return str(last.payload["reason"])


def test_a_crashed_session_is_resumed_in_its_phase(tmp_path: Path) -> None:
    path = crashed_session(tmp_path)

    engine, resumed = restart(the_room(tmp_path))

    assert resumed == path.stem
    assert engine.phase_name == "return"
    assert engine.snapshot().alerts == []


def test_a_plan_edited_to_fewer_phases_leaves_the_room_idle_and_the_session_abandoned(
    tmp_path: Path,
) -> None:
    path = crashed_session(tmp_path, phase="integration")
    room = the_room(tmp_path)
    plan = room.plans["rehearsal"]
    room.plans["rehearsal"] = plan.model_copy(update={"phases": plan.phases[:2]})

    engine, resumed = restart(room)

    assert resumed is None
    assert_idle(engine)
    reason = "the session was in phase 4 and the plan now has 2 phases"
    assert reason in resume_alert(engine)
    assert path.stem in resume_alert(engine)
    assert reason in abandoned_reason(path)


def test_a_renamed_scene_leaves_the_room_idle_and_the_session_abandoned(tmp_path: Path) -> None:
    path = crashed_session(tmp_path, phase="peak")
    room = the_room(tmp_path)
    room.scenes["deep"] = room.scenes.pop("peak")
    plan = room.plans["rehearsal"]
    phases = [
        p.model_copy(update={"scene": "deep"}) if p.scene == "peak" else p for p in plan.phases
    ]
    room.plans["rehearsal"] = plan.model_copy(update={"phases": phases})

    engine, resumed = restart(room)

    assert resumed is None
    assert_idle(engine)
    assert "the session's scene 'peak' is no longer in the room" in resume_alert(engine)
    assert "'peak' is no longer in the room" in abandoned_reason(path)


def test_a_removed_plan_leaves_the_room_idle_and_the_session_abandoned(tmp_path: Path) -> None:
    path = crashed_session(tmp_path)
    room = the_room(tmp_path)
    del room.plans["rehearsal"]

    engine, _ = restart(room)

    assert_idle(engine)
    assert "plan 'rehearsal' is no longer in the room" in abandoned_reason(path)


def test_a_journal_holding_no_start_is_abandoned(tmp_path: Path) -> None:
    journal = Journal.create(
        tmp_path,
        room="room-a",
        plan="rehearsal",
        participant="P1",
        time_scale=1.0,
        wall_ns=START_WALL_NS,
        on_alert=lambda _problem: None,
    )
    assert journal.flush()

    engine, _ = restart(the_room(tmp_path))

    assert_idle(engine)
    assert "no session start and progress" in resume_alert(engine)
    assert "no session start and progress" in abandoned_reason(journal.path)


@pytest.mark.parametrize(
    ("progress", "reason"),
    [
        ({"run": {"phase_index": "x"}}, "plan 'rehearsal' cannot carry on the session: invalid"),
        ({"run": {"phase_index": 1}}, "progress record is damaged: KeyError: 'phase_started'"),
        ({"run": [1, 2]}, "progress record is damaged: TypeError"),
        (
            {"run": {**RUN, "phase_index": 1}, "overrides": {"lights": {"ceiling": 7}}},
            "the journal's overrides record is damaged",
        ),
        ({"run": RUN, "scene": ["peak"]}, "the session's scene ['peak'] is no longer in the room"),
    ],
)
def test_a_damaged_progress_record_is_abandoned(
    tmp_path: Path, progress: dict[str, object], reason: str
) -> None:
    path = crashed_session(tmp_path)
    journal = Journal.reopen(path, on_alert=lambda _problem: None)
    journal.append(Event("operator", progress), t=9.0, wall_ns=START_WALL_NS)
    assert journal.flush()

    engine, _ = restart(the_room(tmp_path))

    assert_idle(engine)
    assert reason in abandoned_reason(path)


def test_a_fault_half_way_through_a_resume_leaves_the_room_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any exception (here a scene that fails to apply, standing in for a bug of ours)."""
    path = crashed_session(tmp_path)
    engine = engine_on(the_room(tmp_path))

    def broken_scene(name: str, transition_s: float | None) -> None:
        raise RuntimeError("a bug while applying a scene")

    with monkeypatch.context() as patch:
        patch.setattr(engine, "_scene_when_settled", broken_scene)
        resumed = resume_or_close(engine, tmp_path, "room-a")

    assert resumed is None
    state = engine.snapshot()
    assert state.session is None
    assert "a bug while applying a scene" in resume_alert(engine)
    assert "RuntimeError('a bug while applying a scene')" in abandoned_reason(path)


def test_a_truncated_journal_never_stops_the_start_and_is_named(tmp_path: Path) -> None:
    path = crashed_session(tmp_path)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])

    engine, resumed = restart(the_room(tmp_path))

    assert resumed is None
    assert_idle(engine)
    message = resume_alert(engine)
    assert f"session {path.stem} could not be resumed" in message
    assert "damaged journal" in message or "malformed" in message


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("garbage", "not a readable SQLite file"),
        ("directory", "not a regular file"),
        ("empty", "not a Sessionroom journal"),
    ],
)
def test_a_corrupt_or_unreadable_journal_never_stops_the_start_and_is_named(
    tmp_path: Path, damage: str, reason: str
) -> None:
    path = crashed_session(tmp_path)
    for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        companion.unlink(missing_ok=True)
    if damage == "garbage":
        path.write_bytes(b"\x00not a database\xff" * 500)
    elif damage == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"")

    engine, resumed = restart(the_room(tmp_path))

    assert resumed is None
    assert_idle(engine)
    message = resume_alert(engine)
    assert f"session {path.stem} could not be resumed: its journal cannot be read" in message
    assert reason in message


def test_after_an_abandoned_session_the_next_start_is_quiet_and_a_new_session_clears_the_alert(
    tmp_path: Path,
) -> None:
    crashed_session(tmp_path)
    room = the_room(tmp_path)
    del room.plans["rehearsal"]
    engine, _ = restart(room)
    assert resume_alert(engine)

    again, resumed = restart(the_room(tmp_path))
    assert resumed is None
    assert again.snapshot().alerts == []
    command(engine, "start", plan="standard", participant="P015")
    assert "resume" not in {alert.key for alert in engine.snapshot().alerts}


def test_a_session_whose_end_was_noted_but_not_written_is_closed_not_resumed(
    tmp_path: Path,
) -> None:
    """The engine stopped while the disk refused the end marker: the end noted beside the
    journal is completed by the next start."""
    path = crashed_session(tmp_path)
    keep_pending_end(path, Ending(wall_ns=START_WALL_NS + 5 * 10**9, cleanly=True))

    engine, resumed = restart(the_room(tmp_path))

    assert resumed is None
    assert_idle(engine)
    assert engine.snapshot().alerts == []
    [info] = list_sessions(tmp_path)
    assert info.ended_cleanly and info.ended is not None
    last = next(read_events(path, newest_first=True))
    assert last.payload == {"event": "end", "completed": "at the next start"}
    assert not path.with_suffix(".ending").exists()


def test_an_end_the_disk_refused_is_retried_and_never_resumed(tmp_path: Path) -> None:
    """`end` on a disk that refuses writes (SQLite's own SQLITE_FULL): the close gives up
    waiting, the writer keeps retrying, and should the engine stop before the disk is back,
    the next start closes the session instead of resuming it."""
    path = crashed_session(tmp_path)
    disk = LimitedDisk(full=True)
    ending = Journal.reopen(path, on_alert=lambda _problem: None, connect=disk.connect)
    for n in range(20):  # more than the file's free pages hold
        ending.append(Event("note", "x" * 5000), t=10.0 + n, wall_ns=START_WALL_NS + n)
    ending.append(Event("session", {"event": "end"}), t=30.0, wall_ns=START_WALL_NS + 30 * 10**9)
    with pytest.raises(JournalError, match="disk full"):
        ending.close(ended_cleanly=True, timeout_s=0.3)
    assert disk.connections >= 2, "the writer retried on a fresh connection"
    found = find_open_session(tmp_path, "room-a")
    assert found is not None
    assert found.ending == Ending(wall_ns=START_WALL_NS + 30 * 10**9, cleanly=True)

    engine, resumed = restart(the_room(tmp_path))

    assert resumed is None
    assert_idle(engine)
    [info] = list_sessions(tmp_path)
    assert info.ended_cleanly
    assert info.ended is not None and info.ended.timestamp() == pytest.approx(
        (START_WALL_NS + 30 * 10**9) / 1e9
    )


def test_a_disk_that_refuses_to_close_the_abandoned_session_does_not_hold_back_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal left open can be read but not written (fault injected: the reopened
    journal's writer gets a read-only disk). Closing it is left to its writer's retries: the
    room shows no journal alert and its preflight still lets a new session start."""
    crashed_session(tmp_path)
    room = the_room(tmp_path)
    del room.plans["rehearsal"]
    disk = ReadOnlyDisk(read_only=True)
    defaults = Journal.reopen.__func__.__kwdefaults__  # type: ignore[attr-defined]
    monkeypatch.setitem(defaults, "connect", disk.connect)
    monkeypatch.setattr(resume_module, "CLOSE_AT_START_S", 0.2)

    engine, resumed = restart(room)

    assert resumed is None
    assert disk.connections >= 1
    state = engine.snapshot()
    assert [alert.key for alert in state.alerts] == ["resume"]
    assert state.preflight is not None and state.preflight.journal_writable


@pytest.mark.parametrize("marker_lost", [False, True], ids=["with-marker", "marker-lost"])
def test_a_session_abandoned_during_an_emergency_leaves_the_room_latched(
    tmp_path: Path, marker_lost: bool
) -> None:
    """docs/emergency.md#crash-and-resume: the session cannot be resumed (its plan is gone);
    the room starts in the safe scene, latched, not idle: by the room's emergency marker,
    or, when that was lost (a disk that refused it, a restored backup), by the journal's
    word that the emergency was active. The alert says the room is latched; the emergency
    shown began at the press, as the marker or the journal says."""
    clock = ManualClock()
    engine = engine_on(the_room(tmp_path), clock)
    command(engine, "start", plan="rehearsal", participant="P014")
    clock.advance(5.0)  # the restart's clock starts where this one did: not at the press
    command(engine, "emergency")
    pressed = engine.snapshot().emergency.since
    assert engine.session is not None and engine.session.journal.flush()
    if marker_lost:
        engine.latch_file.unlink()
    room = the_room(tmp_path)
    del room.plans["rehearsal"]

    restarted, resumed = restart(room)

    assert resumed is None
    state = restarted.snapshot()
    assert state.session is None
    assert state.emergency.active and state.emergency.since == pressed
    assert state.scene == "lights-up"
    alert = resume_alert(restarted)
    assert "plan 'rehearsal' is no longer in the room" in alert
    assert "the room is still latched in its emergency" in alert
    assert restarted.latch_file.exists()


def test_a_latched_restart_whose_journal_lost_the_press_holds_the_phase_and_drops_overrides(
    tmp_path: Path,
) -> None:
    """docs/emergency.md#crash-and-resume: the press writes the room's emergency marker at
    once, its journal entry follows with the writer's next commit; an engine killed between
    the two leaves a journal whose newest progress is from before the press (phase running,
    the operator's overrides on). The restarted engine is latched by the marker: the phase
    stays held (no automatic advance during the emergency, none after the clear until
    `release`) and the overrides are dropped, as at the press."""
    clock = ManualClock()
    engine = engine_on(the_room(tmp_path), clock)
    command(engine, "start", plan="rehearsal", participant="P014")
    clock.advance(5.0)
    command(engine, "goto", phase="return")
    command(engine, "lights", level=0.95, device="ceiling")
    assert engine.session is not None and engine.session.journal.flush()
    marker = tmp_path / "room-a.emergency"  # the press's marker, written before its journal entry
    marker.write_text(json.dumps({"since": None}))

    restarted, resumed = restart(the_room(tmp_path))

    assert resumed is not None
    state = restarted.snapshot()
    assert state.emergency.active and state.scene == "lights-up"
    assert state.phase is not None and state.phase.held
    assert state.overrides["lights"] == {}
    restarted.clock.advance(120.0)  # type: ignore[attr-defined]
    restarted.tick()
    assert restarted.snapshot().phase.name == "return"  # type: ignore[union-attr]
    command(restarted, "clear_emergency")
    restarted.clock.advance(120.0)  # type: ignore[attr-defined]
    restarted.tick()
    assert restarted.snapshot().phase.name == "return"  # type: ignore[union-attr]
    assert restarted.snapshot().overrides["lights"] == {}


@pytest.mark.parametrize("marker_lost", [False, True], ids=["with-marker", "marker-lost"])
def test_a_latched_session_resumed_keeps_the_emergency_s_start_and_journals_it_once(
    tmp_path: Path, marker_lost: bool
) -> None:
    """docs/emergency.md#crash-and-resume: the restarted engine is latched by the room's
    marker, or by the journal when the marker was lost; the resumed journal holds one
    `emergency: start` (a second would count two emergencies in the session's summary), and
    the emergency shown began at the press, not at the restart (the marker and the journal's
    progress records each say when)."""
    clock = ManualClock()
    engine = engine_on(the_room(tmp_path), clock)
    command(engine, "start", plan="rehearsal", participant="P014")
    clock.advance(5.0)
    command(engine, "emergency")
    pressed = engine.snapshot().emergency.since
    assert engine.session is not None and engine.session.journal.flush()
    path = engine.session.journal.path
    if marker_lost:
        engine.latch_file.unlink()

    restarted, resumed = restart(the_room(tmp_path))

    assert resumed is not None
    state = restarted.snapshot()
    assert state.emergency.active and state.scene == "lights-up"
    assert state.phase is not None and state.phase.held
    assert pressed is not None and state.emergency.since == pressed
    assert restarted.latch_file.exists()
    assert restarted.session is not None and restarted.session.journal.flush()
    starts = [
        event.payload
        for event in read_events(path)
        if isinstance(event.payload, dict) and event.payload.get("emergency") == "start"
    ]
    assert len(starts) == 1, starts


@pytest.mark.parametrize(
    "since", ['"yesterday"', "5", "null", '"2026-11-18T11:06:45Z"', '"' + "9" * 100_000 + '"']
)
def test_a_journal_that_does_not_say_when_its_emergency_began_still_latches_the_resume(
    tmp_path: Path, since: str
) -> None:
    """A journal is not taken on trust: an emergency start in its progress records that is not
    one as the engine writes it is the restart's time; the room is latched all the same."""
    clock = ManualClock()
    engine = engine_on(the_room(tmp_path), clock)
    command(engine, "start", plan="rehearsal", participant="P014")
    clock.advance(5.0)
    command(engine, "emergency")
    assert engine.session is not None and engine.session.journal.flush()
    path = engine.session.journal.path
    engine.latch_file.unlink()
    with sqlite3.connect(path) as connection:
        connection.execute(
            "UPDATE events SET payload = json_set(payload, '$.emergency_since', json(?)) "
            "WHERE json_extract(payload, '$.emergency_since') IS NOT NULL",
            (since,),
        )

    restarted, resumed = restart(the_room(tmp_path))

    assert resumed is not None
    state = restarted.snapshot()
    assert state.emergency.active and state.scene == "lights-up"
    assert state.emergency.since == "2026-11-18T11:06:40.000000Z"  # the restart's


def test_a_session_resumed_latched_by_the_marker_alone_journals_the_emergency_s_start(
    tmp_path: Path,
) -> None:
    """docs/emergency.md#crash-and-resume: the marker is written before the press's journal
    entry, which a crash may lose. The resumed session is latched by the marker; its journal
    then says the emergency began (once), so that its summary and replay show the latch."""
    path = crashed_session(tmp_path)
    room = the_room(tmp_path)
    (room.data_dir / f"{room.room_id}.emergency").write_text('{"since": null}')

    restarted, resumed = restart(room)

    assert resumed is not None and restarted.snapshot().emergency.active
    assert restarted.session is not None and restarted.session.journal.flush()
    steps = [
        (event.kind, event.payload.get("emergency"), event.payload.get("in_emergency"))
        for event in read_events(path)
        if isinstance(event.payload, dict) and event.kind in ("safety", "resume")
    ]
    assert steps == [("safety", "start", True), ("resume", None, True)], steps


def test_emergency_clear_emergency_with_the_marker_s_chores_late_leaves_the_second_s_marker(
    tmp_path: Path,
) -> None:
    """The marker's chores wait (a slow disk) while the room is pressed, cleared and pressed
    again; done in their order at last, they leave the marker of the second press."""
    clock = ManualClock()
    waiting: list[Callable[[], None]] = []
    room = the_room(tmp_path)
    engine = Engine(
        room,
        clock=clock,
        wall_ns=lambda: START_WALL_NS + int(clock.now() * 1e9),
        on_disk=waiting.append,
        on_look=lambda chore: chore(),
    )
    command(engine, "emergency")
    clock.advance(1.0)
    command(engine, "clear_emergency")
    clock.advance(1.0)
    command(engine, "emergency")
    second = engine.snapshot().emergency.since
    assert not engine.latch_file.exists() and len(waiting) == 3
    for chore in waiting:
        chore()
    assert json.loads(engine.latch_file.read_text()) == {"since": second}
    assert engine_on(the_room(tmp_path)).snapshot().emergency.since == second


def test_a_session_pressed_before_its_marker_is_written_resumes_latched_by_its_journal(
    tmp_path: Path,
) -> None:
    """A crash after the press's journal entry, before its marker reached the disk (the disk
    chore still waiting): the restarted engine is latched by the journal."""
    clock = ManualClock()
    waiting: list[Callable[[], None]] = []
    engine = Engine(
        the_room(tmp_path),
        clock=clock,
        wall_ns=lambda: START_WALL_NS + int(clock.now() * 1e9),
        on_disk=waiting.append,
        on_look=lambda chore: chore(),
    )
    command(engine, "start", plan="rehearsal", participant="P014")
    clock.advance(5.0)
    command(engine, "emergency")
    assert engine.session is not None and engine.session.journal.flush()
    assert not engine.latch_file.exists() and waiting

    restarted, resumed = restart(the_room(tmp_path))

    assert resumed is not None and restarted.snapshot().emergency.active


def test_a_resumed_session_s_scene_goes_out_alone_once_the_engine_has_settled(
    tmp_path: Path,
) -> None:
    """docs/safety.md#flash-rate: nothing goes out before the gate has seen a whole flash
    window (what the engine before sent in its last second is not known), and then the
    session's scene alone: the idle scene went out first, and the headset was told to stop
    and to play again in the same millisecond."""
    crashed_session(tmp_path, phase="centering")
    engine, resumed = restart(the_room(tmp_path))
    assert resumed is not None
    engine.tick()
    devices = set(engine.output.device_topics())
    assert [m for m in engine.take_outgoing() if m.topic in devices] == []
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(FLASH_WINDOW_S)
    engine.tick()
    headset = [
        json.loads(m.payload)["action"]
        for m in engine.take_outgoing()
        if m.topic == "vr/headset/set"
    ]
    assert headset == ["play"]
    assert engine.snapshot().scene == "centering"


def test_the_operator_s_stop_in_the_first_second_is_not_overtaken_by_the_resumed_scene(
    tmp_path: Path,
) -> None:
    """docs/safety.md#flash-rate: the resumed session's scene waits for the engine to
    settle; a stop the operator gave the headset meanwhile stands (the scene's play went out
    after it, and the content the operator had just stopped played again)."""
    crashed_session(tmp_path, phase="centering")
    engine, resumed = restart(the_room(tmp_path))
    assert resumed is not None
    assert isinstance(engine.clock, ManualClock)
    engine.clock.advance(0.3)
    command(engine, "vr", op="stop")
    engine.tick()
    engine.clock.advance(FLASH_WINDOW_S)
    engine.tick()
    wire = engine.take_outgoing()
    headset = [json.loads(m.payload)["action"] for m in wire if m.topic == "vr/headset/set"]
    assert "play" not in headset, headset
    assert "zigbee2mqtt/ceiling_light/set" in {m.topic for m in wire}  # the rest of the scene
    assert engine.snapshot().scene == "centering"


def test_a_session_started_after_the_operator_s_stop_in_the_first_second_plays_its_content(
    tmp_path: Path,
) -> None:
    """The operator's word stands until a scene is chosen after it: a session started then
    has its first phase's content, once the engine has settled."""
    clock = ManualClock()
    engine = engine_on(the_room(tmp_path), clock)
    clock.advance(0.2)
    command(engine, "vr", op="stop")
    clock.advance(0.2)
    command(engine, "start", plan="rehearsal", participant="P014")
    clock.advance(FLASH_WINDOW_S)
    engine.tick()
    headset = [
        json.loads(m.payload)["action"]
        for m in engine.take_outgoing()
        if m.topic == "vr/headset/set"
    ]
    assert headset[-1:] == ["play"], headset
