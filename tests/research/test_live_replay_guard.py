"""Edges of the live replay (docs/safety.md#replay-into-a-live-room), each found by
attacking it:

* a live replay gives the room back the moment its engine is commanded, and the engine's
  safe targets go out again a second after the lights-up, so nothing the replay had in
  flight can leave the lights darker than the safe scene;
* recorded BLS sets too long to count (passes beyond any float), or with both passes and
  seconds, are refused, never raised, never sent;
* a recorded request to measure (a cuff asked during the session) is never replayed: a
  replay must not inflate the cuff of whoever sits in the room now;
* a BLS device is told to stop half a second (real time) after the length the gate judged
  for a set the replay started, whether the replay is paused or slowed, or ends first (a
  start the bus delivered twice restarts the set on a device that keeps its own timing);
* a headset's screen the replay has not stopped itself may show anything (an idle scene's
  content): its brightness swings pass the flash-rate rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import paho.mqtt.publish as publish
import pytest

from controller.api.client import RoomClient
from controller.bus.outbox import Pending
from controller.cli.common import Overrides, apply_overrides
from controller.config import Room, load_room
from controller.config.settings import BrokerSettings, HomeAssistantSettings
from controller.drivers.mqtt_vitals import MEASURE_REQUEST
from controller.drivers.payloads import PayloadError
from controller.engine.clock import ScaledClock
from controller.engine.service import RoomService
from controller.journal import Event, Journal, SessionMeta
from controller.research.replay import Position, Replay, ReplaySource, Selection
from controller.research.room_targets import (
    BROKER_LOST,
    PRESSED,
    UNREADABLE_STATE,
    LiveTarget,
    engine_activity,
)
from controller.research.sessions import session_meta
from tests.conftest import REPO
from tests.research.conftest import Wire
from tests.support.mosquitto import Mosquitto

CEILING_SET = "zigbee2mqtt/ceiling_light/set"
SAFE_BRIGHTNESS = 203
"""The safe scene's ceiling level (80 %) as Zigbee2MQTT brightness."""
START_NS = 1_795_000_000_000_000_000


