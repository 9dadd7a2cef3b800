"""`Engine._screen_lost` and the flash rate's own retry of a scene's content (`_vr_owed`).

A scene with a brightness and content: its brightness goes (the headset's last word), its
play is refused by the flash rate and owed a second later. A loss of what changed the screen
told within that second stopped the headset and dropped the owed play, since the last word
was not the scene's play: the phase ran without its content, the warning gone after 30 s.
The owed play is kept (a second after the stop at the soonest).
"""

from __future__ import annotations

import json
from pathlib import Path

from controller.drivers.base import VrCommand
from tests.engine.room_parts import HEADSET
from tests.engine.test_engine import Room
from tests.engine.test_flash_history_edges import through_an_outage


def test_a_screen_lost_within_the_second_a_scene_s_play_is_owed_does_not_drop_it(
    tmp_path: Path,
) -> None:
    room = Room(tmp_path)
    scenes = room.engine.room.scenes
    centering = scenes["centering"]
    headset = centering.vr["headset"].model_copy(update={"brightness": 60})
    scenes["centering"] = centering.model_copy(update={"vr": {"headset": headset}})
    room.do("start", plan="rehearsal", participant="P014")
    room.run_for(10.0)  # centering's content on the headset

    def send(command: VrCommand) -> None:
        room.engine.vr.send("headset", command, room.engine.now(), again=True)  # or refused

    def flurry_then_centering_again() -> None:
        for _ in range(3):  # the screen changed as often as the gate lets
            send(VrCommand("stop"))
            send(VrCommand("play", content="other", volume=0.0))
        send(VrCommand("stop"))
        room.engine._apply_scene("centering", None)  # its play refused, owed a second later

    do = {
        3.0: lambda: send(VrCommand("play", content="other", volume=0.0)),  # dropped: too late
        29.5: flurry_then_centering_again,
    }
    took = through_an_outage(room, (0.5, 30.0), 40.0, do)

    after = [json.loads(p) for at, topic, p in took if topic == HEADSET and at > 30.0]
    plays = [m["content"] for m in after if m["action"] == "play"]
    assert room.engine.scene == "centering"
    assert plays == ["breathing:6"], after
