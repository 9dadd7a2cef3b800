"""The engine driven tick by tick on a manual clock: what goes on the wire, what is journaled.

No broker here: the engine queues device messages (`take_outgoing`), and these tests read
them as the broker would receive them. The shipped example room is the room under test;
music and tones run without libvlc, which is one of the product's own modes (reported as
unavailable), not a mock.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from controller.api.commands import Start, parse_command
from controller.bus.outbox import Outbox, Pending
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.config.models import Cue
from controller.engine.clock import ManualClock
from controller.engine.engine import DISK_LOOK_EVERY_S, DISK_SILENT_S, Engine
from controller.engine.local import ToneOutput
from controller.engine.phases import CommandRefused
from controller.engine.safety import FLASH_WINDOW_S
from controller.journal import list_sessions, read_events
from controller.journal.events import iso_wall
from controller.journal.store import reading
from controller.sim.bls import BlsDevice
from tests.conftest import REPO

START_WALL_NS = 1_795_000_000_000_000_000


UP_FOR_S = 2 * FLASH_WINDOW_S
"""How long `Room`'s engine has been running when a test begins."""


class Room:
    """An engine on the shipped room with a manual clock, and helpers to read its output."""

    def __init__(
        self,
        data_dir: Path,
        config: Path = REPO / "config.yaml",
        *,
        tones: ToneOutput | None = None,
    ) -> None:
        room = apply_overrides(load_room(config), Overrides(data_dir=data_dir))
        self.clock = ManualClock()
        self.engine = Engine(
            room,
            clock=self.clock,
            wall_ns=lambda: START_WALL_NS + int(self.clock.now() * 1e9),
            tones=tones,
        )
        self.engine.tick()
        # up a while: the changes it could not see before it started are behind its gate
        self.clock.advance(UP_FOR_S)
        self.engine.tick()
        self.engine.take_outgoing()
        self._count = 0

    def do(self, action: str, **fields: object) -> None:
        self._count += 1
        payload = {"id": f"c{self._count}", "action": action, **fields}
        self.engine.command(parse_command(json.dumps(payload).encode()))

    def refused(self, action: str, **fields: object) -> str:
        with pytest.raises(CommandRefused) as caught:
            self.do(action, **fields)
        return str(caught.value)

    def tick(self, seconds: float = 0.0) -> dict[str, list[str]]:
        """Advance the clock, tick, and return what went out, by topic."""
        self.clock.advance(seconds)
        self.engine.tick()
        wire: dict[str, list[str]] = {}
        for message in self.engine.take_outgoing():
            assert not message.retain
            wire.setdefault(message.topic, []).append(message.payload)
        return wire

    def run_for(self, seconds: float, step: float = 0.25) -> dict[str, list[str]]:
        wire: dict[str, list[str]] = {}
        for _ in range(round(seconds / step)):
            for topic, payloads in self.tick(step).items():
                wire.setdefault(topic, []).extend(payloads)
        return wire

    def device(self, topic: str, payload: str | bytes) -> None:
        self.engine.device_message(
            topic, payload if isinstance(payload, bytes) else payload.encode()
        )


@pytest.fixture
def room(tmp_path: Path) -> Iterator[Room]:
    yield Room(tmp_path)


def z2m(brightness: int, **extra: object) -> str:
    return json.dumps({"state": "ON", "brightness": brightness, **extra}, separators=(",", ":"))


def test_outside_a_session_the_room_rests_in_its_idle_scene(tmp_path: Path) -> None:
    """Once the gate has seen a whole flash window: what the engine before this one sent in
    its last second is not known (docs/safety.md#flash-rate)."""
    room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=tmp_path))
    clock = ManualClock()
    engine = Engine(room, clock=clock)
    engine.tick()
    assert engine.take_outgoing() == []
    assert engine.snapshot().scene is None
    assert engine.seconds_to_work() == FLASH_WINDOW_S
    clock.advance(FLASH_WINDOW_S)
    engine.tick()
    wire = {m.topic: m.payload for m in engine.take_outgoing()}
    assert wire["zigbee2mqtt/ceiling_light/set"] == z2m(152, color_temp=333, transition=5.0)
    assert wire["wled/wled-strip/api"] == '{"on":false,"tt":50}'
    assert wire["vr/headset/set"] == '{"action":"stop"}'
    assert engine.snapshot().scene == "idle"


