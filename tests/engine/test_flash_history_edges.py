"""The flash rule at its edges: a screen gone dark by itself, starts queued through an outage.

Through an outage the engine's messages go through the bus's own queue (`Outbox`) as
`Bus.publish_gated` puts them and its sender takes them, the dropped ones told to the engine
as its service tells it (`unsent_by_chain`); the broker is the test's: away for a stretch,
then taking all that waits at once. The bus and the engine against a real Mosquitto:
`tests/engine/test_service.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from controller.bus.outbox import Outbox
from controller.engine.engine import HELD_BACK_ALERT_S
from controller.engine.output import LIT_LATE_S
from controller.engine.phases import CommandRefused
from controller.engine.service import unsent_by_chain
from controller.journal import Event, list_sessions, read_events
from controller.research.analysis import START_UNSENT, analyse
from controller.research.sessions import session_meta
from tests.engine.room_parts import HEADSET, LIGHTBAR, TAPPERS, queued_at
from tests.engine.test_engine import Room
from tests.research.support import write_journal

IDLE = json.dumps({"status": "idle", "content": None, "position_s": 0})


def test_content_that_ended_by_itself_darkened_its_screen_and_a_play_again_counts(
    tmp_path: Path,
) -> None:
    """A file played once (`:once`) ends by itself: the headset reports `idle`, its screen
    dark. Played again, the screen lights again: each play is a flash's rise, judged by the
    flash rate as after a stop (docs/safety.md#flash-rate). A short clip played again every
    0.1 s, each time reported ended, lit the screen 6 times in 0.6 s, every play passed as
    a change to where the screen already was."""
    room = Room(tmp_path)
    plays = 0
    refused = []
    for _ in range(6):
        try:
            room.do("vr", op="play", content="flash.webm:once", volume=0.0)
            plays += 1
        except CommandRefused as refusal:
            refused.append(str(refusal))
        room.tick(0.05)
        room.device("vr/headset/state", IDLE)  # the clip ended: the screen went dark
        room.tick(0.05)
    assert refused, f"{plays} plays of a clip that ended by itself within 0.6 s all lit the screen"
    assert plays <= 3


STEP_S = 0.25
BAR_START = '{"running":true,"mode":"visual","speed_hz":1.0,"passes":2,"duration_s":null}'
"""A light bar's set of two passes at 1 Hz, as the engine sends it."""
BAR_STOP = '{"running":false}'


def through_an_outage(
    room: Room, away: tuple[float, float], until: float, do: Mapping[float, Callable[[], None]]
) -> list[tuple[float, str, str]]:
    """Tick the engine every 0.25 s from 0 to `until` (seconds from now; the room's time
    scale is 1, so its seconds are real ones), doing each of `do` at its time. The broker is
    away from `away[0]` until `away[1]`. What the broker took: when, topic, payload."""
    outbox = Outbox(1000)
    took: list[tuple[float, str, str]] = []
    for step in range(round(until / STEP_S) + 1):
        at = step * STEP_S
        room.clock.advance(STEP_S if step else 0.0)
        if at in do:
            do[at]()
        room.engine.tick()
        for message in room.engine.take_outgoing():
            outbox.put(queued_at(message, at), key=message.key)
        if away[0] <= at < away[1]:
            continue
        took += [(at, m.topic, m.payload.decode()) for _, m in outbox.take(len(outbox), at)]
        room.engine.sends_lost(unsent_by_chain(outbox.take_lost()))
    return took


def bar_sets(room: Room, starts: tuple[float, ...]) -> dict[float, Callable[[], None]]:
    """An operator's set on the light bar at each of `starts`, stopped a second later."""
    sets: dict[float, Callable[[], None]] = {}
    for at in starts:
        sets[at] = lambda: room.do("bls", op="start", device="lightbar", speed_hz=1.0, passes=2)
        sets[at + 1.0] = lambda: room.do("bls", op="stop", device="lightbar")
    return sets


def test_a_light_bar_s_sets_queued_through_an_outage_do_not_reach_it_together(
    tmp_path: Path,
) -> None:
    """The gate judges a light bar's starts and stops at the moment it lets them out. Queued
    through a broker outage, they all left together when the broker was back: the bar lit
    and darkened three times within milliseconds. A start now has a deadline
    (`LIT_LATE_S`, as a volume rise has, docs/robustness.md#queueing): one still
    waiting then is dropped, never sent late. The stops all go; the engine is told, and says
    so."""
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")

    took = through_an_outage(room, (0.0, 30.0), 31.0, bar_sets(room, (0.0, 2.0, 4.0)))

    to_the_bar = [(at, payload) for at, topic, payload in took if topic == LIGHTBAR]
    assert to_the_bar == [(30.0, BAR_STOP), (30.25, BAR_STOP)]  # the first, and the engine's
    [held] = [a for a in room.engine.snapshot().alerts if a.key == "bls:lightbar"]
    assert (held.level, held.message) == (
        "warning",
        "Light bar: a set held back, its start did not reach the broker in time "
        "(the broker away or slow); the bar is told to stop again",
    )
    room.do("end")
    [info] = list_sessions(room.engine.room.data_dir)
    errors = [event for event in read_events(info.path) if event.kind == "error"]
    [lost] = [error for error in errors if error.device == "lightbar"]
    assert lost.payload == {
        "error": "a BLS set's start did not reach the broker in time",
        "bls": "the bar is told to stop again",
        "unsent": [BAR_START] * 3 + [BAR_STOP] * 2,  # the stops after the first: told again
    }


def test_a_light_bar_s_start_on_time_goes_out_and_a_late_one_stops_its_set(
    tmp_path: Path,
) -> None:
    """A start that waited less than `LIT_LATE_S` goes out when the broker is back. One
    that waited longer is dropped; its set, running by the engine's clock, is stopped (a
    start sent late may have reached the bar), shown as a warning until half a minute has
    passed without another loss. A tappers' start has no deadline: it lights nothing."""
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")
    assert LIT_LATE_S == 0.5
    on_time = bar_sets(room, (0.0,))
    on_time[3.0] = lambda: room.do("bls", op="start", device="tappers", speed_hz=1.0, passes=2)

    took = through_an_outage(room, (0.0, 0.5), 4.0, on_time)

    assert (0.5, LIGHTBAR, BAR_START) in took
    room.run_for(10.0)

    late = {
        0.0: lambda: room.do("bls", op="start", device="tappers", speed_hz=1.0, passes=20),
        9.25: lambda: room.do("bls", op="start", device="lightbar", speed_hz=1.0, passes=2),
    }
    took = through_an_outage(room, (0.0, 10.0), 10.5, late)

    assert [(at, topic, payload) for at, topic, payload in took if "running" in payload] == [
        (10.0, TAPPERS, BAR_START.replace("visual", "tactile").replace(":2,", ":20,")),
        (10.25, LIGHTBAR, BAR_STOP),  # the engine's, for the start dropped at 10
    ]
    assert room.engine.snapshot().bls.devices == ["tappers"]
    alerts = [a.key for a in room.engine.snapshot().alerts]
    assert "bls:lightbar" in alerts
    room.run_for(HELD_BACK_ALERT_S - 1.0)
    assert "bls:lightbar" in [a.key for a in room.engine.snapshot().alerts]
    room.run_for(1.0)
    assert "bls:lightbar" not in [a.key for a in room.engine.snapshot().alerts]


def headset_heard(took: list[tuple[float, str, str]]) -> list[tuple[float, str]]:
    """What the headset was told and when, but its volume steps."""
    said = [(at, json.loads(payload)) for at, topic, payload in took if topic == HEADSET]
    return [
        (at, m["action"] + (f" {m['content']}" if "content" in m else ""))
        for at, m in said
        if m["action"] != "volume"
    ]


def test_a_headset_s_plays_and_stops_queued_through_an_outage_do_not_reach_it_together(
    tmp_path: Path,
) -> None:
    """A play lights a headset's screen and a stop darkens it, each judged by the flash rate
    when the gate lets it out. Queued through an outage, plays and stops seconds apart would
    reach the headset within milliseconds. A play (and a brightness rise) has the light
    bar's deadline (`LIT_LATE_S`): dropped, with the volume steps after it; the stops go,
    and the engine stops the headset again (a play held up may yet reach it). Content the
    operator played waits for the operator."""
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(2.0)  # the scene's content is on the headset
    operator = {
        at: lambda: room.do("vr", op="play", content="breathing-meadow") for at in (0.0, 2.5, 5.0)
    } | {at: lambda: room.do("vr", op="stop") for at in (1.25, 3.75)}

    took = through_an_outage(room, (0.0, 30.0), 32.0, operator)

    assert headset_heard(took) == [(30.0, "stop"), (30.25, "stop")]  # the first, the engine's
    [held] = [a for a in room.engine.snapshot().alerts if a.key == "screen:headset"]
    assert held.message == (
        "VR headset / meditation display: what changed its screen did not reach the broker in "
        "time "
        "(the broker away or slow); its content is stopped"
    )
    room.do("end")
    [info] = list_sessions(room.engine.room.data_dir)
    [lost] = [e for e in read_events(info.path) if e.kind == "error" and e.device == "headset"]
    assert lost.payload["unsent"][:3] == [
        '{"action":"play","content":"breathing-meadow","volume":0}',
        '{"action":"volume","volume":2}',
        '{"action":"volume","volume":5}',
    ]


def test_a_scene_s_content_whose_play_was_dropped_plays_again_a_second_later(
    tmp_path: Path,
) -> None:
    """The phase does not run without its content (docs/safety.md#flash-rate): a scene's
    play dropped unsent is played again a second after the engine's stop, judged then."""
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(2.0)
    phases = {0.0: lambda: room.do("next"), 2.0: lambda: room.do("back")}

    took = through_an_outage(room, (0.0, 30.0), 32.0, phases)

    assert headset_heard(took) == [(30.0, "stop"), (30.25, "stop"), (31.0, "play breathing:6")]
    [held] = [a.message for a in room.engine.snapshot().alerts if a.key == "screen:headset"]
    assert held.endswith("; its content is stopped; the scene's plays again in a second")


@pytest.mark.parametrize("pressed_at", [29.0, 30.5])
def test_a_scene_s_content_whose_play_was_dropped_is_not_played_again_once_pressed(
    tmp_path: Path, pressed_at: float
) -> None:
    """The emergency pressed before the dropped play is told (in the outage) or within the
    second before its content would play again: nothing plays while latched (docs/emergency.md)."""
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(2.0)
    phases = {
        0.0: lambda: room.do("next"),
        2.0: lambda: room.do("back"),
        pressed_at: lambda: room.do("emergency"),
    }

    took = through_an_outage(room, (0.0, 30.0), 33.0, phases)

    assert [said for _, said in headset_heard(took) if said.startswith("play")] == []
    assert room.engine.emergency is not None


def most_in_a_second(times: list[float]) -> int:
    """The most of `times` in any window [t, t + 1 s) (the flash rule's window)."""
    return max(sum(1 for t in times if at <= t < at + 1.0) for at in times)


def transitions_at_the_bar(took: list[tuple[float, str, str]], lit: bool) -> list[float]:
    """When the bar, `lit` before, changed brightness as the broker passed its messages on: a
    start lights a dark bar, and darkens then lights a lit one (its sweep starts again at the
    left, docs/safety.md#flash-rate); a stop darkens a lit one."""
    changes: list[float] = []
    for at, topic, payload in took:
        if topic != LIGHTBAR:
            continue
        if json.loads(payload)["running"]:
            changes += [at, at] if lit else [at]
            lit = True
        elif lit:
            changes.append(at)
            lit = False
    return changes


def test_a_stop_queued_through_an_outage_does_not_add_a_flash_to_the_starts_after_it(
    tmp_path: Path,
) -> None:
    """A set runs on the bar as the broker goes; the operator stops it during the outage, the
    stop waits. In the half second before the broker is back the operator starts and stops
    sets on the bar as often as the gate lets (it judged the bar dark since the stop), then
    stops the bar once the broker is back. The stop that waited reaches the bar, still lit,
    with the starts: a darkening the gate counted half a minute earlier now comes in the
    same second as all the gate allows, so the bar changes more than 2 x
    `max_flashes_per_s` times in one second."""
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")

    def start() -> None:
        room.do("bls", op="start", device="lightbar", speed_hz=1.0, passes=24)

    def stop() -> None:
        room.do("bls", op="stop", device="lightbar")

    refused: list[str] = []

    def as_often_as_allowed() -> None:
        for action in (start, stop, start, stop, start, stop, start):
            try:
                action()
            except CommandRefused as refusal:
                refused.append(str(refusal))

    do = {0.0: start, 10.0: stop, 29.5: as_often_as_allowed, 30.25: stop}
    took = through_an_outage(room, (1.0, 30.0), 31.0, do)

    changes = transitions_at_the_bar(took, lit=False)
    limit = 2 * room.engine.room.settings.safety.max_flashes_per_s
    assert most_in_a_second(changes) <= limit, (changes, refused)
    assert "lightbar" not in room.engine.snapshot().bls.devices
    assert "bls:lightbar" in [alert.key for alert in room.engine.snapshot().alerts]


def test_a_light_bar_set_whose_start_never_went_is_not_analysed_as_complete(
    tmp_path: Path,
) -> None:
    """A set started on the bar as the broker goes runs its two seconds by the engine's clock
    and is journaled complete; when the broker is back its start is dropped (too late), and
    the journal says so ("no set runs"). The session's analysis (the report, the BIDS
    `bls_set` rows, the CSV summary) still counts a complete set of two seconds on the bar,
    which never lit. It is said to have never started (`START_UNSENT`)."""
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")
    do = {0.0: lambda: room.do("bls", op="start", device="lightbar", speed_hz=1.0, passes=2)}

    took = through_an_outage(room, (0.0, 10.0), 10.0, do)

    assert not [payload for _, topic, payload in took if topic == LIGHTBAR and "true" in payload]
    room.do("end")
    [info] = list_sessions(room.engine.room.data_dir)
    result = analyse(session_meta(info.path), read_events(info.path))
    assert [(span.device, span.ended) for span in result.bls_sets] == [("lightbar", START_UNSENT)]


def test_a_headset_s_stop_queued_through_an_outage_is_not_followed_at_once_by_a_play(
    tmp_path: Path,
) -> None:
    """The operator stops the scene's content early in an outage and plays other content
    just before the broker is back: the gate judged the screen dark since the stop, so the
    play passed. Both reaching the headset together would darken its lit screen and light it
    again within milliseconds, a flash the gate never judged. The stop goes however late
    (`GatedMessage.keep`), and the play behind it is dropped, the headset told to stop again."""
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(10.0)  # the scene's content is on the headset, its volume ramp done
    operator = {
        10.0: lambda: room.do("vr", op="stop"),
        29.75: lambda: room.do("vr", op="play", content="breathing-meadow"),
    }

    took = through_an_outage(room, (1.0, 30.0), 31.0, operator)

    assert headset_heard(took) == [(30.0, "stop"), (30.25, "stop")]


def test_only_the_starts_among_a_bar_s_unsent_messages_are_sets_that_never_ran(
    tmp_path: Path,
) -> None:
    """A bar's stop, kept for however late, is lost only when the queue is full; the engine
    journals it with the starts lost beside it. Only the starts are sets that never ran:
    counted as such, a stop (or a message that is not a start) took a set that did run."""
    centering = {"to": "centering", "planned_s": 60.0}
    started = {"bls": "start", "speed_hz": 1.0, "passes": 2, "seconds": None, "mode": "visual"}
    lost = {"error": "-", "bls": "-", "unsent": [BAR_STOP, BAR_START, "{", 7, '{"running":1}']}
    timeline = [(0.0, Event("phase", centering, phase="centering"))]
    for at in (1.0, 5.0):
        timeline += [
            (at, Event("command", started, device="lightbar", phase="centering")),
            (at + 2.5, Event("command", {"bls": "set complete"}, device="lightbar")),
        ]
    timeline.append((8.0, Event("error", lost, device="lightbar", phase="centering")))
    path = write_journal(tmp_path, timeline)

    result = analyse(session_meta(path), read_events(path))

    assert [span.ended for span in result.bls_sets] == ["set complete", START_UNSENT]
