"""The guarded room end to end: `sessionroom run`, `sim`, `ctl` and `replay` on Mosquitto.

Each test reproduces, with real processes on a real broker, something the room once let
through, and checks on the wire (an independent subscriber to `#`) and in the ctl output
that it is now refused or capped, with the reason (docs/emergency.md, docs/safety.md).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.journal import Event, list_sessions, read_events
from tests.conftest import EXAMPLE_CONFIG
from tests.support.mosquitto import Mosquitto
from tests.support.room import (
    Operator,
    Received,
    Wire,
    room_on,
    seen_within,
    sessionroom,
    until,
)

pytestmark = pytest.mark.mosquitto

REHEARSAL = ("plan=rehearsal", "participant=P042")
CEILING_SET = "zigbee2mqtt/ceiling_light/set"
HEADSET_SET = "vr/headset/set"
SAFE_CEILING = 203
"""The ceiling light in the safe scene (lights-up): 80 % of Zigbee2MQTT's 254."""
LATCHED = "emergency active: clear it first"

VOLUME_CAP = 70
RAMP_PER_S = 10
"""config.yaml: the room's volume cap (%) and ramp (% per real second)."""
RAMP_ALLOWANCE_S = 0.5
"""The gate's allowance for a stepped fade (docs/safety.md#volume-ramp); it also absorbs the
broker's jitter between the engine sending a step and the recorder receiving it."""
ROUNDING = 1
"""Volumes travel as whole percent."""

LIGHTS_UP_WITHIN_S = 1.0
QUIET_S = 1.5
"""How long a test watches for something that must not follow (longer than the engine's
1 s override fades at any time scale)."""


def accepted(result: subprocess.CompletedProcess[str]) -> None:
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


