"""Replay targets: printed lines, a simulated room on a real Mosquitto, and the live room guard."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from click.testing import CliRunner, Result

from controller.api.state import RoomState
from controller.cli import main
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.config.models import Device, DriverName
from controller.config.settings import BrokerSettings
from controller.engine.clock import ScaledClock
from controller.journal import Event, Journal, read_events
from controller.research import room_targets
from controller.research.replay import Replay, ReplaySource, Selection
from controller.research.replay_state import ReplayedRoom
from controller.research.room_targets import SimTarget, command_payload, namespaced
from controller.research.sessions import session_meta
from controller.research.terminal import parse_keys
from tests.conftest import REPO
from tests.engine.test_safety_properties import busiest_second, luminance_corners
from tests.research.conftest import NOTE, RecordedSession, Wire, eventually
from tests.support.mosquitto import Mosquitto


def sessionroom(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def test_the_printed_replay_of_one_phase_holds_only_that_phase(recorded: RecordedSession) -> None:
    result = sessionroom(
        "replay", recorded.path, "--speed", "0", "--from", "peak", "--until", "peak"
    )
    lines = result.stdout.splitlines()[1:]

    assert result.exit_code == 0, result.output
    assert lines and all("  peak  " in line for line in lines)
    assert "phase peak (auto, planned 90 s)" in lines[0]


def test_the_printed_replay_filters_by_kind_and_shows_notes(recorded: RecordedSession) -> None:
    result = sessionroom("replay", recorded.path, "--speed", "0", "--only", "phase,note")
    kinds = [line.split()[2] for line in result.stdout.splitlines()[1:]]

    assert kinds.count("phase") == 4 and kinds.count("note") == 1
    assert NOTE in result.stdout


def test_a_bad_bound_is_a_usage_error(recorded: RecordedSession) -> None:
    result = sessionroom("replay", recorded.path, "--from", "lunch")

    assert result.exit_code == 2
    assert "neither a phase the session reached" in result.output


def test_the_rebuilt_state_is_what_a_console_renders(recorded: RecordedSession) -> None:
    meta = session_meta(recorded.path)
    state = ReplayedRoom("replayed", meta, recorded.room)
    for event in read_events(recorded.path):
        if event.t > 100:
            break
        state.apply(event)

    snapshot = RoomState.model_validate_json(
        state.snapshot(100.0, published_ns=time.time_ns()).model_dump_json()
    )

    assert snapshot.room == "replayed"
    assert snapshot.session is not None and snapshot.session.participant == "P-014"
    assert snapshot.phase is not None and snapshot.phase.name == "peak"
    assert snapshot.phase.elapsed_s == pytest.approx(40.0, abs=0.5)
    assert [p.name for p in snapshot.plan_phases][:2] == ["centering", "peak"]
    assert {"ceiling", "strip", "oximeter"} <= set(snapshot.devices)
    assert any(entry.text == "note (text left out)" for entry in snapshot.timeline)
    assert NOTE not in snapshot.model_dump_json()


async def test_a_replay_at_speed_10_reaches_the_simulated_room_in_order_and_in_time(
    recorded: RecordedSession, mosquitto: Mosquitto
) -> None:
    """The busiest 20 s of device commands, replayed at 10× (2 s).

    The replay emits each command within 5 ms of its time; on the wire, the broker's and
    QoS 1 round trips (one after another on one connection, on a shared 2-core machine)
    add up to a few tens of ms to a burst, hence the 50 ms allowed between arrivals.
    """
    replay_room = f"replay-{uuid.uuid4().hex[:6]}"
    commands = [
        (event.t, event.topic or "", command_payload(event) or "")
        for event in read_events(recorded.path)
        if command_payload(event) is not None
    ]
    start = max(
        (t for t, _, _ in commands), key=lambda t: sum(t <= u < t + 20 for u, _, _ in commands)
    )
    selection = Selection(start=start, end=start + 20)
    journal = [command for command in commands if start <= command[0] < start + 20]
    wire = Wire(mosquitto, "#")
    settings = BrokerSettings(mode="external", host=mosquitto.host, port=mosquitto.port)
    target = SimTarget(recorded.room, settings, replay_room=replay_room)
    player = Replay(
        ReplaySource.journal(recorded.path, selection),
        target,
        session_meta(recorded.path),
        speed=10,
        clock=ScaledClock(1.0),
    )
    outcome = await player.run()
    await asyncio.sleep(0.3)
    wire.close()

    devices = {d.id: d.topic for d in recorded.room.devices.values()}
    expected = [
        (namespaced(topic, recorded.room.devices[topic_device(topic, devices)], replay_room), p)
        for _, topic, p in journal
    ]
    received = [(at, topic, payload) for at, topic, payload, _ in wire.messages]
    commands = [(at, t, p) for at, t, p in received if (t, p) in expected]
    assert len(journal) >= 5
    assert [(t, p) for _, t, p in commands] == expected
    recorded_gaps = [(b[0] - a[0]) / 10 for a, b in itertools.pairwise(journal)]
    received_gaps = [b[0] - a[0] for a, b in itertools.pairwise(commands)]
    assert received_gaps == pytest.approx(recorded_gaps, abs=0.05)
    assert sorted(outcome.lateness)[len(outcome.lateness) // 2] < 0.005
    states = [p for _, t, p in received if t == f"sessionroom/{replay_room}/state"]
    assert RoomState.model_validate_json(states[-1]).session is not None
    statuses = [p for _, t, p in received if t == f"sessionroom/{replay_room}/status"]
    assert statuses[0] == "online" and statuses[-1] == "offline"
    # The replay's Zigbee2MQTT has a bridge state of its own: the live room's says nothing.
    bridges = {t for _, t, _, retained in wire.messages if t.endswith("/bridge/state")}
    live = [m for m in wire.messages if m[1] == "zigbee2mqtt/bridge/state" and not m[3]]
    assert f"{replay_room}-zigbee2mqtt/bridge/state" in bridges and live == []


def topic_device(topic: str, devices: dict[str, str | None]) -> str:
    return next(device for device, own in devices.items() if own and own in topic.split("/"))


def live_room_args(mosquitto: Mosquitto, room: str) -> list[str]:
    return ["--config", str(REPO / "config.yaml"), "--broker", mosquitto.url, "--room", room]


def retain(mosquitto: Mosquitto, topic: str, payload: str) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()


def test_a_live_replay_is_refused_while_the_rooms_engine_has_a_session_open(
    recorded: RecordedSession, mosquitto: Mosquitto
) -> None:
    room = f"live-{uuid.uuid4().hex[:6]}"
    retain(mosquitto, f"sessionroom/{room}/status", "online")
    retain(mosquitto, f"sessionroom/{room}/state", json.dumps({"session": {"id": "s-1"}}))

    result = sessionroom(
        "replay", recorded.path, "--target", "live", "--yes", *live_room_args(mosquitto, room)
    )

    assert result.exit_code == 2
    assert f"room {room} gets no replay now: its engine has session s-1 open" in result.output


def test_a_live_replay_says_what_it_would_send_and_sends_nothing_without_yes(
    recorded: RecordedSession, mosquitto: Mosquitto
) -> None:
    room = f"live-{uuid.uuid4().hex[:6]}"
    retain(mosquitto, f"sessionroom/{room}/status", "offline")
    wire = Wire(mosquitto, "zigbee2mqtt/ceiling_light/#")

    result = sessionroom(
        "replay",
        recorded.path,
        "--target",
        "live",
        "--speed",
        "40",
        "--device",
        "ceiling",
        *live_room_args(mosquitto, room),
    )
    wire.close()

    assert result.exit_code == 2
    assert "to the REAL devices of room" in result.output
    assert "ceiling" in result.output and "zigbee2mqtt/ceiling_light/set" in result.output
    assert "Nothing was sent. Add --yes" in result.output
    assert wire.messages == []


def test_a_live_replay_never_runs_faster_than_the_session_did(
    recorded: RecordedSession, mosquitto: Mosquitto
) -> None:
    result = sessionroom(
        "replay",
        recorded.path,
        "--target",
        "live",
        "--speed",
        "100",
        "--yes",
        *live_room_args(mosquitto, f"live-{uuid.uuid4().hex[:6]}"),
    )

    assert result.exit_code == 2
    assert "--speed ≤ 40" in result.output


@pytest.mark.parametrize(
    ("driver", "name", "topic", "replayed"),
    [
        ("zigbee2mqtt", "Living room/Lamp 1", "zigbee2mqtt/Living room/Lamp 1/set",
         "p-zigbee2mqtt/p-Living room/Lamp 1/set"),
        ("zigbee2mqtt", "zigbee2mqtt", "zigbee2mqtt/zigbee2mqtt/get",
         "p-zigbee2mqtt/p-zigbee2mqtt/get"),
        ("wled", "wled", "wled/wled/api", "wled/p-wled/api"),
        ("zigbee2mqtt", "lamp", "zigbee2mqtt/other/lamp/set", None),  # not its topic
    ],
)  # fmt: skip
def test_a_replayed_command_goes_where_the_copy_of_its_device_listens(
    driver: DriverName, name: str, topic: str, replayed: str | None
) -> None:
    """A friendly name with a `/` was skipped (its commands never replayed), a topic equal to
    its first level put in the wrong place."""
    device = Device(id="d", kind="light", driver=driver, topic=name)
    assert namespaced(topic, device, "p") == replayed


def test_terminal_keys_become_replay_actions() -> None:
    assert parse_keys(b" \x1b[C\x1b[A\x1b[Bq") == ["pause", "step", "faster", "slower", "quit"]
    assert parse_keys(b"x\x1bOCz") == ["step"]


async def test_eventually_gives_up_with_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match="the moon"):
        await eventually(lambda: False, "the moon", timeout=0.05)


def crafted_journal(data_dir: Path) -> Path:
    """A journal no engine wrote: a strobing ceiling light, BLS at 10 Hz, a loud headset and a
    message to a topic that is not the ceiling's (what a hostile or corrupted file may hold)."""
    on = '{"state":"ON","brightness":254,"transition":0.0}'
    strobe = [  # ON/OFF every 50 ms for 1.5 s
        (n * 0.05, "ceiling", CEILING_SET, on if n % 2 == 0 else OFF) for n in range(30)
    ]
    return journal_of(
        data_dir,
        [
            *strobe,
            (1.6, "tappers", "bls/tappers/set", BLS_10_HZ),
            (1.7, "headset", "vr/headset/set", '{"action":"play","content":"x","volume":100}'),
            (1.8, "ceiling", "zigbee2mqtt/elsewhere/set", OFF),
        ],
    )


