"""Every key of the console, pressed in a running console: the command the engine receives.

The engine here is the stand-in (`standin_engine.py`) on the real Mosquitto, so each key's
exact command can be asserted; what the real engine then does is tested in
`test_console_real_engine.py`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from textual.events import Key, Paste
from textual.pilot import Pilot

from controller.api.commands import MAX_NOTE_CHARS, parse_command
from controller.api.state import RoomState
from controller.console import ConsoleApp
from controller.console import link as console_link
from controller.console.keymap import CONTROLS_BY_ID, DEFAULT_KEYMAP, load_keymap
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import console_showing
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto


def peak(room: str) -> RoomState:
    return states.live_state(room, "peak")


def held(room: str) -> RoomState:
    state = peak(room)
    assert state.phase is not None
    return state.model_copy(update={"phase": state.phase.model_copy(update={"held": True})})


def music_paused(room: str) -> RoomState:
    state = peak(room)
    return state.model_copy(update={"music": state.music.model_copy(update={"status": "paused"})})


def bls_running(room: str) -> RoomState:
    return states.bls_running(peak(room))


KEYS_BY_STATE: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "peak": [
        ("next_phase", {"action": "next"}),
        ("hold", {"action": "hold"}),
        ("extend", {"action": "extend", "seconds": 300.0}),
        ("volume_up", {"action": "volume", "delta": 0.05}),
        ("volume_down", {"action": "volume", "delta": -0.05}),
        ("lights_up", {"action": "lights", "delta": 0.1}),
        ("lights_down", {"action": "lights", "delta": -0.1}),
        ("music_pause", {"action": "music", "op": "pause"}),
        ("music_skip", {"action": "music", "op": "skip"}),
        ("bls_toggle", {"action": "bls", "op": "start"}),
        ("emergency", {"action": "emergency"}),
    ],
    "held": [("hold", {"action": "release"})],
    "music_paused": [("music_pause", {"action": "music", "op": "resume"})],
    "bls_running": [
        ("bls_toggle", {"action": "bls", "op": "stop"}),
        ("bls_faster", {"action": "bls", "op": "start", "speed_hz": 1.3}),
        ("bls_slower", {"action": "bls", "op": "start", "speed_hz": 1.1}),
    ],
}
STATES = {"peak": peak, "held": held, "music_paused": music_paused, "bls_running": bls_running}


def fields(command: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in command.items() if name not in ("id", "source")}


@pytest.mark.parametrize("state_name", KEYS_BY_STATE)
async def test_each_key_sends_its_command_and_says_it_was_done(
    engine: StandInEngine, endpoint: Endpoint, room: str, state_name: str
) -> None:
    keys = KEYS_BY_STATE[state_name]
    async with console_showing(engine, endpoint, STATES[state_name](room)) as (app, pilot):
        for count, (control_id, _) in enumerate(keys, start=1):
            await pilot.press(DEFAULT_KEYMAP.key(control_id))
            await eventually(
                lambda count=count: len(engine.commands) >= count, what=f"{control_id} sent"
            )
            title = CONTROLS_BY_ID[control_id].title
            done = f"✓ {'EMERGENCY' if control_id == 'emergency' else title}"
            await eventually(lambda done=done: done in screen_text(app), what=done)
    assert [fields(command) for command in engine.commands] == [expected for _, expected in keys]
    for command in engine.commands:
        assert command["source"] == "console"
        parse_command(json.dumps(command).encode())


async def test_bls_speed_keys_say_why_nothing_is_sent_while_bls_is_stopped(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, peak(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("bls_faster"))
        await eventually(lambda: "BLS is not running" in screen_text(app))
    assert engine.commands == []


@pytest.mark.parametrize(
    ("control_id", "make_state", "action"),
    [
        ("previous_phase", peak, "back"),
        ("end_session", peak, "end"),
        ("clear_emergency", lambda room: states.emergency(peak(room)), "clear_emergency"),
    ],
)
async def test_a_key_that_asks_first_sends_only_after_yes(
    engine: StandInEngine,
    endpoint: Endpoint,
    room: str,
    control_id: str,
    make_state: Any,
    action: str,
) -> None:
    async with console_showing(engine, endpoint, make_state(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key(control_id))
        await eventually(lambda: "(y)" in screen_text(app), what="the question is shown")
        await pilot.press("n")
        await pilot.pause(0.2)
        assert engine.commands == []
        await pilot.press(DEFAULT_KEYMAP.key(control_id))
        await eventually(lambda: "(y)" in screen_text(app))
        await pilot.press("y")
        await eventually(lambda: engine.commands, what=f"{action} reaches the engine")
    assert engine.actions() == [action]


async def test_the_note_key_opens_a_text_input_and_sends_the_note(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, peak(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("note"))
        await eventually(lambda: "Note for the session timeline" in screen_text(app))
        await pilot.press(*"calm", "enter")
        await eventually(lambda: engine.commands)
        await eventually(lambda: "Note for the session timeline" not in screen_text(app))
    assert fields(engine.commands[0]) == {"action": "note", "text": "calm"}


async def test_a_paste_into_the_note_is_cut_to_fit_and_shows_control_characters(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    """Megabytes from a terminal's clipboard: the first line, cut to the note's length (it was
    dropped whole without a word), an escape sequence shown as its pictures."""
    pasted = "calm\x1b[2J" + "x" * 5_000_000 + "\nsecond line"
    async with console_showing(engine, endpoint, peak(room), notifications=True) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("note"))
        await eventually(lambda: "Note for the session timeline" in screen_text(app))
        app.post_message(Paste(pasted))
        await eventually(lambda: "The paste was cut to the field's 4000" in screen_text(app))
        await pilot.press("enter")
        await eventually(lambda: engine.commands, what="the note reaches the engine")
    assert fields(engine.commands[0]) == {
        "action": "note",
        "text": "calm␛[2J" + "x" * (MAX_NOTE_CHARS - len("calm␛[2J")),
    }


async def test_an_empty_note_sends_nothing(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, peak(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("note"), "enter")
        await eventually(lambda: "Note for the session timeline" not in screen_text(app))
        await pilot.pause(0.2)
    assert engine.commands == []


async def test_emergency_is_never_behind_a_dialog_and_a_second_press_sends_it_again(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, peak(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("note"), *"half")
        await eventually(lambda: "Note for the session timeline" in screen_text(app))
        await pilot.press(DEFAULT_KEYMAP.key("emergency"))
        await eventually(lambda: engine.actions() == ["emergency"])
        await pilot.press(DEFAULT_KEYMAP.key("emergency"))
        await eventually(lambda: engine.actions() == ["emergency", "emergency"])


async def test_a_burst_of_keys_sends_one_command_until_its_reply_but_emergency_always(
    engine: StandInEngine, endpoint: Endpoint, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hundred presses of extend while the engine has not answered the first: one +5 min."""
    monkeypatch.setattr(console_link, "REPLY_TIMEOUT_S", 60.0)  # the burst never outlasts it
    engine.silent.add("extend")
    async with console_showing(engine, endpoint, peak(room)) as (app, pilot):
        await pilot.press(*[DEFAULT_KEYMAP.key("extend")] * 100)
        await eventually(lambda: engine.commands, what="the first extend reaches the engine")
        await pilot.pause(0.3)
        assert engine.actions() == ["extend"]
        await pilot.press(DEFAULT_KEYMAP.key("next_phase"), DEFAULT_KEYMAP.key("hold"))
        await eventually(
            lambda: (
                "✗ hold / release the phase clock not sent: waiting for the engine's reply"
                in screen_text(app)
            )
        )
        await pilot.press(DEFAULT_KEYMAP.key("emergency"))
        await eventually(lambda: engine.actions() == ["extend", "emergency"])