def refused_with(result: subprocess.CompletedProcess[str], reason: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert reason in result.stderr, result.stderr


def reply_errors(wire: Wire, room: str, action: str) -> list[str | None]:
    """The errors in the engine's replies to every `action` sent to the room (None if ok)."""
    replies = until(lambda: wire.replies(room, action), f"the reply to {action}")
    return [reply.get("error") for reply in replies]


def ceiling_brightness(message: Received) -> int:
    """A Zigbee2MQTT command's brightness; an OFF is 0."""
    payload = json.loads(message.payload)
    if payload.get("state") == "OFF":
        return 0
    return int(payload.get("brightness", SAFE_CEILING))


def lights_up(wire: Wire, after: float) -> Received | None:
    """The ceiling's safe-scene command, if it came after `after`."""
    return next(
        (
            m
            for m in wire.on(CEILING_SET, after=after)
            if f'"brightness":{SAFE_CEILING}' in m.payload
        ),
        None,
    )


def session_events(operator: Operator) -> list[Event]:
    [info] = list_sessions(operator.data_dir, operator.room)
    return list(read_events(info.path))


# ---------------------------------------------------------------------------- the latch


@dataclass
class Latched:
    operator: Operator
    wire: Wire
    lights_up: Received
    """The ceiling's safe-scene command, as the wire saw it."""


@pytest.fixture
def latched(operator: Operator) -> Latched:
    """A session in its first phase, then `ctl emergency`: the room is latched, lights up."""
    wire = operator.watch()
    operator.bring_up(wire)
    accepted(operator.ctl("start", *REHEARSAL))
    accepted(operator.ctl("emergency"))
    pressed = wire.sent(operator.room, "emergency").at
    up = until(lambda: lights_up(wire, pressed), "the ceiling's lights-up")
    return Latched(operator, wire, up)


def test_in_an_emergency_lights_off_is_refused_and_the_ceiling_stays_lit(
    latched: Latched,
) -> None:
    operator, wire = latched.operator, latched.wire
    reason = f"{LATCHED} (lights refused)"

    refused_with(operator.ctl("lights", "level=0"), reason)

    assert reply_errors(wire, operator.room, "lights") == [reason]
    darker = seen_within(
        QUIET_S,
        lambda: [
            m.payload
            for m in wire.on(CEILING_SET, after=latched.lights_up.at)
            if ceiling_brightness(m) < SAFE_CEILING
        ],
    )
    assert darker is None, f"the ceiling was sent {darker} after the lights-up"


def test_in_an_emergency_volume_and_vr_play_are_refused_with_the_reason(
    latched: Latched,
) -> None:
    operator, wire = latched.operator, latched.wire

    refused_with(operator.ctl("volume", "level=0.7"), f"{LATCHED} (volume refused)")
    refused_with(
        operator.ctl("vr", "op=play", "content=x", "volume=1"), f"{LATCHED} (vr play refused)"
    )

    assert reply_errors(wire, operator.room, "volume") == [f"{LATCHED} (volume refused)"]
    assert reply_errors(wire, operator.room, "vr") == [f"{LATCHED} (vr play refused)"]
    started = seen_within(
        QUIET_S,
        lambda: [
            m.payload
            for m in wire.on(HEADSET_SET, after=latched.lights_up.at)
            if json.loads(m.payload)["action"] != "stop"
        ],
    )
    assert started is None, f"the headset was sent {started} while latched"


def test_in_an_emergency_notes_and_stops_are_still_accepted(latched: Latched) -> None:
    operator = latched.operator

    accepted(operator.ctl("note", "text=participant asked for a blanket"))
    accepted(operator.ctl("bls", "op=stop"))
    accepted(operator.ctl("vr", "op=stop"))

    assert operator.state()["emergency"]["active"]


@pytest.mark.slow
def test_a_cue_due_during_an_emergency_is_skipped_and_journaled_as_skipped(
    operator: Operator,
) -> None:
    # The rehearsal's peak has the cue "music down" (volume 0.3) at 20 s before its end:
    # 70 session seconds after peak begins, 7 real seconds at time scale 10.
    wire = operator.watch()
    operator.bring_up(wire)
    accepted(operator.ctl("start", *REHEARSAL))
    until(lambda: operator.ctl("goto", "phase=peak").returncode == 0, "goto peak")
    accepted(operator.ctl("emergency"))

    [due] = until(lambda: cue_events(wire, operator.room), "the cue comes due")
    assert due["payload"].get("skipped") == "emergency active", due
    accepted(operator.ctl("clear_emergency"))
    accepted(operator.ctl("end"))

    events = session_events(operator)
    [start] = [e for e in events if e.kind == "safety" and _payload(e).get("emergency") == "start"]
    journaled = [e for e in events if e.kind == "operator" and "cue" in _payload(e)]
    assert [(e.seq > start.seq, _payload(e)) for e in journaled] == [
        (
            True,
            {
                "cue": 0,
                "label": "music down",
                "do": {"action": "volume", "level": 0.3},
                "skipped": "emergency active",
            },
        )
    ]
    ran = [e for e in events if e.kind == "operator" and _payload(e).get("source") == "cue"]
    assert ran == [], "the skipped cue ran after all"


def cue_events(wire: Wire, room: str) -> list[dict[str, Any]]:
    """The engine's events for plan cues (run or skipped), as the events topic carries them."""
    return [
        e
        for e in wire.events(room)
        if e["kind"] == "operator" and isinstance(e["payload"], dict) and "cue" in e["payload"]
    ]


def _payload(event: Event) -> dict[str, Any]:
    return event.payload if isinstance(event.payload, dict) else {}


# ---------------------------------------------------------------------------- loudness


@pytest.mark.slow
def test_vr_content_starts_silent_and_ramps_up_under_the_cap(operator: Operator) -> None:
    wire = operator.watch()
    operator.bring_up(wire)

    accepted(operator.ctl("vr", "op=play", "content=x", "volume=1"))
    asked = wire.sent(operator.room, "vr").at
    # volume=1 asks for 100 %: at 10 %/s the rise is planned over 10 real seconds; watch it
    # all, and a little more.
    fade_end = asked + 100 / RAMP_PER_S + QUIET_S
    over_cap = seen_within(
        fade_end - asked,
        lambda: [
            m.payload
            for m in wire.on(HEADSET_SET, after=asked)
            if json.loads(m.payload).get("volume", 0) > VOLUME_CAP
        ],
    )
    assert over_cap is None, f"above the room's cap of {VOLUME_CAP} %: {over_cap}"

    messages = wire.on(HEADSET_SET, after=asked)
    first = json.loads(messages[0].payload)
    assert (first["action"], first["content"], first["volume"]) == ("play", "x", 0)
    steps = [(m.at, json.loads(m.payload)) for m in messages[1:]]
    assert {step["action"] for _, step in steps} == {"volume"}
    volumes = [(messages[0].at, 0)] + [(at, step["volume"]) for at, step in steps]
    assert max(volume for _, volume in volumes) == VOLUME_CAP
    too_fast = [
        (round(t1 - t0, 2), v0, v1)
        for i, (t0, v0) in enumerate(volumes)
        for t1, v1 in volumes[i + 1 :]
        if v1 - v0 > RAMP_PER_S * (t1 - t0 + RAMP_ALLOWANCE_S) + ROUNDING
    ]
    assert too_fast == [], f"rose faster than {RAMP_PER_S} %/s (seconds apart, from, to)"


# ---------------------------------------------------------------------------- lights-up


@pytest.fixture
def strict_flash_room(tmp_path: Path) -> Path:
    """The example room with its flash limit tightened to 1 per second.

    Two quick light changes then fill the flash window, so a lights-up that went through
    flash pacing would be held back for up to two seconds.
    """
    settings = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    settings["safety"]["max_flashes_per_s"] = 1
    settings["paths"] = {
        key: str(EXAMPLE_CONFIG.parent / folder) for key, folder in settings["paths"].items()
    }
    config = tmp_path / "room" / "config.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump(settings))
    return config


def test_the_lights_up_reaches_the_ceiling_within_a_second_after_quick_light_presses(
    private_mosquitto: Mosquitto, tmp_path: Path, strict_flash_room: Path
) -> None:
    with room_on(private_mosquitto, tmp_path, strict_flash_room) as operator:
        wire = operator.watch()
        operator.bring_up(wire)
        for level in ("0.9", "0.1", "0.9", "0.1"):
            accepted(operator.ctl("lights", f"level={level}"))

        accepted(operator.ctl("emergency"))

        pressed = wire.sent(operator.room, "emergency").at
        held_back = [
            e
            for e in wire.events(operator.room)
            if e["kind"] == "safety" and e["device"] == "ceiling"
            if "flash-rate" in e["payload"].get("rules", ())
        ]
        assert held_back, "the presses did not fill the ceiling's flash window"
        up = until(
            lambda: lights_up(wire, pressed),
            f"the ceiling's lights-up (due within {LIGHTS_UP_WITHIN_S:g} s)",
            timeout=LIGHTS_UP_WITHIN_S + 1,
        )
        assert up.at - pressed <= LIGHTS_UP_WITHIN_S, (
            f"the lights-up reached the ceiling {up.at - pressed:.2f} s after the emergency"
        )


# ---------------------------------------------------------------------------- privacy


def words_off_the_command_topic(wire: Wire, room: str, words: str) -> list[str]:
    """Every topic other than the room's command topic that carried `words` (or names them)."""
    return sorted(
        {
            m.topic
            for m in wire.messages
            if (words in m.payload or words in m.topic) and m.topic != f"sessionroom/{room}/cmd"
        }
    )


def state_after(wire: Wire, room: str, moment: float) -> str | None:
    """The first retained state the engine published after `moment`."""
    states = wire.on(f"sessionroom/{room}/state", after=moment)
    return states[0].payload if states else None


def test_a_refused_note_travels_only_on_the_command_topic(operator: Operator) -> None:
    wire = operator.watch()
    operator.bring_up(wire)
    words = f"participant said her name is Ada {uuid.uuid4().hex}"

    note = operator.ctl("note", f"text={words}")

    refused_with(note, "no session is running")
    assert words not in note.stdout + note.stderr
    sent = wire.sent(operator.room, "note")
    assert words in sent.payload
    [refusal] = until(lambda: _note_events(wire, operator.room), "the refusal on the events")
    assert "refused" in refusal["payload"]
    until(lambda: state_after(wire, operator.room, sent.at), "a state after the note")
    assert reply_errors(wire, operator.room, "note") == ["no session is running; start one first"]
    assert words_off_the_command_topic(wire, operator.room, words) == []


def test_an_accepted_note_travels_only_on_the_command_topic(operator: Operator) -> None:
    wire = operator.watch()
    operator.bring_up(wire)
    accepted(operator.ctl("start", *REHEARSAL))
    words = f"participant said her name is Ada {uuid.uuid4().hex}"

    accepted(operator.ctl("note", f"text={words}"))

    [note] = until(
        lambda: [e for e in wire.events(operator.room) if e["kind"] == "note"], "note event"
    )
    assert note["payload"] is None
    state = until(
        lambda: state_after(wire, operator.room, wire.sent(operator.room, "note").at), "state"
    )
    assert "note added" in state
    assert reply_errors(wire, operator.room, "note") == [None]
    assert words_off_the_command_topic(wire, operator.room, words) == []


def _note_events(wire: Wire, room: str) -> list[dict[str, Any]]:
    return [
        e
        for e in wire.events(room)
        if e["kind"] == "operator" and (e["payload"] or {}).get("action") == "note"
    ]


# ---------------------------------------------------------------------------- live replay


@pytest.mark.parametrize(
    "replay_has_the_journal",
    [True, False],
    ids=["with-the-rooms-journal", "from-the-retained-state-alone"],
)
def test_a_live_replay_is_refused_while_a_crashed_engine_left_a_session_open(
    operator: Operator, tmp_path: Path, replay_has_the_journal: bool
) -> None:
    wire = operator.watch()
    operator.bring_up(wire)
    accepted(operator.ctl("start", *REHEARSAL))
    accepted(operator.ctl("end"))
    [recorded] = list_sessions(operator.data_dir, operator.room)
    accepted(operator.ctl("start", *REHEARSAL))
    state = until(
        lambda: json.loads(wire.last(f"{operator.topics}/state") or "{}").get("session"),
        "the second session in the retained state",
    )
    open_id = state["id"]
    assert open_id != recorded.session_id

    operator.kill_engine()
    until(lambda: wire.last(f"{operator.topics}/status") == "offline", "the engine's will")
    killed = time.monotonic()
    data_dir = operator.data_dir if replay_has_the_journal else tmp_path / "elsewhere"
    session = recorded.session_id if replay_has_the_journal else str(recorded.path)

    replay = sessionroom(
        "replay",
        session,
        "--target",
        "live",
        "--yes",
        "--speed",
        "1",
        *operator.common,
        "--data-dir",
        str(data_dir),
    )

    assert replay.returncode != 0, replay.stdout
    assert f"room {operator.room} gets no replay now" in replay.stderr, replay.stderr
    assert open_id in replay.stderr
    device_topics = {e.topic for e in read_events(recorded.path) if e.kind == "command"}
    assert device_topics
    assert [m for m in wire.messages if m.topic in device_topics and m.at > killed] == []