def dimming_journal(data_dir: Path) -> Path:
    """A recorded ceiling fading down from 60 % over 3 s, a message every 5 ms (a slow fade
    the gate lets through: one transition); a session's stepped fades, several lights at
    once, send about as often."""
    journal = Journal.create(
        data_dir,
        room="recorded",
        plan="rehearsal",
        participant="P-1",
        time_scale=1.0,
        wall_ns=START_NS,
        on_alert=lambda problem: None,
    )
    for n in range(600):
        brightness = max(1, 150 - n // 4)
        payload = json.dumps(
            {"state": "ON", "brightness": brightness, "transition": 0.0}, separators=(",", ":")
        )
        event = Event("command", {"payload": payload}, device="ceiling", topic=CEILING_SET)
        journal.append(event, t=n * 0.005, wall_ns=START_NS + int(n * 0.005e9))
    journal.close(ended_cleanly=True, wall_ns=START_NS + int(3.1e9))
    return journal.path


def room_on(broker: Mosquitto, tmp_path: Path) -> tuple[Room, BrokerSettings]:
    """The shipped room on `broker` under a room id of its own, and the broker's settings."""
    room = apply_overrides(
        load_room(REPO / "config.yaml"),
        Overrides(
            broker=broker.url, room_id=f"r{uuid.uuid4().hex[:8]}", data_dir=tmp_path / "room"
        ),
    )
    return room, BrokerSettings(mode="external", host=broker.host, port=broker.port)


@contextlib.asynccontextmanager
async def replay_under_way(
    room: Room, settings: BrokerSettings, tmp_path: Path
) -> AsyncIterator[tuple[RoomClient, LiveTarget, asyncio.Task[object]]]:
    """The room's engine runs (idle, no session: a live replay is allowed) while a replay of
    `dimming_journal` goes to the room's devices, stopped the way `sessionroom replay` stops
    it (`on_engine_busy`); yields a client of the room, the replay's target and its task a
    second into the replay."""
    path = dimming_journal(tmp_path / "recorded")
    meta = session_meta(path)
    target = LiveTarget(room, settings, meta)
    player = Replay(
        ReplaySource.journal(path, Selection()), target, meta, speed=1.0, clock=ScaledClock(1.0)
    )
    target.on_engine_busy = lambda reason: player.stop()
    engine_task = asyncio.create_task(RoomService(room, local_outputs=False).run())
    try:
        async with RoomClient(settings, room=room.room_id, client_id="attack") as client:
            await client.wait_online(5)
            await asyncio.sleep(0.5)
            replaying = asyncio.create_task(player.run())
            await asyncio.sleep(1.0)
            yield client, target, replaying
            await asyncio.wait_for(replaying, 10)
    finally:
        engine_task.cancel()
        await asyncio.gather(engine_task, return_exceptions=True)


async def test_a_live_replay_cannot_undo_the_emergencys_lights_up(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """docs/emergency.md#nothing-darker-nothing-louder: while latched, no message may set a
    light below its safe-scene level, "not ... a replay"; docs/safety.md: a live replay
    "stops if R's engine opens ... an emergency meanwhile".

    The operator presses emergency in the middle of a replay of a dimming ceiling. After
    the engine's lights-up, the replay keeps sending its recorded levels until the retained
    state tells it about the emergency (a tick, a broker round trip): the ceiling goes dark
    again, and the engine, which believes its lights-up stands, never sends it again.
    """
    room, settings = room_on(private_mosquitto, tmp_path)
    wire = Wire(private_mosquitto, CEILING_SET)
    try:
        async with replay_under_way(room, settings, tmp_path) as (client, _, replaying):
            assert (await client.command("emergency", timeout=5))["ok"]
            await asyncio.wait_for(replaying, 10)
            await asyncio.sleep(1.5)  # time for the engine to put anything right
    finally:
        wire.close()

    levels = [json.loads(payload).get("brightness", 0) for _, _, payload, _ in wire.messages]
    lights_up = max(i for i, level in enumerate(levels) if level == SAFE_BRIGHTNESS)
    after = levels[lights_up + 1 :]
    assert not [level for level in after if level < SAFE_BRIGHTNESS], (
        f"after the emergency's lights-up the replay sent the ceiling {after}; "
        f"the last level on the wire is {levels[-1]} (safe scene: {SAFE_BRIGHTNESS})"
    )


async def test_a_live_replay_gives_the_room_back_at_a_press_of_home_assistants_button(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """docs/safety.md#replay-into-a-live-room: a live replay stops "the moment anyone sends
    the room's engine a command, before the engine acts on it". Home Assistant's emergency
    button does not use `cmd` but `sessionroom/<room>/emergency`: a replay that listens on
    `cmd` alone sends on until the engine's retained state shows the emergency (a tick and
    a round trip later), and what it sends meanwhile crosses the emergency's lights-up and
    stops. It gives the room back at the press itself."""
    room, settings = room_on(private_mosquitto, tmp_path)
    home_assistant = HomeAssistantSettings(discovery=True, prefix=f"ha{uuid.uuid4().hex[:6]}")
    room.settings = room.settings.model_copy(update={"home_assistant": home_assistant})
    async with replay_under_way(room, settings, tmp_path) as (client, target, replaying):
        host, port = private_mosquitto.host, private_mosquitto.port
        topic = f"sessionroom/{room.room_id}/emergency"
        await asyncio.to_thread(publish.single, topic, "PRESS", hostname=host, port=port)
        await asyncio.wait_for(replaying, 10)
        assert (await client.state(timeout=5))["emergency"]["active"]
    assert target.halted == PRESSED


@pytest.mark.parametrize("digits", [310, 400, 4000])
async def test_a_recorded_bls_set_with_a_huge_pass_count_is_refused_not_raised(
    digits: int,
) -> None:
    """docs/safety.md#replay-into-a-live-room and the CommandDriver.decode contract: a recorded
    command the room cannot take is held back with the reason. `mqtt_bls.decode` accepts an
    integer `passes` of any size (up to Python's 4300 digits), and the gate's set-length check
    (`safety._set_length`: `passes / speed_hz`) then raises OverflowError out of
    `LiveTarget.emit`, ending the replay with a traceback."""
    target, sent = live_target()
    payload = '{"running":true,"mode":"tactile","passes":' + "9" * digits + ',"duration_s":null}'
    event = Event("command", {"payload": payload}, device="tappers", topic="bls/tappers/set")

    try:
        await target.emit(event)
    except (PayloadError, ValueError) as problem:  # pragma: no cover - the wanted refusal path
        pytest.fail(f"raised instead of holding back: {problem!r}")
    except OverflowError as problem:
        pytest.fail(f"the gate raised {problem!r} instead of refusing the set")
    assert sent == []
    assert target.held_back, "the set is held back with the reason"


def live_target(
    clock: Callable[[], float] | None = None,
) -> tuple[LiveTarget, list[tuple[str, str]]]:
    """A LiveTarget for the shipped room whose bus only records what it would publish (a
    stand-in: these tests look at what the target sends, not at the broker); its clock moves
    half a second at each reading unless `clock` is given."""
    room = load_room(REPO / "config.yaml")
    meta = SessionMeta(
        session_id="recorded",
        room="recorded",
        plan="rehearsal",
        participant="P-1",
        time_scale=1.0,
        started_wall_ns=START_NS,
        ended_wall_ns=None,
        ended_cleanly=True,
    )
    settings = BrokerSettings(mode="external", host="127.0.0.1", port=1)
    now = [100.0]

    def half_a_second_on() -> float:
        now[0] += 0.5
        return now[0]

    target = LiveTarget(room, settings, meta, clock=clock or half_a_second_on)
    sent: list[tuple[str, str]] = []

    class Bus:
        expired = 0

        def publish_gated(self, message: object, *, expires_s: float | None) -> None:
            sent.append((message.topic, message.payload))  # type: ignore[attr-defined]

        async def __aexit__(self, *_exc: object) -> None:
            sent.append(CLOSED)

    target._bus = Bus()  # type: ignore[assignment]
    return target, sent


async def test_a_recorded_set_with_both_passes_and_seconds_is_refused() -> None:
    """docs/safety.md#invalid-request: "a BLS set ... with both a number of passes and a
    number of seconds ... cannot be judged and is refused (invalid-request)"; "Nothing is
    dropped silently". `mqtt_bls.decode` reads `{"passes":5,"duration_s":500}` (a form the
    engine never writes), and `LiveTarget._through_the_gate` drops `duration_s` whenever
    `passes` is set, so the gate never sees both: the set goes out as 5 passes, with no
    verdict and nothing held back."""
    target, sent = live_target()
    payload = '{"running":true,"mode":"tactile","speed_hz":1.0,"passes":5,"duration_s":500}'
    await target.emit(
        Event("command", {"payload": payload}, device="tappers", topic="bls/tappers/set")
    )
    assert sent == [] and target.held_back, f"sent {sent}; held back {target.held_back}"


async def test_a_replayed_resume_does_not_start_sound_the_gate_never_ramped() -> None:
    """docs/safety.md#volume-ramp: "A device the gate has not seen is assumed silent, so the
    first sound ramps in too." A recording that starts (or a selection that starts) with a
    `{"action":"resume"}` to the headset: `RoomOutput.vr` sends it as it is, and the headset
    resumes its content at whatever volume it holds (the simulated headset keeps the last
    volume it was given; 50 by default) — the first sound of this replay, never ramped."""
    target, sent = live_target()
    await target.emit(
        Event("command", {"payload": '{"action":"resume"}'}, device="headset", topic=HEADSET)
    )
    told = [json.loads(payload) for topic, payload in sent if topic == HEADSET]
    volumes = [message["volume"] for message in told if "volume" in message]
    assert not told or (volumes and told[0].get("volume", 100) <= 5), (
        f"the headset was told {told}: it resumes at a volume the gate never let out"
    )


async def test_a_replayed_ramp_whose_step_was_lost_goes_on_from_silence() -> None:
    """docs/robustness.md#queueing: a volume the bus dropped unsent (the broker away or slow)
    takes the headset's later ones with it and is told to the publisher; the replay then
    tells the headset 0 (a lower volume may have been dropped with them) and the next
    recorded step rises from silence (5 % here), not from a volume the headset never got
    (15 %, from 10 %)."""
    now = [0.0]
    target, sent = live_target(clock=lambda: now[0])
    for volume in (0, 2, 5, 7, 10):
        payload = f'{{"action":"volume","volume":{volume}}}'
        await target.emit(Event("command", {"payload": payload}, device="headset", topic=HEADSET))
        now[0] += 0.25
    lost_step = Pending(HEADSET, b'{"action":"volume","volume":10}', 1, False, chain="headset")
    target.sends_lost([lost_step])
    sent.clear()
    now[0] += 1.0
    payload = '{"action":"volume","volume":40}'
    await target.emit(Event("command", {"payload": payload}, device="headset", topic=HEADSET))
    assert [json.loads(payload)["volume"] for _, payload in sent] == [0, 5], target.held_back


@pytest.mark.parametrize(
    ("device", "topic", "lit", "stop", "said"),
    [
        (
            "lightbar",
            "bls/lightbar/set",
            '{"running":true,"mode":"visual","speed_hz":1.0,"passes":8,"duration_s":null}',
            '{"running":false}',
            "a set's start did not reach the broker in time",
        ),
        (
            "headset",
            "vr/headset/set",
            '{"action":"play","content":"breathing-meadow","volume":0}',
            '{"action":"stop"}',
            "what changed its screen did not reach the broker in time",
        ),
    ],
)
async def test_a_replayed_start_or_play_that_was_lost_stops_the_device_and_is_said(
    device: str, topic: str, lit: str, stop: str, said: str
) -> None:
    """docs/robustness.md#queueing: what lit a light bar or a screen (a set's start, a
    play) that the bus dropped unsent (waiting for the broker past `LIT_LATE_S`, or held up
    on the way) is told to the publisher; the replay says so and tells the device to stop
    with what it sends next (held up, it may yet reach it), not at the end of a set's
    length or of the content."""
    now = [0.0]
    target, sent = live_target(clock=lambda: now[0])
    await target.emit(Event("command", {"payload": lit}, device=device, topic=topic))
    [(_, sent_lit)] = sent
    target.sends_lost([Pending(topic, sent_lit.encode(), 1, False, chain=device)])
    sent.clear()
    now[0] += 1.0
    await target.position(a_position(1.0))

    assert sent == [(topic, stop)]
    assert target.held_back[-1] == f"{device}: {said}"


async def test_a_replayed_screen_whose_rise_was_lost_is_stopped_at_the_brightness_judged() -> None:
    """docs/robustness.md#queueing: a fall to 30 % went (late), the rise to 90 % behind it was
    dropped: the headset shows 30 % where the gate judged 90 %, and a recorded 85 % later
    would change it by 55 % unjudged. The replay stops the headset and tells it the
    brightness judged, which a stopped screen keeps for its next play."""
    now = [0.0]
    target, sent = live_target(clock=lambda: now[0])
    for payload in (
        '{"action":"play","content":"breathing-meadow","volume":0}',
        '{"action":"brightness","level":30}',
    ):
        await target.emit(Event("command", {"payload": payload}, device="headset", topic=HEADSET))
        now[0] += 1.5
    await target.emit(
        Event("command", {"payload": '{"action":"brightness","level":90}'}, device="headset",
              topic=HEADSET)
    )  # fmt: skip
    rise = sent[-1][1]
    target.sends_lost([Pending(HEADSET, rise.encode(), 1, False, chain="headset")])
    sent.clear()
    now[0] += 1.0
    await target.position(a_position(now[0]))

    assert sent == [
        (HEADSET, '{"action":"stop"}'),
        (HEADSET, '{"action":"brightness","level":90}'),
    ], target.held_back


async def test_a_screen_the_replay_has_not_darkened_is_judged_for_its_brightness() -> None:
    """docs/safety.md#flash-rate: a brightness change passes the gate unless the screen's
    content was stopped and nothing played since. The replay does not know what the room's
    screen shows when it begins (an idle scene may play content on it): a recording, or a
    selection, that swings the headset's brightness without a stop of its own must not
    reach it faster than the flash rate."""
    now = [100.0]
    target, sent = live_target(lambda: now[0])
    for n in range(10):  # 0 % and 100 %, a swing every 50 ms
        level = 100 if n % 2 else 0
        payload = f'{{"action":"brightness","level":{level}}}'
        await target.emit(Event("command", {"payload": payload}, device="headset", topic=HEADSET))
        now[0] += 0.05
    levels = [json.loads(payload)["level"] for _, payload in sent]
    swings = [level for n, level in enumerate(levels) if n == 0 or level != levels[n - 1]]
    # a flash is a swing up and one down: at most 3 flashes (6 swings) in any second
    assert len(swings) <= 6, f"the headset was swung {swings} in 0.5 s"
    assert target.held_back


HEADSET = "vr/headset/set"
TAPPERS = "bls/tappers/set"
BLS_STOP = '{"running":false}'
CLOSED = ("(closed)", "")
"""What the stand-in bus notes when the target closes it."""
EIGHT_PASSES = '{"running":true,"mode":"tactile","speed_hz":1.0,"passes":8,"duration_s":null}'


def tappers(payload: str) -> Event:
    return Event("command", {"payload": payload}, device="tappers", topic=TAPPERS)


def a_position(t: float) -> Position:
    return Position(t=t, phase=None, speed=0.5, paused=True, emitted=1)


async def test_a_replayed_set_is_stopped_when_the_gate_said_though_the_replay_is_paused() -> None:
    """docs/safety.md#bls-set-length: half a second (real time) after a set's length has
    passed, its device is told to stop, so a start delivered twice (the bus sends at least
    once) cannot make a device that keeps its own timing run on. A live replay sent a
    recording's stop only when the recording reached it: paused, or at half speed, a device
    that restarted the set ran on past the 8 s the gate judged."""
    now = [100.0]
    target, sent = live_target(lambda: now[0])
    await target.emit(tappers(EIGHT_PASSES))
    assert sent == [(TAPPERS, EIGHT_PASSES)]
    for at in (104.0, 108.0, 108.49):
        now[0] = at
        await target.position(a_position(2.0))
    assert sent == [(TAPPERS, EIGHT_PASSES)]
    now[0] = 108.5
    await target.position(a_position(2.0))
    assert sent == [(TAPPERS, EIGHT_PASSES), (TAPPERS, BLS_STOP)]
    now[0] = 120.0
    await target.position(a_position(2.0))
    await target.emit(tappers(BLS_STOP))  # the recording's own stop comes later
    assert sent[2:] == [(TAPPERS, BLS_STOP)]


async def test_a_replayed_set_restarted_within_the_grace_is_not_stopped_early() -> None:
    now = [100.0]
    target, sent = live_target(lambda: now[0])
    await target.emit(tappers(EIGHT_PASSES))
    now[0] = 108.2
    await target.emit(tappers(EIGHT_PASSES))
    now[0] = 108.6
    await target.position(a_position(8.6))
    assert sent == [(TAPPERS, EIGHT_PASSES)] * 2


async def test_a_live_replay_that_ends_within_a_set_stops_its_device() -> None:
    """The recording (or the selection) ends, or the person replaying stops it, before the
    set's stop: the set is stopped as the replay closes."""
    now = [100.0]
    target, sent = live_target(lambda: now[0])
    await target.emit(tappers(EIGHT_PASSES))
    now[0] = 103.0
    await target.close()
    assert sent == [(TAPPERS, EIGHT_PASSES), (TAPPERS, BLS_STOP), CLOSED]


async def test_a_halted_live_replay_sends_no_stop_that_could_end_the_engines_own_set() -> None:
    """Halted, the replay has given the room back to its engine, which may start a set of
    its own on the device meanwhile: the replay sends nothing more, stops included."""
    now = [100.0]
    target, sent = live_target(lambda: now[0])
    await target.emit(tappers(EIGHT_PASSES))
    target._halt("its engine was given a command (bls)")
    now[0] = 109.0
    await target.position(a_position(9.0))
    await target.close()
    assert sent == [(TAPPERS, EIGHT_PASSES), CLOSED]


async def test_a_recorded_request_to_measure_is_never_replayed(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    room = apply_overrides(
        load_room(REPO / "config.yaml"),
        Overrides(broker=mosquitto.url, room_id=f"r{uuid.uuid4().hex[:8]}", data_dir=tmp_path),
    )
    settings = BrokerSettings(mode="external", host=mosquitto.host, port=mosquitto.port)
    meta = SessionMeta("recorded", "recorded", "standard", "P-1", 1.0, START_NS, None, True)
    target = LiveTarget(room, settings, meta)
    await target.open(meta)
    try:
        request = {"payload": MEASURE_REQUEST}
        await target.emit(Event("command", request, device="bp-cuff", topic="vitals/bp-cuff/set"))
    finally:
        await target.close()
    assert target.sent == []
    assert target.held_back == [
        "bp-cuff: vitals/bp-cuff/set is not a command topic of this room's devices"
    ]


@pytest.mark.parametrize(
    ("retained", "busy"),
    [
        ("", None),  # no state: an idle room gets the command
        ('{"session": {"id": "s-now"}}', "its engine has session s-now open"),
        ('{"emergency": {"active": true}}', "its engine is in an emergency"),
        # Written over the engine's by someone else: it may hide a session or an emergency.
        ('{"session": {"id": "s-now"', UNREADABLE_STATE),
        ('["session"]', UNREADABLE_STATE),
    ],
)
async def test_a_live_replay_sends_nothing_before_it_has_read_the_rooms_state(
    mosquitto: Mosquitto, tmp_path: Path, retained: str, busy: str | None
) -> None:
    """`sessionroom replay` checks the room's retained state, then (after printing its plan)
    opens the live target; a session or an emergency that began in between is in the
    retained state the target's subscription receives just after it connects. The first
    recorded command (at time 0: a replay starts at once) must wait for that state, not race
    it to the room's devices."""
    room = apply_overrides(
        load_room(REPO / "config.yaml"),
        Overrides(broker=mosquitto.url, room_id=f"r{uuid.uuid4().hex[:8]}", data_dir=tmp_path),
    )
    state_topic = f"sessionroom/{room.room_id}/state"
    await asyncio.to_thread(
        publish.single, state_topic, retained, qos=1, retain=True,
        hostname=mosquitto.host, port=mosquitto.port,
    )  # fmt: skip
    settings = BrokerSettings(mode="external", host=mosquitto.host, port=mosquitto.port)
    meta = SessionMeta("recorded", "recorded", "standard", "P-1", 1.0, START_NS, None, True)
    target = LiveTarget(room, settings, meta)
    await target.open(meta)
    try:
        level = json.dumps(
            {"state": "ON", "brightness": 20, "transition": 0.0}, separators=(",", ":")
        )
        await target.emit(Event("command", {"payload": level}, device="ceiling", topic=CEILING_SET))
    finally:
        await target.close()
        await asyncio.to_thread(
            publish.single, state_topic, "", retain=True,
            hostname=mosquitto.host, port=mosquitto.port,
        )  # fmt: skip
    assert (len(target.sent), target.halted) == (0 if busy else 1, busy)


@pytest.mark.parametrize(
    ("retained", "busy"),
    [
        (None, None),
        ("", None),
        ('{"session": null}', None),
        ("\u0000garbage", UNREADABLE_STATE),
        ("[" * 100_000, UNREADABLE_STATE),  # deeper than Python's parser recurses
        ('{"session": NaN}', UNREADABLE_STATE),
        # a session or emergency of no shape the engine writes: someone else wrote the state
        ('{"session": "s-now"}', UNREADABLE_STATE),
        ('{"session": ["s-now"]}', UNREADABLE_STATE),
        ('{"session": true}', UNREADABLE_STATE),
        ('{"emergency": true}', UNREADABLE_STATE),
        ('{"emergency": "active"}', UNREADABLE_STATE),
    ],
    ids=[
        "none",
        "cleared",
        "idle",
        "no-json",
        "deep",
        "nan",
        "session-id",
        "session-list",
        "session-flag",
        "emergency-flag",
        "emergency-word",
    ],
)
async def test_a_room_whose_retained_state_cannot_be_read_gets_no_live_replay(
    mosquitto: Mosquitto, tmp_path: Path, retained: str | None, busy: str | None
) -> None:
    """What `sessionroom replay --target live` checks first: no state, or a cleared one, is
    an idle room; one that cannot be read might hide a session, so the room is busy."""
    room = apply_overrides(
        load_room(REPO / "config.yaml"),
        Overrides(broker=mosquitto.url, room_id=f"r{uuid.uuid4().hex[:8]}", data_dir=tmp_path),
    )
    if retained is not None:
        await asyncio.to_thread(
            publish.single, f"sessionroom/{room.room_id}/state", retained, qos=1, retain=True,
            hostname=mosquitto.host, port=mosquitto.port,
        )  # fmt: skip
    settings = BrokerSettings(mode="external", host=mosquitto.host, port=mosquitto.port)
    assert (await engine_activity(settings, room)).busy == busy


async def test_a_live_replay_whose_broker_goes_away_sends_nothing_queued_when_it_is_back(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The broker goes away while the live target waits for the room's retained state (an
    idle room has none: it waits `STATUS_WAIT_S`), and a session begins meanwhile. What the
    replay sent while the broker was away was queued, and went out when it came back, before
    the retained state showing the session was handled: the recorded level reached the
    room's ceiling in the middle of that session. The room's state cannot be read while
    the broker is away, so the replay gives the room back (docs/safety.md)."""
    room, settings = room_on(private_mosquitto, tmp_path)
    meta = SessionMeta("recorded", "recorded", "standard", "P-1", 1.0, START_NS, None, True)
    target = LiveTarget(room, settings, meta)
    opening = asyncio.create_task(target.open(meta))
    await asyncio.sleep(0.3)  # connected, waiting for a state that an idle room does not have
    await asyncio.to_thread(private_mosquitto.stop)
    await asyncio.wait_for(opening, 10)
    level = json.dumps({"state": "ON", "brightness": 20, "transition": 0.0}, separators=(",", ":"))
    try:
        await target.emit(Event("command", {"payload": level}, device="ceiling", topic=CEILING_SET))
        await asyncio.to_thread(private_mosquitto.start)
        await asyncio.to_thread(  # the room's engine, which began a session meanwhile
            publish.single, f"sessionroom/{room.room_id}/state", '{"session": {"id": "s-now"}}',
            qos=1, retain=True, hostname=private_mosquitto.host, port=private_mosquitto.port,
        )  # fmt: skip
        wire = await asyncio.to_thread(Wire, private_mosquitto, CEILING_SET)
        try:
            await asyncio.sleep(3.0)  # the target's bus is back within its backoff by then
        finally:
            wire.close()
    finally:
        await target.close()
    assert (wire.messages, target.halted) == ([], BROKER_LOST)


async def test_a_recorded_play_the_flash_rate_refuses_is_held_back_once() -> None:
    """docs/safety.md#replay-into-a-live-room: each recorded command held back is told once,
    with its reason. A headset's content played and stopped faster than the flash rate has
    its fourth play refused: one reason, not the output path's and the replay's both."""
    now = [100.0]

    def a_tenth_on() -> float:
        now[0] += 0.025
        return now[0]

    target, sent = live_target(a_tenth_on)
    play = '{"action":"play","content":"breathing-meadow","volume":0}'
    for payload in [play, '{"action":"stop"}'] * 4:
        await target.emit(Event("command", {"payload": payload}, device="headset", topic=HEADSET))

    assert [payload for _, payload in sent].count(play) == 3
    assert len(target.held_back) == 1, target.held_back
    assert target.held_back[0].startswith("headset: content played now would flash it; ")
