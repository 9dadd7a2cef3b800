"""Characters that reorder or hide text, or break a line, in the room's words (a device
label, the plan's title, the participant, an alert, a note, the music's title, the room's
name: whoever may publish the room's state wrote them) are not drawn as they are.

A right-to-left override (U+202E) makes a terminal that lays out bidirectional text show
what follows backwards (a label `lamp<RLO>ENILNO` would read `lamp ONLINE`) and may carry
over the rest of the line; zero-width characters make two different words look the same;
U+2028 and U+2029 are line breaks to Python (`str.splitlines`). On the real Mosquitto.
"""

from __future__ import annotations

import json

import pytest

from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine

pytestmark = pytest.mark.mosquitto

INVISIBLE = {
    "right-to-left override": "\u202e",
    "left-to-right override": "\u202d",
    "right-to-left embedding": "\u202b",
    "pop directional formatting": "\u202c",
    "first strong isolate": "\u2068",
    "right-to-left isolate": "\u2067",
    "pop directional isolate": "\u2069",
    "right-to-left mark": "\u200f",
    "Arabic letter mark": "\u061c",
    "zero-width space": "\u200b",
    "word joiner": "\u2060",
    "zero-width no-break space": "\ufeff",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
}


def _with(text: str, data: dict[str, object]) -> None:
    """Every piece of the room's text the live screen draws, with `text` in it."""
    session = data["session"]
    assert isinstance(session, dict)
    session["plan_title"] = f"Standard{text}plan"
    data["name"] = f"Room{text}A"
    devices = data["devices"]
    assert isinstance(devices, dict)
    for device in devices.values():
        device["label"] = f"lamp{text}ENILFFO"
    music = data["music"]
    assert isinstance(music, dict)
    music["title"] = f"Slow{text}chords"
    timeline = data["timeline"]
    assert isinstance(timeline, list)
    timeline[-1]["text"] = f"note{text}here"
    data["alerts"] = [
        {
            "key": "vitals:oximeter:hr",
            "kind": "vitals",
            "level": "warning",
            "message": f"pulse{text}high",
            "since": data["updated"],
        }
    ]


@pytest.mark.parametrize("character", INVISIBLE.values(), ids=INVISIBLE.keys())
async def test_a_character_that_reorders_hides_or_breaks_text_is_not_drawn_as_it_is(
    engine: StandInEngine, endpoint: Endpoint, room: str, character: str
) -> None:
    good = states.live_state(room)
    async with console_showing(engine, endpoint, good) as (app, pilot):
        data = json.loads(good.model_dump_json())
        _with(character, data)
        await engine.publish_raw_state(json.dumps(data).encode())
        await eventually(
            lambda: app.view.state is not None and app.view.state.alerts,
            what="the state heard",
        )
        await pilot.pause()
        text = screen_text(app)

        assert "pulse" in text and "Slow" in text
        assert character not in text