async def test_session_keys_are_disabled_while_the_engine_is_offline_but_emergency_is_not(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, peak(room)) as (app, pilot):
        await engine.publish_status("offline")
        await eventually(lambda: "ENGINE OFFLINE" in screen_text(app))
        await pilot.press(*(DEFAULT_KEYMAP.key(c) for c in ("next_phase", "hold", "extend")))
        await pilot.pause(0.2)
        assert engine.commands == []
        await pilot.press(DEFAULT_KEYMAP.key("emergency"))
        await eventually(lambda: engine.actions() == ["emergency"])


async def emergency_pressed_with_the_broker_gone(
    app: ConsoleApp, pilot: Pilot[None], broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker stops, then the emergency key: the console says it keeps the press. The
    console makes no attempt of its own to reconnect for a minute (the test brings the room
    back and presses the reconnect key)."""
    monkeypatch.setattr(console_link, "RECONNECT_DELAYS_S", (60.0,))
    broker.stop()
    await eventually(lambda: not app.view.broker_connected, what="the broker is gone")
    await pilot.press(DEFAULT_KEYMAP.key("emergency"))
    waiting = "… EMERGENCY: not connected, sent when the broker is back"
    await eventually(lambda: waiting in screen_text(app))


async def test_emergency_pressed_without_a_broker_goes_as_soon_as_the_broker_is_back(
    private_mosquitto: Mosquitto, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = Endpoint(private_mosquitto.host, private_mosquitto.port)
    state = peak(room)
    async with (
        StandInEngine(private_mosquitto.host, private_mosquitto.port, room) as engine,
        console_showing(engine, endpoint, state) as (app, pilot),
    ):
        await emergency_pressed_with_the_broker_gone(app, pilot, private_mosquitto, monkeypatch)
        private_mosquitto.start()
        async with StandInEngine(private_mosquitto.host, private_mosquitto.port, room) as back:
            await back.publish_state(state)
            await pilot.press(DEFAULT_KEYMAP.key("reconnect"))
            await eventually(lambda: back.actions() == ["emergency"], timeout=10)
            await eventually(lambda: "✓ EMERGENCY" in screen_text(app))


async def test_quit_during_a_session_asks_and_leaves_the_room_running(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, peak(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("quit"))
        await eventually(lambda: "The session goes on" in screen_text(app))
        await pilot.press("n")
        await pilot.pause(0.1)
        assert app.is_running
        await pilot.press(DEFAULT_KEYMAP.key("quit"))
        await eventually(lambda: "The session goes on" in screen_text(app))
        await pilot.press("y")
        await eventually(lambda: not app.is_running, what="the console quits")
    assert engine.commands == []


async def test_quit_outside_a_session_needs_no_confirmation(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.setup_state(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("quit"))
        await eventually(lambda: not app.is_running)


async def test_keys_from_a_keymap_file_replace_the_defaults(
    engine: StandInEngine, endpoint: Endpoint, room: str, tmp_path: Any
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("next_phase: right\nemergency: f12\n")
    keymap = load_keymap(keys)
    async with console_showing(engine, endpoint, peak(room), keymap=keymap) as (app, pilot):
        assert "→  next" in screen_text(app) and "f12  EMERGENCY" in screen_text(app)
        await pilot.press("n", "escape")
        await pilot.pause(0.2)
        assert engine.commands == []
        await pilot.press("right", "f12")
        await eventually(lambda: engine.actions() == ["next", "emergency"])


async def test_a_tablet_without_keys_clicks_the_key_bar_instead(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, peak(room)) as (app, pilot):
        lines = screen_text(app).splitlines()
        row = next(y for y, line in enumerate(lines) if " n  next " in line)
        column = lines[row].index(" n  next ") + 5
        await pilot.click(offset=(column, row))
        await eventually(lambda: engine.actions() == ["next"])


@pytest.mark.parametrize("burst", [("x", "y"), ("x", "tab", "enter"), ("x", "tab", "space")])
async def test_a_burst_of_keys_does_not_answer_the_question_it_opened(
    engine: StandInEngine, endpoint: Endpoint, room: str, burst: tuple[str, ...]
) -> None:
    """Keys typed together with the one that asks (a hand on the keyboard, a cat) answer
    nothing: clearing the emergency takes a yes given once the question is on the screen."""
    async with console_showing(engine, endpoint, states.emergency(peak(room))) as (app, pilot):
        for key in burst:  # as one read from the terminal: all queued before any is handled
            app.post_message(Key(key, None))
        await eventually(lambda: "(y)" in screen_text(app), what="the question is shown")
        await pilot.pause(0.2)
        assert engine.commands == []
        assert "(y)" in screen_text(app), "the question is still open"
        await pilot.press("y")
        await eventually(lambda: engine.actions() == ["clear_emergency"])
