"""`Engine._screen_lost`'s retry of the scene's content on a broker slow to acknowledge.

A broker that acknowledges every message 0.6 s after it was written (slow, not stalled: each
message reaches the headset at about that delay) makes every play of the scene's content
count as held (`Bus._acknowledged`: past its deadline, `SLOW_ACK_S` after its writing). The
engine stopped the headset, played the content again a second later, which was held again,
and so on: 18 plays and 17 stops in 30 s, the content restarting every 1.75 s. A message
that went, late, is now told as such (`Pending.went`): only what did not go stops a screen;
the content plays on, its volume held back as on any slow broker
(docs/robustness.md#queueing).
"""

from __future__ import annotations

import json
from pathlib import Path

from controller.bus.outbox import Outbox, Pending
from controller.engine.service import unsent_by_chain
from controller.journal import list_sessions, read_events
from tests.engine.room_parts import HEADSET, queued_at
from tests.engine.test_engine import Room

STEP_S = 0.25
ACK_S = 0.6
SLOW_ACK_S = 0.5


def through_a_slow_broker(room: Room, until: float) -> list[tuple[float, str, str]]:
    """Tick the engine every 0.25 s for `until` seconds; the broker takes each message at once
    and acknowledges it `ACK_S` later (at the first tick after), as `Bus._acknowledged` judges
    it, before anything the engine says in that tick is queued."""
    outbox = Outbox(1000)
    took: list[tuple[float, str, str]] = []
    unacked: list[tuple[float, Pending]] = []
    late_chains: set[str] = set()
    for step in range(round(until / STEP_S) + 1):
        at = step * STEP_S
        room.clock.advance(STEP_S if step else 0.0)
        for written, message in [(w, m) for w, m in unacked if at - w >= ACK_S]:
            unacked.remove((written, message))
            held = at > message.expires_at and at - written > SLOW_ACK_S
            if held and message.keep:
                outbox.late(message)
            elif held and message.chain not in late_chains:
                late_chains.add(str(message.chain))
                outbox.late(message)
        late_chains.clear()
        room.engine.sends_lost(unsent_by_chain(outbox.take_lost()))
        room.engine.tick()
        for message in room.engine.take_outgoing():
            outbox.put(queued_at(message, at), key=message.key)
        for _, message in outbox.take(len(outbox), at):
            took.append((at, message.topic, message.payload.decode()))
            if message.chain is not None and message.expires_at != float("inf"):
                unacked.append((at, message))
        room.engine.sends_lost(unsent_by_chain(outbox.take_lost()))
    return took


def test_a_scene_s_content_on_a_broker_slow_to_acknowledge_is_not_stopped_and_played_forever(
    tmp_path: Path,
) -> None:
    room = Room(tmp_path)
    room.do("start", plan="rehearsal", participant="P014")

    took = through_a_slow_broker(room, 30.0)

    said = [json.loads(payload)["action"] for _, topic, payload in took if topic == HEADSET]
    room.do("end")
    [info] = list_sessions(room.engine.room.data_dir)
    errors = [e.payload for e in read_events(info.path) if e.kind == "error"]
    assert (said.count("play"), said.count("stop")) == (1, 0)
    assert [error for error in errors if "screen" in error] == []
    assert any("volume" in error for error in errors)  # its ramp counted held back
