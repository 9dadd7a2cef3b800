"""The latched emergency (docs/emergency.md), driven tick by tick through the whole engine.

While an emergency is active only `emergency`, `clear_emergency`, `note`, `end` and stops
are accepted; cues due meanwhile are skipped and journaled; and the output path itself lets
no light below its safe-scene level and no volume rise, whatever asks. The lights-up is one
message per light, sent at once even right after rapid light changes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from controller.api.commands import parse_command
from controller.drivers.base import LightCommand
from controller.engine.engine import OVERTAKEN, Engine
from controller.engine.output import GatedMessage
from controller.engine.phases import CommandRefused
from controller.engine.safety import Rule, Status
from tests.engine.room_parts import RecordingMusic, RecordingTones
from tests.engine.test_engine import Room, z2m
from tests.engine.test_guarded_path_edges import room_copy


@pytest.fixture
def room(tmp_path: Path) -> Room:
    return Room(tmp_path)


LATCHED = "emergency active: clear it first"


def in_emergency(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    room.do("emergency")
    room.run_for(4.0)


@pytest.mark.parametrize(
    ("action", "fields", "what"),
    [
        ("lights", {"level": 0.0}, "lights"),
        ("lights", {"delta": -0.3, "device": "ceiling"}, "lights"),
        ("volume", {"level": 0.7}, "volume"),
        ("scene", {"name": "peak"}, "scene"),
        ("next", {}, "next"),
        ("back", {}, "back"),
        ("goto", {"phase": "peak"}, "goto"),
        ("hold", {}, "hold"),
        ("release", {}, "release"),
        ("extend", {"seconds": 60}, "extend"),
        ("vr", {"op": "play", "content": "x", "volume": 1}, "vr play"),
        ("vr", {"op": "resume"}, "vr resume"),
        ("bls", {"op": "start", "speed_hz": 1.0, "passes": 8}, "bls start"),
        ("music", {"op": "resume"}, "music resume"),
        ("music", {"op": "skip"}, "music skip"),
        ("start", {"plan": "rehearsal", "participant": "P015"}, "start"),
    ],
)
def test_while_latched_every_other_command_is_refused_with_the_reason(
    room: Room, action: str, fields: dict[str, object], what: str
) -> None:
    in_emergency(room)
    assert room.refused(action, **fields) == f"{LATCHED} ({what} refused)"
    assert room.run_for(2.0).get("zigbee2mqtt/ceiling_light/set") is None


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("note", {"text": "breathing calmly"}),
        ("bls", {"op": "stop"}),
        ("vr", {"op": "stop"}),
        ("vr", {"op": "pause"}),
        ("emergency", {}),
    ],
)
def test_while_latched_notes_stops_and_the_emergency_itself_are_accepted(
    room: Room, action: str, fields: dict[str, object]
) -> None:
    in_emergency(room)
    room.do(action, **fields)
    assert room.engine.snapshot().emergency.active


def test_ending_the_session_during_an_emergency_keeps_the_latch(room: Room) -> None:
    in_emergency(room)
    room.do("end")
    assert room.engine.snapshot().session is None
    assert room.engine.snapshot().emergency.active
    assert room.refused("lights", level=0.0) == f"{LATCHED} (lights refused)"
    room.do("clear_emergency")
    assert room.engine.snapshot().scene == "idle"


def test_a_cue_due_during_the_latch_is_skipped_and_journaled(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    room.do("goto", phase="peak")
    room.run_for(5.0)
    room.do("emergency")
    room.engine.take_events()
    room.run_for(90.0, step=0.5)  # the peak's "music down" cue is due at 70 s into the phase
    operator = [e for e in room.engine.take_events() if e["kind"] == "operator"]
    assert [e["payload"]["label"] for e in operator] == ["music down"]
    assert operator[0]["payload"]["skipped"] == "emergency active"
    assert room.engine.snapshot().overrides["volume"] is None


def test_the_output_path_lets_no_light_below_its_safe_level_whatever_asks(room: Room) -> None:
    in_emergency(room)
    now = room.clock.now()
    verdict = room.engine.output.light("ceiling", LightCommand(on=False), now)
    assert verdict.status is Status.REFUSED and verdict.rules == (Rule.EMERGENCY_LATCH,)
    dimmer = room.engine.output.light("ceiling", LightCommand(level=0.5), now)
    assert dimmer.status is Status.REFUSED
    brighter = room.engine.output.light("ceiling", LightCommand(level=0.9), now + 2)
    assert brighter.status is Status.OK
    assert room.engine.take_outgoing()[-1].topic == "zigbee2mqtt/ceiling_light/set"


def test_the_output_path_lets_no_volume_rise_while_latched(room: Room) -> None:
    in_emergency(room)
    now = room.clock.now()
    assert room.engine.output.volume("headset", 0.6, now, over_s=0.0) == 0.0
    room.engine.take_outgoing()
    room.do("clear_emergency")
    assert room.engine.output.volume("headset", 0.6, now + 1, over_s=0.0) == pytest.approx(0.05)


def test_the_lights_up_goes_out_at_once_even_after_rapid_light_changes(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    output = room.engine.output
    statuses = [  # e.g. a replay through the gate: the flash budget is used up
        output.light("ceiling", LightCommand(level=n % 2), room.clock.now() + n * 0.1).status
        for n in range(6)
    ]
    assert statuses == [Status.OK] * 5 + [Status.REFUSED]
    room.clock.advance(0.55)
    room.engine.take_outgoing()
    room.do("emergency")
    wire = room.tick()
    assert wire["zigbee2mqtt/ceiling_light/set"] == [z2m(203, color_temp=250, transition=1.0)]
    assert wire["wled/wled-strip/api"]
    assert "cmnd/floorlamp/Backlog" in wire


def test_a_second_press_makes_the_lights_up_immediate(room: Room) -> None:
    in_emergency(room)
    room.do("clear_emergency")
    room.run_for(3.0)
    room.do("emergency")
    room.tick(0.5)
    room.do("emergency")
    ceiling = [json.loads(p) for p in room.tick()["zigbee2mqtt/ceiling_light/set"]]
    assert ceiling[-1]["transition"] == 0


def test_only_the_output_path_makes_device_messages() -> None:
    with pytest.raises(TypeError, match="only through RoomOutput"):
        GatedMessage("zigbee2mqtt/ceiling_light/set", '{"state":"OFF"}')


def test_a_refused_note_leaves_no_words_in_the_journal_events_or_reply(room: Room) -> None:
    refusal = room.refused("note", text="participant mentioned her sister Anna")
    assert "Anna" not in refusal
    events = json.dumps(room.engine.take_events())
    assert "Anna" not in events
    room.do("start", plan="rehearsal", participant="P014")
    room.do("note", text="participant mentioned her sister Anna")
    operator = [e for e in room.engine.take_events() if e["kind"] == "operator"]
    assert "Anna" not in json.dumps(operator)


def test_a_bls_device_back_online_during_an_emergency_is_told_to_stop_again(room: Room) -> None:
    room.do("start", plan="rehearsal", participant="P014")
    room.do("bls", op="start", device="tappers", speed_hz=1.0, passes=10)
    room.device("bls/tappers/availability", "offline")
    room.do("emergency")
    room.tick()
    room.device("bls/tappers/availability", "online")
    assert room.tick()["bls/tappers/set"] == ['{"running":false}']


def test_a_light_dimmed_again_within_the_second_gets_its_safe_target_when_the_second_is_over(
    room: Room,
) -> None:
    """docs/emergency.md#nothing-darker-nothing-louder: a light that reports itself below its
    safe level while latched gets its safe target again, at most once a second. "At most once
    a second" paces the re-sends; it does not drop them: a stray dimming reported within the
    second after the last re-send (and never reported again, as a light that stays where it
    was put) still gets the safe target once that second is over."""
    in_emergency(room)
    ceiling = "zigbee2mqtt/ceiling_light/set"
    room.device("zigbee2mqtt/ceiling_light", z2m(20))
    assert ceiling in room.tick(0.05), "the first dimming is undone at the next tick"
    room.device("zigbee2mqtt/ceiling_light", z2m(203))
    room.tick(0.4)
    room.device("zigbee2mqtt/ceiling_light", z2m(20))  # dimmed again, 0.45 s after the re-send
    wire = room.run_for(1.0, step=0.05)
    assert [json.loads(p)["brightness"] for p in wire.get(ceiling, [])] == [203], (
        "the second dimming is undone once the second since the last re-send is over"
    )


def test_a_headset_back_online_during_an_emergency_is_told_to_stop_even_after_a_pause(
    room: Room,
) -> None:
    """docs/emergency.md#offline-devices-and-console: a device that comes back online gets
    the safe targets again, and a headset's is `stop`. One offline at the press never got
    its stop and plays on; a `vr pause` the operator sends meanwhile (accepted while latched)
    must not make the engine forget that it owes the headset a stop."""
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(2.0)
    room.device("vr/headset/availability", "offline")
    room.do("emergency")
    room.tick()
    room.do("vr", op="pause")
    room.tick()
    room.device("vr/headset/availability", "online")
    assert '{"action":"stop"}' in room.tick().get("vr/headset/set", [])


def test_a_second_after_the_press_the_headset_and_the_bls_devices_are_told_to_stop_again(
    room: Room,
) -> None:
    """docs/emergency.md#first-press: a second after the lights-up its targets go out once
    more, so that a stray command that crossed it on the broker is undone. A play or a set
    start crosses the emergency's stops the same way (a live replay's message in flight, a
    second controller): the stops go out once more with the lights."""
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(2.0)
    room.do("emergency")
    first = room.tick()
    assert first["vr/headset/set"] == ['{"action":"stop"}']
    assert first["bls/tappers/set"] == ['{"running":false}']
    again = room.run_for(1.25, step=0.05)
    assert again.get("vr/headset/set") == ['{"action":"stop"}']
    assert again.get("bls/tappers/set") == ['{"running":false}']
    assert again.get("bls/lightbar/set") == ['{"running":false}']
    assert "vr/headset/set" not in room.run_for(5.0), "once, not again and again"


def transition_s(topic: str, payload: str) -> float:
    """The transition a light message asks for (docs/device-protocols.md): Zigbee2MQTT's
    `transition` in seconds, WLED's `tt` in tenths, Tasmota's `Speed2` in half seconds."""
    if topic.startswith("cmnd/"):
        speed = re.search(r"Speed2 (\d+)", payload)
        return int(speed.group(1)) / 2 if speed else 0.0
    fields = json.loads(payload)
    return float(fields["tt"]) / 10 if "tt" in fields else float(fields["transition"])


def test_the_lights_up_sent_again_a_second_later_arrives_when_the_first_was_to(
    tmp_path: Path,
) -> None:
    """docs/emergency.md#first-press: one second after the lights-up the same safe targets
    go out once more. Sent with the whole transition again, each light (fading from where it
    is) reached its safe level a second late: a safe scene fading 3 s finished at 4 s. Sent
    again, a light gets what is left of its transition."""
    room = Room(tmp_path, room_copy(tmp_path, "lights-up", "fade_s: 1", "fade_s: 3"))
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    pressed = room.clock.now()
    room.do("emergency")
    lights = ("wled/wled-strip/api", "cmnd/floorlamp/Backlog")
    first = room.tick()
    assert {topic: transition_s(topic, first[topic][-1]) for topic in lights} == {
        topic: 3.0 for topic in lights
    }
    arrivals: dict[str, float] = {}
    while room.clock.now() - pressed < 1.5:
        again = room.tick(0.05)
        for topic in lights:
            if topic in again:
                sent_at = room.clock.now() - pressed
                arrivals[topic] = sent_at + transition_s(topic, again[topic][-1])
    assert set(arrivals) == set(lights), "the safe targets go out once more"
    for topic, arrival in arrivals.items():
        assert arrival == pytest.approx(3.0, abs=0.25), f"{topic} arrives at {arrival:.2f} s"


def test_a_light_reporting_each_step_of_its_lights_up_still_arrives_when_it_was_to(
    tmp_path: Path,
) -> None:
    """docs/emergency.md#nothing-darker-nothing-louder: a light that reports itself below its
    safe level while latched gets its safe target again, at most once a second. A light that
    reports the steps of its lights-up (below the safe level until the fade ends) got the
    whole transition again each second, and each second it began the safe scene's 3 s fade
    anew from where it was: it never arrived while it kept reporting."""
    room = Room(tmp_path, room_copy(tmp_path, "lights-up", "fade_s: 1", "fade_s: 3"))
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    pressed = room.clock.now()
    room.do("emergency")
    lamp = "cmnd/floorlamp/Backlog"
    arrival = transition_s(lamp, room.tick()[lamp][-1])
    while room.clock.now() - pressed < 2.9:
        since_press = room.clock.now() - pressed
        dimmer = round(10 + 70 * since_press / 3)  # on its way from 10 to the safe 80 %
        room.device("stat/floorlamp/RESULT", json.dumps({"POWER": "ON", "Dimmer": dimmer}))
        sent = room.tick(0.1).get(lamp)
        if sent:
            arrival = room.clock.now() - pressed + transition_s(lamp, sent[-1])
            assert arrival <= 3.0 + 0.25, f"sent again to arrive at {arrival:.2f} s"
    assert arrival == pytest.approx(3.0, abs=0.25)


@pytest.mark.parametrize(
    ("state_topic", "report", "set_topic", "stop"),
    [
        (
            "vr/headset/state",
            '{"status":"playing","content":"x"}',
            "vr/headset/set",
            '{"action":"stop"}',
        ),
        ("bls/tappers/state", '{"running":true,"pass":3}', "bls/tappers/set", '{"running":false}'),
    ],
)
def test_a_device_that_reports_it_plays_while_latched_is_told_to_stop_again(
    room: Room, state_topic: str, report: str, set_topic: str, stop: str
) -> None:
    """docs/emergency.md#nothing-darker-nothing-louder: a headset that reports content
    playing, or a BLS device a set running, while latched (something outside the engine
    started it: a stray controller, a play left retained on its command topic, a replay's
    message in flight) gets its stop again, as a light dimmed below its safe level gets its
    safe target: at once, then at most once a second."""
    in_emergency(room)
    room.device(state_topic, report)
    assert room.tick(0.05).get(set_topic) == [stop]
    room.device(state_topic, report)  # again within the second
    assert set_topic not in room.tick(0.4)
    assert room.run_for(1.0, step=0.05).get(set_topic) == [stop]


def test_a_clear_an_emergency_overtook_is_refused_and_journaled(room: Room) -> None:
    """docs/emergency.md#clear-emergency: the service tells the engine when an emergency
    sent after a `clear_emergency` was carried out first; the clear is then refused with the
    reason, journaled like every refusal, and the room stays latched."""
    in_emergency(room)
    room.engine.take_events()
    clear = parse_command(b'{"id": "late", "action": "clear_emergency"}')
    with pytest.raises(CommandRefused, match="pressed after this clear was sent"):
        room.engine.command(clear, overtaken=True)
    assert room.engine.snapshot().emergency.active
    [refusal] = [e for e in room.engine.take_events() if e["kind"] == "operator"]
    assert refusal["payload"]["refused"] == OVERTAKEN
    room.engine.command(clear)
    assert not room.engine.snapshot().emergency.active


class FailingTones(RecordingTones):
    """A tone player whose stop fails (a fault of the player)."""

    def stop(self) -> None:
        raise RuntimeError("the tone output is gone")


def test_a_tone_player_that_fails_to_stop_does_not_keep_the_tappers_and_bar_running(
    tmp_path: Path,
) -> None:
    """docs/emergency.md#first-press: every BLS device is stopped whatever else fails; the
    tones come first in the room's devices, and their player's fault is loud, not the end
    of the stops."""
    room = Room(tmp_path)
    room.engine = Engine(room.engine.room, clock=room.clock, tones=FailingTones())
    room.tick()
    room.do("bls", op="start", device="tones", speed_hz=1.0, passes=20)
    room.tick()
    room.engine.take_events()
    room.do("emergency")
    wire = room.tick()
    assert wire["bls/tappers/set"][0] == '{"running":false}'
    assert "bls/lightbar/set" in wire and "vr/headset/set" in wire
    assert wire["zigbee2mqtt/ceiling_light/set"]
    faults = [e["payload"]["fault"] for e in room.engine.take_events() if e["kind"] == "error"]
    assert faults == [
        "engine fault in the emergency (stopping BLS on tones): RuntimeError: the tone output "
        "is gone"
    ]


class FailingMusic(RecordingMusic):
    """A music player whose stop and fade-out fail once `broken` (a fault of the player)."""

    broken = False

    def fade_out(self, seconds: float, now: float) -> None:
        if self.broken:
            raise RuntimeError("the audio output is gone")

    def stop(self, now: float) -> None:
        if self.broken:
            raise RuntimeError("the audio output is gone")


def test_a_music_player_that_fails_to_stop_does_not_keep_the_lights_down(tmp_path: Path) -> None:
    """docs/emergency.md#first-press: the lights rise to the safe scene whatever else fails.
    A fault while stopping one output is the engine's own (loud), but the lights-up, the
    other stops and the latch all happen: the room is never latched dark."""
    room = Room(tmp_path)
    music = FailingMusic()
    room.engine = Engine(room.engine.room, clock=room.clock, music=music)
    room.tick()
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(6.0)
    music.broken = True
    room.engine.take_events()
    room.do("emergency")
    wire = room.tick()
    assert wire["zigbee2mqtt/ceiling_light/set"] == [z2m(203, color_temp=250, transition=1.0)]
    assert "cmnd/floorlamp/Backlog" in wire and "wled/wled-strip/api" in wire
    assert wire["vr/headset/set"][0] == '{"action":"stop"}'
    assert room.engine.snapshot().emergency.active
    faults = [e["payload"]["fault"] for e in room.engine.take_events() if e["kind"] == "error"]
    assert faults == [
        "engine fault in the emergency (fading the music out): RuntimeError: the audio output "
        "is gone"
    ]