def test_starting_a_session_opens_a_private_journal_and_applies_the_first_phase(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    wire = room.tick()
    assert wire["zigbee2mqtt/ceiling_light/set"] == [z2m(76, color_temp=370, transition=5.0)]
    # docs/safety.md#loudness: content starts silent and rises at the room's ramp.
    assert wire["vr/headset/set"] == ['{"action":"play","content":"breathing:6","volume":0}']
    volumes = [json.loads(p)["volume"] for p in room.run_for(4.0)["vr/headset/set"]]
    assert volumes == sorted(volumes) and volumes[-1] == 40
    state = room.engine.snapshot()
    assert state.session is not None and state.session.participant == "P014"
    assert state.phase is not None and (state.phase.name, state.phase.planned_s) == (
        "centering",
        60,
    )
    journal = room.engine.session.journal.path  # type: ignore[union-attr]
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600


LOUDER = '{"action":"volume","volume":12}'
"""A headset's volume step, as the bus reports one it dropped unsent (`Engine.sends_lost`)."""
TASMOTA_FADE = "NoDelay;Fade 1;NoDelay;SetOption117 1;NoDelay;Speed2"


def to_the_peak_of_a_standard_session(room: Room) -> None:
    """Centering's 20 s fade, as long as a Tasmota light fades by itself, then the peak: 30 s."""
    room.do("start", plan="standard", participant="P014")
    assert room.tick()["cmnd/floorlamp/Backlog"] == [
        f"{TASMOTA_FADE} 40;NoDelay;CT 417;NoDelay;Dimmer 25"
    ]
    room.run_for(20.0)
    room.do("next")


def test_a_fade_longer_than_tasmota_can_do_is_stepped_at_a_bounded_rate(room: Room) -> None:
    to_the_peak_of_a_standard_session(room)
    colour = room.tick()["cmnd/floorlamp/Backlog"]
    assert colour == [f"{TASMOTA_FADE} 40;NoDelay;Color2 58,28,92;NoDelay;Dimmer 25"]
    steps = room.run_for(31.0, step=0.05)["cmnd/floorlamp/Backlog"]
    dimmers = [int(payload.rsplit("Dimmer ", 1)[1]) for payload in steps]
    assert dimmers == sorted(dimmers, reverse=True)
    assert dimmers[-1] == 8
    assert len(steps) <= 31.0 * 4 + 1


def test_an_auto_phase_advances_on_time_and_applies_its_scene(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(59.75)
    wire = room.tick(0.25)
    assert room.engine.snapshot().phase.name == "peak"  # type: ignore[union-attr]
    assert wire["vr/headset/set"] == ['{"action":"stop"}']
    assert wire["zigbee2mqtt/ceiling_light/set"] == [z2m(13, color_temp=500, transition=5.0)]


def test_a_second_next_within_the_guard_time_is_ignored_with_the_reason(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.tick(5.0)
    room.do("next")
    room.tick(1.0)
    assert "ignored: a phase change 1.0 s after the previous one" in room.refused("next")
    assert room.engine.snapshot().phase.name == "peak"  # type: ignore[union-attr]


def test_a_timed_cue_starts_a_bls_set_on_the_session_clock(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.tick(2.0)
    room.do("goto", phase="return")
    room.run_for(9.75)
    wire = room.tick(0.25)
    assert wire["bls/tappers/set"] == [
        '{"running":true,"mode":"tactile","speed_hz":1.0,"intensity":40,"passes":8,"duration_s":null}'
    ]
    bls = room.engine.snapshot().bls
    assert (bls.running, bls.devices, bls.pass_count, bls.passes) == (True, ["tappers"], 1, 8)
    room.run_for(3.0)
    assert room.engine.snapshot().bls.pass_count == 4
    room.run_for(5.0)
    assert room.engine.snapshot().bls.running is False


def test_a_cue_whose_command_json_cannot_carry_is_journaled_as_failed_not_a_crash(
    room: Room,
) -> None:
    """A date in a cue's command (a room file read `text: 2026-12-05` as one) stopped the
    engine mid-session with a TypeError. Room files now read dates as text; the engine still
    refuses such a cue like any other bad one, and the session goes on."""
    plan = room.engine.room.plans["rehearsal"]
    cue = Cue(at=1.0, do={"action": "note", "text": datetime.date(2026, 12, 5)})
    first = plan.phases[0].model_copy(update={"cues": [cue]})
    room.engine.room.plans["rehearsal"] = plan.model_copy(
        update={"phases": [first, *plan.phases[1:]]}
    )
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(2.0)
    room.do("note", text="still running")
    room.do("end")
    [info] = list_sessions(room.engine.room.data_dir)
    [failed] = [event for event in read_events(info.path) if event.kind == "error"]
    assert failed.payload["cue"] == 0
    assert "not JSON serializable" in failed.payload["error"]
    assert info.ended_cleanly


def test_a_set_whose_start_reached_the_tappers_twice_ends_when_the_gate_said(room: Room) -> None:
    """The bus sends at least once: a start whose acknowledgement was lost with the connection
    is sent again, and the simulated tappers (which keep their own timing) restart the set."""
    tappers = BlsDevice(load_room(REPO / "config.yaml").devices["tappers"])
    room.do("start", plan="rehearsal", participant="P014")
    room.do("bls", op="start", device="tappers", speed_hz=1.0, passes=8)
    [start] = room.tick()["bls/tappers/set"]
    started = room.clock.now()
    tappers.handle("bls/tappers/set", start.encode(), started)
    room.run_for(4.0)
    tappers.handle("bls/tappers/set", start.encode(), room.clock.now())  # delivered again
    running_until = 0.0
    for _ in range(20):  # to 9 s after the first start
        for payload in room.tick(0.25).get("bls/tappers/set", []):
            tappers.handle("bls/tappers/set", payload.encode(), room.clock.now())
        tappers.tick(room.clock.now())
        if tappers.running:
            running_until = room.clock.now() - started
    # 8 s after the first start and half a second's grace, not 8 s after the second start
    assert running_until == 8.25


def test_a_light_bar_is_told_to_stop_a_cycle_at_its_top_speed_later_than_tappers(
    room: Room,
) -> None:
    """A screen's dot turns only at an end: a set that comes while it is on its way right
    takes it on to the right end and back before the set's passes begin, up to a cycle at
    the bar's top speed (0.5 s at the room's 2 Hz). The engine's stop half a second after the
    set's length cut off the last pass of such a set; a light bar's waits that cycle more."""
    room.do("start", plan="rehearsal", participant="P014")
    for device in ("lightbar", "tappers"):
        room.do("bls", op="start", device=device, speed_hz=1.0, passes=4)
    room.tick()
    started, stopped = room.clock.now(), {}
    for _ in range(24):  # to 6 s after the start
        for topic, payloads in room.tick(0.25).items():
            if '{"running":false}' in payloads:
                stopped[topic] = room.clock.now() - started
    assert stopped == {"bls/tappers/set": 4.5, "bls/lightbar/set": 5.0}


def test_a_session_ended_within_the_grace_journals_the_stop_its_last_set_was_owed(
    room: Room,
) -> None:
    """docs/safety.md#bls-set-length: half a second after a set's length the device is told
    to stop. A session ended within that half second sent the stop after its journal was
    closed: the session's record (its export, a live replay of it) lacked a device message
    its set had caused, and the stop went out into no journal at all."""
    room.do("start", plan="rehearsal", participant="P014")
    room.do("bls", op="start", device="tappers", speed_hz=1.0, passes=8)
    room.run_for(8.25)  # the set is complete; its stop is owed at 8.5 s
    room.do("end")
    at_the_end = room.tick()
    after = room.run_for(1.0)
    [info] = list_sessions(room.engine.room.data_dir)
    sent = [
        (event.payload, event.t)
        for event in read_events(info.path)
        if event.kind == "command" and event.topic == "bls/tappers/set"
    ]
    assert sent[-1] == ({"payload": '{"running":false}'}, 8.25)
    assert at_the_end["bls/tappers/set"] == ['{"running":false}']
    assert "bls/tappers/set" not in after  # once


def test_a_bls_speed_beyond_the_room_limit_is_clamped_and_journaled(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.do("bls", op="start", device="tappers", speed_hz=3.0, passes=10)
    wire = room.tick()
    assert json.loads(wire["bls/tappers/set"][0])["speed_hz"] == 2.0
    safety = [e for e in room.engine.take_events() if e["kind"] == "safety"]
    assert safety[0]["payload"]["status"] == "clamped"
    assert "speed 3 Hz is outside 0.5–2 Hz" in safety[0]["payload"]["reason"]


def test_a_set_beyond_the_soft_limit_needs_confirmation(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    assert "confirm" in room.refused("bls", op="start", device="tappers", speed_hz=1.0, passes=40)
    room.do("bls", op="start", device="tappers", speed_hz=1.0, passes=40, confirm=True)
    assert json.loads(room.tick()["bls/tappers/set"][0])["passes"] == 40


def test_emergency_stops_everything_and_raises_the_lights(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.do("bls", op="start", device="tappers", speed_hz=1.0, passes=10)
    room.tick(1.0)
    room.do("emergency")
    wire = room.tick()
    assert wire["bls/tappers/set"] == ['{"running":false}']
    assert wire["vr/headset/set"] == ['{"action":"stop"}']
    assert wire["zigbee2mqtt/ceiling_light/set"] == [z2m(203, color_temp=250, transition=1.0)]
    state = room.engine.snapshot()
    assert state.emergency.active and state.phase.held  # type: ignore[union-attr]
    assert room.refused("next") == "emergency active: clear it first (next refused)"


def test_a_second_emergency_press_during_the_fade_makes_it_immediate(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.tick(1.0)
    room.do("emergency")
    room.tick(0.5)
    room.do("emergency")
    assert room.engine.snapshot().emergency.immediate


def test_clearing_an_emergency_returns_to_the_phase_scene_only_when_asked(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.tick(10.0)
    room.do("emergency")
    room.run_for(5.0)
    assert room.engine.snapshot().scene == "lights-up"
    room.do("clear_emergency")
    wire = room.tick()
    assert room.engine.snapshot().scene == "centering"
    assert wire["zigbee2mqtt/ceiling_light/set"] == [z2m(76, color_temp=370, transition=5.0)]


def test_a_device_that_comes_back_online_gets_its_target_again(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    room.device("zigbee2mqtt/ceiling_light/availability", '{"state":"offline"}')
    alerts = {a.key: a for a in room.engine.snapshot().alerts}
    assert alerts["device:ceiling"].level == "critical"
    room.device("zigbee2mqtt/ceiling_light/availability", '{"state":"online"}')
    wire = room.tick()
    assert wire["zigbee2mqtt/ceiling_light/set"] == [z2m(76, color_temp=370, transition=5.0)]
    assert "device:ceiling" not in {a.key for a in room.engine.snapshot().alerts}


def test_vitals_beyond_thresholds_raise_and_clear_alerts(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.device("vitals/oximeter", '{"hr": 131, "spo2": 97, "ts": 1795000000}')
    state = room.engine.snapshot()
    assert state.vitals["oximeter"].hr == 131
    assert [a.message for a in state.alerts] == [
        "Heart rate 131 bpm is above the alert threshold of 120 bpm."
    ]
    room.device("vitals/oximeter", '{"hr": 82, "spo2": 97, "ts": 1795000005}')
    assert room.engine.snapshot().alerts == []


def test_garbage_from_a_device_is_journaled_as_an_error_and_changes_nothing(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.engine.take_events()
    room.device("zigbee2mqtt/ceiling_light", b"\xff not json")
    errors = [e for e in room.engine.take_events() if e["kind"] == "error"]
    assert errors[0]["device"] == "ceiling"


def test_overrides_last_until_the_next_phase(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    room.do("lights", device="ceiling", delta=0.2)
    assert room.engine.snapshot().overrides["lights"] == {"ceiling": pytest.approx(0.5)}
    room.run_for(2.0)
    room.do("next")
    assert room.engine.snapshot().overrides["lights"] == {}


def test_a_light_nudge_is_on_its_way_with_the_command_not_a_tick_later(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    room.do("lights", device="ceiling", level=0.55)
    sent = [m for m in room.engine.take_outgoing() if m.topic == "zigbee2mqtt/ceiling_light/set"]
    assert [json.loads(m.payload)["brightness"] for m in sent] == [140]
    assert "zigbee2mqtt/ceiling_light/set" not in room.tick()  # the tick has nothing to add


def test_commands_that_need_a_session_say_so(room: Room) -> None:
    assert room.refused("next") == "no session is running; start one first"
    assert "no plan named 'nope'" in room.refused("start", plan="nope", participant="P1")


def test_ending_a_session_restores_idle_and_closes_the_journal_cleanly(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.tick(3.0)
    room.do("note", text="participant relaxed")
    room.tick(3.0)
    room.do("end")
    assert room.engine.snapshot().scene == "idle"
    [info] = list_sessions(room.engine.room.data_dir)
    assert info.ended_cleanly
    kinds = [event.kind for event in read_events(info.path)]
    assert kinds[0] == "session"
    assert kinds[kinds.index("phase") + 1] == "scene"
    notes = [e for e in read_events(info.path) if e.kind == "note"]
    assert [(n.payload, n.t, n.phase) for n in notes] == [("participant relaxed", 3.0, "centering")]


def test_a_scene_sends_a_headset_only_what_changed(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(5.0)
    room.do("scene", name="centering")
    assert "vr/headset/set" not in room.tick()
    room.do("vr", op="play", content="breathing-meadow")
    assert room.tick()["vr/headset/set"] == [
        '{"action":"play","content":"breathing-meadow","volume":0}'
    ]


def test_device_reports_not_coming_in_are_critical_unless_the_broker_itself_is_gone(
    room: Room,
) -> None:
    """docs/robustness.md#a-flood-of-device-reports: the reports' connection of their own can
    fail while the engine's is up (no vitals then); one broker outage is one alert."""

    def alerts() -> list[tuple[str, str]]:
        return [(a.key, a.level) for a in room.engine.snapshot().alerts]

    room.engine.reports_changed("connection refused")
    assert alerts() == [("intake", "critical")]
    assert room.engine.snapshot().alerts[0].message == (
        "device reports (vitals, device states) are not coming in: connection refused"
    )
    room.engine.broker_changed(False, "connection refused", None)
    assert alerts() == [("broker", "critical")]
    room.engine.broker_changed(True, None, 3.0)
    assert alerts() == [("intake", "critical")]
    room.engine.reports_changed(None)
    assert alerts() == []


def test_device_reports_back_on_their_own_connection_have_every_device_asked_again(
    room: Room,
) -> None:
    """Reports missed while only the intake was down are asked for again; when both come
    back, the bus has the intake subscribed first and the broker's return asks."""
    queries = {"zigbee2mqtt/ceiling_light/get", "cmnd/floorlamp/State"}
    room.engine.reports_changed(None)  # both connecting: the engine's connection not up yet
    assert queries.isdisjoint(room.tick())
    room.engine.broker_changed(True, None, None)
    assert queries <= set(room.tick())
    room.engine.reports_changed("connection refused")
    room.engine.reports_changed(None)
    assert queries <= set(room.tick())


def test_device_reports_read_on_the_engine_s_connection_are_a_warning_once_they_come_in(
    room: Room,
) -> None:
    """docs/robustness.md#a-flood-of-device-reports: while their own connection is down the
    engine's listens for them (the bus says so once it has subscribed), and every device is
    asked for its state: what it reported meanwhile was missed. Once reports come in there,
    the alert falls to a warning; each change is journaled once."""
    queries = {"zigbee2mqtt/ceiling_light/get", "cmnd/floorlamp/State"}
    room.engine.broker_changed(True, None, None)
    room.tick()
    room.engine.reports_changed("not authorised")
    assert queries <= set(room.tick())
    assert [(a.key, a.level) for a in room.engine.snapshot().alerts] == [("intake", "critical")]
    room.engine.reports_changed("not authorised", shared=True)
    assert queries.isdisjoint(room.tick())
    [alert] = room.engine.snapshot().alerts
    assert (alert.key, alert.level) == ("intake", "warning")
    assert alert.message == (
        "device reports (vitals, device states) come in on the engine's own connection, "
        "theirs being down (not authorised): a flood of device reports can hold up commands"
    )
    room.engine.reports_changed(None)
    assert room.engine.snapshot().alerts == []
    journaled = [e["payload"] for e in room.engine.recorder.take() if e["kind"] == "alert"]
    assert [entry.get("message", "cleared")[:40] for entry in journaled] == [
        "device reports (vitals, device states) a",
        "device reports (vitals, device states) c",
        "cleared",
    ]
    assert queries <= set(room.tick())  # back on their own connection: asked again


def volume_alerts(room: Room) -> list[tuple[str, str]]:
    return [(a.level, a.message) for a in room.engine.snapshot().alerts if a.key.startswith("vol")]


def test_volume_steps_lost_on_the_way_are_a_warning_until_half_a_minute_without_another(
    room: Room,
) -> None:
    room.do("vr", op="play", content="breathing-meadow")
    room.run_for(2.0)
    room.engine.sends_lost({"headset": [LOUDER]})
    held = (
        "warning",
        "VR headset / meditation display: volume held back, its steps did not reach the "
        "broker in time (the broker away or slow); content fades in again from silence",
    )
    assert volume_alerts(room) == [held]
    room.run_for(20.0)
    room.engine.sends_lost({"headset": [LOUDER]})  # lost again: the warning stands on
    room.run_for(29.75)
    assert volume_alerts(room) == [held]
    room.run_for(0.25)
    assert volume_alerts(room) == []


def test_a_stopped_headset_s_lost_volume_is_counted_as_silent_in_its_warning(room: Room) -> None:
    room.do("vr", op="play", content="breathing-meadow")
    room.run_for(2.0)
    room.do("vr", op="stop")
    room.engine.sends_lost({"headset": [LOUDER]})
    assert [message.rsplit("; ", 1)[1] for _, message in volume_alerts(room)] == [
        "counted as silent"
    ]


def test_the_preflight_looks_at_the_disk_every_few_seconds_not_for_every_state(
    tmp_path: Path,
) -> None:
    """A playlist's file gone shows within DISK_LOOK_EVERY_S; the states published meanwhile
    (one after every command) reuse the last look at the disk."""
    room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=tmp_path))
    name, playlist = next(iter(room.playlists.items()))
    track = tmp_path / "track.ogg"
    track.write_bytes(b"")  # only whether it is there is looked at
    room.playlists[name] = replace(playlist, tracks=[replace(playlist.tracks[0], path=track)])
    clock = ManualClock()
    engine = Engine(room, clock=clock)

    def missing() -> list[str]:
        preflight = engine.snapshot().preflight
        assert preflight is not None
        return preflight.playlists_missing

    assert missing() == []
    track.unlink()
    clock.advance(DISK_LOOK_EVERY_S - 0.01)
    assert missing() == []
    clock.advance(0.01)
    assert missing() == [name]


def test_a_look_at_the_disk_that_does_not_come_back_is_said_and_holds_up_nothing(
    tmp_path: Path,
) -> None:
    """The engine's disk chores run away from its thread (`on_disk`); here they wait in a list,
    as behind a disk that hangs. The states go on meanwhile, on the last look (none yet: nothing
    said), and say the data folder does not answer once a look is DISK_SILENT_S late; the look
    that comes back at last is shown. An emergency pressed meanwhile sends its lights-up and
    writes its marker once the disk answers."""
    room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=tmp_path))
    waiting: list[Callable[[], None]] = []
    clock = ManualClock()
    engine = Engine(room, clock=clock, on_disk=waiting.append)

    def preflight() -> tuple[bool, str | None]:
        shown = engine.snapshot().preflight
        assert shown is not None
        return shown.journal_writable, shown.journal_problem

    assert preflight() == (True, None)
    assert len(waiting) == 1  # one look asked for, however many states
    clock.advance(DISK_SILENT_S - 0.01)
    assert preflight() == (True, None)
    clock.advance(0.01)
    assert preflight() == (False, f"{tmp_path} has not answered for 5 s")
    engine.command(parse_command(b'{"id": "e1", "action": "emergency"}'))
    assert any(
        message.topic == "zigbee2mqtt/ceiling_light/set" for message in engine.take_outgoing()
    )
    marker = tmp_path / f"{room.room_id}.emergency"
    assert len(waiting) == 2 and not marker.exists()
    for chore in waiting:
        chore()
    assert marker.exists()
    assert preflight() == (True, None)


def test_a_look_at_the_disk_that_fails_of_our_own_is_a_fault_not_a_silent_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look that raises something other than OSError (a fault of ours) is a fault, loud; the
    preflight does not say the data folder stopped answering for ever after, and the look
    after it, DISK_LOOK_EVERY_S later, is shown."""
    room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=tmp_path))
    clock = ManualClock()
    engine = Engine(room, clock=clock)
    access = os.access
    failing = [True]

    def access_of_ours(path: object, mode: int) -> bool:
        if failing:
            failing.clear()
            raise RuntimeError("a fault of ours")
        return access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access_of_ours)

    def preflight() -> tuple[bool, str | None]:
        shown = engine.snapshot().preflight
        assert shown is not None
        return shown.journal_writable, shown.journal_problem

    preflight()
    assert any("looking at the disk" in alert.message for alert in engine.snapshot().alerts)
    clock.advance(DISK_SILENT_S + DISK_LOOK_EVERY_S)
    preflight()  # the next look, asked for now
    assert preflight() == (True, None)


def test_a_look_that_hangs_on_a_playlist_s_files_does_not_say_the_journal_is_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The playlists' files are on a music mount that is gone; the data folder answers. A
    look that hangs on a track says the playlist it hangs on (missing, a warning), not that
    the data folder does not answer (journal not writable: a start blocked, the operator sent
    to the wrong disk)."""
    room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=tmp_path))
    name = sorted(room.playlists)[0]
    tracks = {str(track.path) for track in room.playlists[name].tracks}
    hung, answers = threading.Event(), threading.Event()
    exists = Path.exists

    def exists_on_a_hung_mount(path: Path) -> bool:
        if str(path) in tracks:
            hung.set()
            answers.wait(10)
        return exists(path)

    monkeypatch.setattr(Path, "exists", exists_on_a_hung_mount)
    told: list[Callable[[], None]] = []
    clock = ManualClock()
    looks: list[threading.Thread] = []

    def on_look(chore: Callable[[], None]) -> None:
        looks.append(threading.Thread(target=chore))
        looks[-1].start()

    engine = Engine(room, clock=clock, from_thread=told.append, on_look=on_look)
    try:
        engine.snapshot()
        assert hung.wait(10), "the look never reached the playlist's tracks"
        clock.advance(DISK_SILENT_S)
        for call in list(told):
            call()
        shown = engine.snapshot().preflight
        assert shown is not None
        assert (shown.journal_writable, shown.journal_problem) == (True, None)
        assert shown.playlists_missing == [name]
    finally:
        answers.set()
        for look in looks:
            look.join(10)


def test_a_full_disk_is_an_alert_and_the_room_keeps_running(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.engine.journal_alert("journal: disk full — 12 events buffered in memory")
    state = room.engine.snapshot()
    assert [(a.kind, a.level) for a in state.alerts] == [("journal", "critical")]
    assert state.preflight is not None and not state.preflight.journal_writable
    room.run_for(3.0)
    room.do("next")
    room.engine.journal_alert(None)
    assert room.engine.snapshot().alerts == []


def test_phases_passed_in_one_tick_are_each_journaled_as_themselves(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.tick(400.0)
    phases = [e for e in room.engine.take_events() if e["kind"] == "phase"]
    assert [(e["payload"]["to"], e["phase"], e["t"]) for e in phases] == [
        ("centering", "centering", 0.0),
        ("peak", "peak", 60.0),
        ("return", "return", 150.0),
        ("integration", "integration", 210.0),
    ]
    assert room.engine.snapshot().scene == "integration"


def test_a_session_journal_starts_with_every_device_s_availability(room: Room) -> None:
    room.device("bls/tappers/availability", "online")
    room.do("start", plan="rehearsal", participant="P014")
    available = {
        e["device"]: e["payload"]["available"]
        for e in room.engine.take_events()
        if e["kind"] == "availability" and e["t"] == 0.0
    }
    assert available["tappers"] == "online"
    assert available["ceiling"] == "unknown"


def test_a_scene_sets_a_displays_brightness_through_the_gate(tmp_path: Path) -> None:
    room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=tmp_path))
    centering = room.scenes["centering"]
    headset = centering.vr["headset"].model_copy(update={"brightness": 60})
    room.scenes["centering"] = centering.model_copy(update={"vr": {"headset": headset}})
    clock = ManualClock()
    engine = Engine(room, clock=clock)
    clock.advance(UP_FOR_S)
    engine.command(
        parse_command(b'{"id":"s","action":"start","plan":"rehearsal","participant":"P1"}')
    )
    engine.tick()
    sent = [m.payload for m in engine.take_outgoing() if m.topic == "vr/headset/set"]
    assert '{"action":"brightness","level":60}' in sent


def test_the_engine_says_how_long_its_tick_has_nothing_to_do(room: Room) -> None:
    """The service ticks at its idle pace only while nothing moves: fades and volume ramps,
    a BLS set and an emergency waiting for its confirmation keep the tick at work; otherwise
    the next cue, automatic advance or confirmation is what it waits for."""
    assert room.engine.seconds_to_work() == math.inf, "no session: nothing is ahead"
    room.do("start", plan="rehearsal", participant="P014")
    room.tick()
    assert room.engine.seconds_to_work() == 0.0, "the first scene's fades are under way"
    room.run_for(10.0)
    assert room.engine.seconds_to_work() == pytest.approx(50.0), "the automatic advance at 60 s"
    room.device("zigbee2mqtt/ceiling_light/availability", '{"state":"offline"}')
    room.device("zigbee2mqtt/ceiling_light/availability", '{"state":"online"}')
    assert room.engine.seconds_to_work() == 0.0, "the light back online is owed its target"
    assert "zigbee2mqtt/ceiling_light/set" in room.tick()
    assert room.engine.seconds_to_work() == pytest.approx(50.0)
    room.do("goto", phase="return")
    room.run_for(6.0)
    assert room.engine.seconds_to_work() == pytest.approx(4.0), "the BLS cue at +10 s"
    room.run_for(4.0)
    assert room.engine.seconds_to_work() == 0.0, "a BLS set runs"
    room.run_for(9.0)
    assert room.engine.seconds_to_work() == pytest.approx(41.0), "the set is over"
    room.do("emergency")
    room.tick()
    assert room.engine.seconds_to_work() == pytest.approx(1.0), "the lights-up is confirmed at 1 s"
    room.run_for(1.0)
    assert room.engine.seconds_to_work() == math.inf, "latched: no cue, no advance ahead"


def test_a_stepped_fade_keeps_its_colour_while_its_messages_wait_for_the_broker(
    room: Room,
) -> None:
    """While the broker is away, or a batch waits for its acknowledgements, the bus keeps one
    message per key: a light's newer target replaces its older one (controller/bus/outbox.py,
    the bus's own queue). A fade the engine steps sends the new colour once, with the first
    level; the steps carry the level alone. A step that replaced that first message would
    leave the lamp fading in its old colour."""
    to_the_peak_of_a_standard_session(room)
    waiting = Outbox(1000)
    sent_to_lamp: list[str] = []
    for _ in range(8):
        room.engine.tick()
        for message in room.engine.take_outgoing():
            pending = Pending(message.topic, message.payload.encode(), message.qos, False)
            waiting.put(pending, key=message.key)
            if message.topic == "cmnd/floorlamp/Backlog":
                sent_to_lamp.append(message.payload)
        room.clock.advance(0.25)
    delivered = [message for _, message in waiting.take(len(waiting), now=0.0)]
    lamp = [m.payload.decode() for m in delivered if m.topic == "cmnd/floorlamp/Backlog"]
    assert len(sent_to_lamp) > 2, "a colour message, then steps"
    assert lamp == [sent_to_lamp[0], sent_to_lamp[-1]], "the colour, then the latest step"
    assert "Color2 58,28,92" in lamp[0]


def test_the_same_fault_is_journaled_once_a_minute_of_real_time_whatever_the_wall_clock_does(
    room: Room,
) -> None:
    """The wall clock set forward or back by an hour (NTP, a laptop resumed from suspend)
    neither repeats a fault within the minute nor silences it for the hour."""
    wall = [START_WALL_NS]
    room.engine.recorder.wall_ns = lambda: wall[0]
    room.engine.take_events()
    hour_ns = 3600 * 10**9

    def faults() -> int:
        return sum(event["kind"] == "error" for event in room.engine.take_events())

    room.engine.fault("the tick", RuntimeError("boom"))
    assert faults() == 1
    wall[0] += hour_ns
    room.tick(30.0)
    room.engine.fault("the tick", RuntimeError("boom"))
    assert faults() == 0
    wall[0] -= 2 * hour_ns
    room.tick(31.0)
    room.engine.fault("the tick", RuntimeError("boom"))
    assert faults() == 1


def start_command(plan: str = "rehearsal", **fields: object) -> Start:
    payload = {"id": "s1", "action": "start", "plan": plan, "participant": "P014", **fields}
    command = parse_command(json.dumps(payload).encode())
    assert isinstance(command, Start)
    return command


def test_a_start_s_journal_is_opened_away_only_for_a_start_that_would_be_carried_out(
    room: Room,
) -> None:
    """The service opens a start's journal away from the event loop (`journal_to_open`), only
    for one the engine would carry out as things stand: a journal opened for a start refused
    is a file to remove. Each refusal is the engine's own, as for a start opened here."""
    engine = room.engine
    assert engine.journal_to_open(start_command("no-such-plan")) is None
    assert "no plan named" in room.refused("start", plan="no-such-plan", participant="P014")
    room.do("emergency")
    assert engine.journal_to_open(start_command()) is None
    assert "start refused" in room.refused("start", plan="rehearsal", participant="P014")
    room.do("clear_emergency")
    room.device("vitals/bp-cuff", json.dumps({"sys": 165, "dia": 92, "hr": 104}))
    assert engine.journal_to_open(start_command()) is None
    assert "baseline needs a reason" in room.refused("start", plan="rehearsal", participant="P014")
    opening = engine.journal_to_open(start_command(reason="physician approved"))
    assert opening is not None
    journal = opening()
    assert engine.session is None  # opening it starts nothing
    engine.command(start_command(reason="physician approved"), opened=journal)
    assert engine.session is not None and engine.session.journal is journal
    assert engine.session.started_wall_ns == journal.meta.started_wall_ns
    assert engine.journal_to_open(start_command()) is None
    assert "already running" in room.refused("start", plan="rehearsal", participant="P014")


def test_a_start_whose_journal_could_not_be_opened_away_is_refused_with_the_reason(
    room: Room,
) -> None:
    """Told why its journal could not be opened (the data folder silent, say), the start is
    refused with that reason, and the refusal is on the operator record as any other."""
    refusal = CommandRefused("/data has not answered for 5 s: cannot open the session journal")
    with pytest.raises(CommandRefused, match="/data has not answered"):
        room.engine.command(start_command(), opened=refusal)
    assert room.engine.session is None
    operator = [e for e in room.engine.take_events() if e["kind"] == "operator"]
    assert operator[-1]["payload"]["refused"] == str(refusal)


def test_a_session_whose_journal_took_seconds_to_open_starts_when_it_is_carried_out(
    room: Room,
) -> None:
    """The session's start (the state's `started`, the journal's `started_wall_ns`, its file
    name) is when it started: its first events, its baseline, its session time 0; not when
    its journal was asked for, seconds before on a slow disk."""
    engine = room.engine
    opening = engine.journal_to_open(start_command())
    assert opening is not None
    journal = opening()
    room.clock.advance(4.0)  # the disk was slow
    engine.command(start_command(), opened=journal)
    assert engine.session is not None
    started = next(
        e
        for e in engine.take_events()
        if e["kind"] == "session" and e["payload"]["event"] == "start"
    )
    assert iso_wall(engine.session.started_wall_ns) == started["wall"]
    assert journal.meta.started_wall_ns == engine.session.started_wall_ns
    assert journal.flush(timeout_s=5)
    with reading(journal.path) as (_, on_disk):
        assert on_disk.started_wall_ns == engine.session.started_wall_ns