def journal_of(data_dir: Path, commands: list[tuple[float, str, str, str]]) -> Path:
    """A journal of room `crafted` holding these (time, device, topic, payload) device
    commands only, closed 0.2 s after the last."""
    start = 1_795_000_000_000_000_000
    journal = Journal.create(
        data_dir,
        room="crafted",
        plan="rehearsal",
        participant="P-666",
        time_scale=1.0,
        wall_ns=start,
        on_alert=lambda problem: None,
    )
    for t, device, topic, payload in commands:
        event = Event("command", {"payload": payload}, device=device, topic=topic)
        journal.append(event, t=t, wall_ns=start + int(t * 1e9))
    end_t = commands[-1][0] + 0.2
    journal.close(ended_cleanly=True, wall_ns=start + int(end_t * 1e9))
    return journal.path


CEILING_SET = "zigbee2mqtt/ceiling_light/set"
OFF = '{"state":"OFF","transition":0.0}'
BLS_10_HZ = (
    '{"running":true,"mode":"tactile","speed_hz":10.0,"intensity":100,"passes":24,'
    '"duration_s":null}'
)


def test_a_live_replay_passes_the_rooms_gate_and_sends_only_to_its_own_topics(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """docs/safety.md#replay-into-a-live-room: a crafted journal cannot strobe a light, run
    BLS too fast, play too loud or reach a topic that is not the room's."""
    path = crafted_journal(tmp_path / "recorded")
    room = f"live-{uuid.uuid4().hex[:6]}"
    wire = Wire(mosquitto, "#")
    result = sessionroom(
        "replay", path, "--target", "live", "--yes", "--speed", "1",
        *live_room_args(mosquitto, room), "--data-dir", tmp_path / "room",
    )  # fmt: skip
    time.sleep(0.3)
    wire.close()
    assert result.exit_code == 0, result.output
    sent = [(at, topic, payload) for at, topic, payload, _ in wire.messages]

    ceiling = [
        (round(at * 1000), Fraction(json.loads(p).get("brightness", 0), 254), 0)
        for at, topic, p in sent
        if topic == CEILING_SET
    ]
    assert ceiling, "the first change passes"
    assert busiest_second(luminance_corners(ceiling)) <= 6, "never more than 3 flashes a second"
    assert "Held back by the safety gate" in result.output
    [bls, stop] = [json.loads(p) for _, topic, p in sent if topic == "bls/tappers/set"]
    assert bls["speed_hz"] == 2.0 and bls["intensity"] == 80
    assert stop == {"running": False}, "the replay ends within the set (12 s), which ends too"
    [vr] = [json.loads(p) for _, topic, p in sent if topic == "vr/headset/set"]
    assert vr["volume"] <= 5, "content starts no louder than one ramp step"
    assert not [topic for _, topic, _ in sent if "elsewhere" in topic]


async def test_a_sim_replay_drops_what_a_silent_broker_held_past_its_time(
    private_mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker stops (SIGSTOP, its connections open) mid-replay: the command and timeline
    event written as it stopped may still arrive (the broker's host took them), but those
    replayed after it are dropped once past their time, never delivered late; the replay
    counts them, and what it replays once the broker is back arrives."""
    monkeypatch.setattr(room_targets, "LATE_AFTER_S", 0.2)
    broker = private_mosquitto
    brightness_at = {0.0: 1, 0.1: 2, 0.2: 3, 0.3: 4, 0.8: 5}
    path = journal_of(
        tmp_path / "recorded",
        [(t, "ceiling", CEILING_SET, on_at(level)) for t, level in brightness_at.items()],
    )
    room = apply_overrides(
        load_room(REPO / "config.yaml"),
        Overrides(broker=broker.url, room_id="crafted", data_dir=tmp_path / "room"),
    )
    replay_room = f"replay-{uuid.uuid4().hex[:6]}"
    wire = Wire(broker, "#")
    settings = BrokerSettings(mode="external", host=broker.host, port=broker.port)
    target = StallingTarget(room, settings, replay_room=replay_room, broker=broker)
    player = Replay(
        ReplaySource.journal(path, Selection()),
        target,
        session_meta(path),
        speed=1,
        clock=ScaledClock(1.0),
    )
    try:
        await player.run()
        last = {("event", 5), ("command", 5)}
        await eventually(lambda: last <= set(replayed(wire, replay_room)), "the last command")
    finally:
        broker.resume()
        wire.close()
    arrived = replayed(wire, replay_room)
    assert {("event", 1), ("command", 1)} <= set(arrived)
    assert not {level for _, level in arrived} & {3, 4}
    assert target.late == 4


class StallingTarget(SimTarget):
    """Stops `broker` right after the command at 0.1 s, resumes it before the one at 0.8 s."""

    def __init__(self, *args: Any, broker: Mosquitto, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.broker = broker

    async def emit(self, event: Event) -> None:
        if event.t == 0.8:
            self.broker.resume()
        await super().emit(event)
        if event.t == 0.1:
            self.broker.pause()


def replayed(wire: Wire, replay_room: str) -> list[tuple[str, int]]:
    """The timeline events and device commands of the replay that `wire` received, each as
    ("event" or "command", the brightness it carries)."""
    commands = f"{replay_room}-zigbee2mqtt/{replay_room}-ceiling_light/set"
    arrived = []
    for _, topic, payload, _ in wire.messages:
        if topic == f"sessionroom/{replay_room}/events":
            event = json.loads(payload)
            if event["kind"] == "command":
                arrived.append(("event", event["payload"]["brightness"]))
        elif topic == commands:
            arrived.append(("command", json.loads(payload)["brightness"]))
    return arrived


def on_at(brightness: int) -> str:
    return json.dumps({"state": "ON", "brightness": brightness, "transition": 0.0})
