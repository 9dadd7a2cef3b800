"""What the console shows, screen by screen, as the engine's state changes and as things go wrong.

The engine here is the stand-in (`standin_engine.py`) on the real Mosquitto: it shows the
exact states each screen test needs, including faults the real engine cannot be made to
produce on cue (stale, unreadable, refused, unanswered).
"""

from __future__ import annotations

import pytest
from textual.widgets import Button, Select

from controller.api.state import DeviceInfo, Preflight, RoomState, TimelineEntry
from controller.console import app as console_app
from controller.console import link as console_link
from controller.console.formatting import parse_wall
from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from controller.console.widgets.setup_view import SetupView
from controller.journal.events import iso_wall
from tests.console import sample_states as states
from tests.console.harness import SIZE, clock_after, console_showing
from tests.console.polling import confirm_baseline, eventually, screen_text
from tests.console.standin_engine import StandInEngine
from tests.support.mosquitto import Mosquitto, free_port

pytestmark = pytest.mark.mosquitto


def with_device(state: RoomState, device_id: str, **changes: object) -> RoomState:
    device: DeviceInfo = state.devices[device_id].model_copy(update=changes)
    return state.model_copy(update={"devices": {**state.devices, device_id: device}})


def start_button(app: console_app.ConsoleApp) -> Button:
    return app.query_one("#start", Button)


# --------------------------------------------------------------------------- before the session


async def test_setup_offers_the_engines_plans_with_the_rooms_default_chosen(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.setup_state(room)) as (app, _pilot):
        text = screen_text(app)
        assert "Before the session" in text
        assert "Standard session (90 minutes)" in text
        assert app.query_one("#plan", Select).value == "standard"


async def test_a_name_is_refused_as_participant_code_and_nothing_can_start(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.setup_state(room)) as (app, pilot):
        await pilot.press(*"Anna", "enter")
        await eventually(lambda: "pseudonymous code such as P014" in screen_text(app))
        assert start_button(app).disabled
        await pilot.press(*"-01")
        await eventually(lambda: "ready" in screen_text(app))
        assert not start_button(app).disabled
    assert engine.commands == []


async def test_start_sends_the_chosen_plan_and_the_participant_code(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.setup_state(room)) as (app, pilot):
        await pilot.click("#plan")
        await pilot.press("down", "enter")
        await eventually(lambda: app.query_one("#plan", Select).value == "rehearsal")
        await pilot.click("#participant")
        await pilot.press(*"S-22")
        await pilot.click("#start")
        await confirm_baseline(app, pilot)
        await eventually(lambda: engine.commands, what="start reaches the engine")
    command = engine.commands[0]
    assert (command["action"], command["plan"], command["participant"]) == (
        "start",
        "rehearsal",
        "S-22",
    )
    assert command["baseline_confirmed"] is True


@pytest.mark.parametrize(
    ("make_state", "reason"),
    [
        (
            lambda room: with_device(states.setup_state(room), "ceiling", available="offline"),
            "Ceiling light (essential) is offline",
        ),
        (
            lambda room: states.setup_state(
                room, preflight=Preflight(journal_writable=False, journal_problem="disk full")
            ),
            "journal not writable: disk full",
        ),
        (
            lambda room: states.emergency(states.live_state(room)).model_copy(
                update={"session": None, "phase": None}
            ),
            "an emergency is active",
        ),
    ],
    ids=["essential-device-offline", "journal-not-writable", "emergency-active"],
)
async def test_start_is_blocked_and_says_why(
    engine: StandInEngine, endpoint: Endpoint, room: str, make_state: object, reason: str
) -> None:
    state = make_state(room)  # type: ignore[operator]
    async with console_showing(engine, endpoint, state) as (app, pilot):
        await pilot.press(*"P014", "enter")
        await eventually(lambda: reason in screen_text(app), what=reason)
        assert start_button(app).disabled
    assert engine.commands == []


@pytest.mark.parametrize(
    ("make_state", "warning"),
    [
        (
            lambda room: with_device(states.setup_state(room), "strip", available="offline"),
            "LED strip behind the couch is offline",
        ),
        (
            lambda room: states.setup_state(
                room, preflight=Preflight(journal_writable=True, playlists_missing=["peak"])
            ),
            "playlists missing: peak",
        ),
    ],
    ids=["non-essential-device-offline", "playlist-missing"],
)
async def test_start_is_allowed_with_a_warning_when_something_non_essential_is_down(
    engine: StandInEngine, endpoint: Endpoint, room: str, make_state: object, warning: str
) -> None:
    state = make_state(room)  # type: ignore[operator]
    async with console_showing(engine, endpoint, state) as (app, pilot):
        await pilot.press(*"P014")
        await eventually(lambda: f"starts with: {warning}" in screen_text(app), what=warning)
        await pilot.press("enter")
        await confirm_baseline(app, pilot)
        await eventually(lambda: engine.actions() == ["start"])


async def test_a_refused_start_shows_the_engines_reason(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    engine.refusals["start"] = "a session is already open in this room"
    async with console_showing(engine, endpoint, states.setup_state(room)) as (app, pilot):
        await pilot.press(*"P014", "enter")
        await confirm_baseline(app, pilot)
        await eventually(
            lambda: "start session refused: a session is already open" in screen_text(app)
        )


async def test_without_the_engines_state_the_setup_screen_comes_after_a_wait_and_says_why(
    endpoint: Endpoint, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_app, "STATE_WAIT_S", 0.3)
    app = console_app.ConsoleApp(endpoint, room)
    async with app.run_test(size=SIZE):
        await eventually(lambda: "Before the session" in screen_text(app), what="the setup view")
        assert app.view.broker_connected, "connected, but no engine ever ran in this room"
        assert "the room's engine is unknown" in screen_text(app)


async def test_an_unreachable_broker_shows_the_setup_screen_at_once_saying_so(
    room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_app, "STATE_WAIT_S", 600.0)  # not waited for: the broker said
    app = console_app.ConsoleApp(Endpoint("127.0.0.1", free_port()), room)
    async with app.run_test(size=SIZE):
        await eventually(lambda: "Before the session" in screen_text(app), what="the setup view")
        assert "not connected to the broker" in screen_text(app)
        assert "NO BROKER CONNECTION — cannot reach mqtt://127.0.0.1:" in screen_text(app)
        assert "LOST" not in screen_text(app), "a connection never made was not lost"


# --------------------------------------------------------------------------- during the session


async def test_a_console_opened_during_a_session_shows_it_without_building_the_setup_view(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.live_state(room, "return")) as (app, _):
        assert "RETURN" in screen_text(app)
        assert not app.query(SetupView), "the setup view is built when first shown, not before"


async def test_the_live_screen_replaces_setup_when_a_session_starts_and_back_when_it_ends(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.setup_state(room)) as (app, pilot):
        app.app_focus = False  # the tablet's browser tab is in the background
        await engine.publish_state(states.live_state(room, "centering"))
        await eventually(lambda: "CENTERING" in screen_text(app), what="the live screen")
        assert "Before the session" not in screen_text(app)
        app.app_focus = True
        await pilot.press(DEFAULT_KEYMAP.key("next_phase"))
        await eventually(lambda: engine.actions() == ["next"], what="keys steer the session")
        await engine.publish_state(states.setup_state(room, at=5000))
        await eventually(lambda: "Before the session" in screen_text(app))


async def test_a_session_end_closes_an_open_question(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.live_state(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("previous_phase"))
        await eventually(lambda: "Go back to the previous phase?" in screen_text(app))
        await engine.publish_state(states.setup_state(room, at=5000))
        await eventually(lambda: "Before the session" in screen_text(app))
        assert "Go back to the previous phase?" not in screen_text(app)
    assert engine.commands == []


async def test_the_phase_shows_its_time_what_comes_next_and_its_marks(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.live_state(room, "peak")
    assert state.phase is not None
    phase = state.phase.model_copy(update={"held": True, "extended_s": 300.0, "planned_s": 2700.0})
    state = state.model_copy(update={"phase": phase})
    async with console_showing(engine, endpoint, state) as (app, _pilot):
        text = screen_text(app)
    assert "● PEAK" in text and "✓ centering" in text and "○ return" in text
    assert "18:24 of 45:00" in text
    assert "next return · auto" in text
    assert "HELD" in text and "+05:00" in text
    assert "41% · 26:36 left" in text


async def test_a_phase_past_its_planned_time_says_by_how_much(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.live_state(room, "integration")
    assert state.phase is not None
    state = state.model_copy(update={"phase": state.phase.model_copy(update={"elapsed_s": 1020})})
    async with console_showing(engine, endpoint, state) as (app, _pilot):
        assert "over by 02:00" in screen_text(app)
        assert "last phase" in screen_text(app)


async def test_devices_show_their_level_and_an_offline_one_loudly(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = with_device(states.live_state(room), "headset", available="offline")
    async with console_showing(engine, endpoint, state) as (app, _pilot):
        text = screen_text(app)
    assert "Ceiling light" in text and "35%" in text
    assert "✕ VR headset OFFLINE" in text


async def test_music_and_bls_show_what_plays_and_how_fast(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.bls_running(states.live_state(room))
    async with console_showing(engine, endpoint, state) as (app, _pilot):
        text = screen_text(app)
    assert "♪ Slow chords in D" in text
    assert "02:13 / 05:40  playing  vol 35%" in text
    assert "● running  1.2 Hz  tactile" in text
    assert "pass 9/24" in text


async def test_vitals_keep_a_trend_from_successive_states_and_an_alert_is_loud(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.live_state(room)
    async with console_showing(engine, endpoint, state) as (app, _pilot):
        for seconds, hr in ((5, 80), (10, 90)):
            state = states.with_vitals(state, seconds, hr=hr, spo2=97)
            await engine.publish_state(state)
            await eventually(lambda state=state: app.view.state == state)
        assert app.view.trends.series("oximeter", "hr") == (72, 80, 90)
        await eventually(lambda: "HR        90 ▁▄█" in screen_text(app))
        await engine.publish_state(states.heart_rate_alert(state))
        await eventually(lambda: "⚠ heart rate 131 is above 120" in screen_text(app))


async def test_the_timeline_shows_the_recent_entries_newest_last(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.live_state(room)
    entry = TimelineEntry(t=2065.0, wall=state.updated, kind="safety", text="volume clamped to 70%")
    state = state.model_copy(update={"timeline": [*state.timeline, entry]})
    async with console_showing(engine, endpoint, state) as (app, _pilot):
        lines = screen_text(app).splitlines()
    timeline = [line for line in lines if "began" in line or "clamped" in line]
    assert "34:25 safety   volume clamped to 70%" in timeline[-1]
    assert "16:00 phase    peak began" in timeline[-2]


async def test_emergency_is_shown_across_the_screen_with_the_keys_that_matter(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    state = states.emergency(states.live_state(room))
    async with console_showing(engine, endpoint, state) as (app, _pilot):
        text = screen_text(app)
        assert "EMERGENCY since 09:34:24" in text
        assert "esc again: immediate · x: clear" in text
        await engine.publish_state(states.emergency(states.live_state(room), immediate=True))
        await eventually(lambda: "everything stopped at once" in screen_text(app))


# --------------------------------------------------------------------------- when things go wrong


async def test_an_offline_engine_gets_a_banner_and_only_safe_keys_stay_enabled(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.live_state(room)) as (app, _pilot):
        await engine.publish_status("offline")
        await eventually(lambda: "ENGINE OFFLINE" in screen_text(app))
        assert app.query_one("#live").has_class("-not-live")
        assert app.check_action("control", ("next_phase",)) is None
        assert app.check_action("reconnect", ()) is True
        assert app.check_action("emergency", ()) is True


async def test_a_lost_broker_gets_a_banner_and_the_console_reconnects_by_itself(
    private_mosquitto: Mosquitto, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_link, "RECONNECT_DELAYS_S", (0.1,))
    endpoint = Endpoint(private_mosquitto.host, private_mosquitto.port)
    state = states.live_state(room)
    async with (
        StandInEngine(private_mosquitto.host, private_mosquitto.port, room) as engine,
        console_showing(engine, endpoint, state) as (app, pilot),
    ):
        private_mosquitto.stop()
        await eventually(lambda: "BROKER CONNECTION LOST" in screen_text(app))
        assert "engine unknown" in screen_text(app), "without a broker the engine is unknown"
        assert app.check_action("control", ("next_phase",)) is None
        private_mosquitto.start()
        async with StandInEngine(private_mosquitto.host, private_mosquitto.port, room) as back:
            await back.publish_state(state)
            await eventually(lambda: app.view.broker_connected, timeout=10)
            await eventually(lambda: "BROKER CONNECTION LOST" not in screen_text(app))
            await pilot.press(DEFAULT_KEYMAP.key("next_phase"))
            await eventually(lambda: back.actions() == ["next"])


async def test_a_refused_command_shows_the_engines_reason(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    engine.refusals["next"] = "ignored: the phase changed less than 2 s ago"
    async with console_showing(engine, endpoint, states.live_state(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("next_phase"))
        await eventually(
            lambda: (
                "✗ next phase refused: ignored: the phase changed less than 2 s ago"
                in screen_text(app)
            )
        )


async def test_no_reply_within_a_few_seconds_is_said(
    engine: StandInEngine, endpoint: Endpoint, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Long enough that the transient "waiting" line is seen even on a loaded machine.
    monkeypatch.setattr(console_link, "REPLY_TIMEOUT_S", 1.5)
    engine.silent.add("extend")
    async with console_showing(engine, endpoint, states.live_state(room)) as (app, pilot):
        await pilot.press(DEFAULT_KEYMAP.key("extend"))
        await eventually(lambda: "sent, waiting for the engine" in screen_text(app))
        await eventually(
            lambda: (
                "✗ extend the phase by 5 minutes: no reply from the engine within 1.5 s"
                in screen_text(app)
            )
        )


async def test_an_old_state_is_marked_stale_never_shown_as_live(
    engine: StandInEngine, endpoint: Endpoint, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_app, "TICK_S", 0.05)
    state = states.live_state(room)
    clock = clock_after(state)
    async with console_showing(engine, endpoint, state, clock=clock) as (app, _pilot):
        assert "09:34:24, 1 s ago" in screen_text(app)
        assert "STALE" not in screen_text(app)
        clock.advance(5)
        await eventually(lambda: "STALE 09:34:24, 6 s ago" in screen_text(app))
        # the banner line comes with a new layout, a frame after the top bar's text
        await eventually(lambda: "no update from the engine for 6 s" in screen_text(app))
        assert app.query_one("#live").has_class("-not-live")


async def test_a_state_heard_live_is_fresh_whatever_the_console_s_wall_clock_says(
    engine: StandInEngine, endpoint: Endpoint, room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's machine keeps a wall clock a minute ahead of the engine's: the retained
    state found on connecting may be as old as that says, so it is marked stale; a state
    published while the console listens is the engine's news, not a minute old."""
    monkeypatch.setattr(console_app, "TICK_S", 0.05)
    state = states.live_state(room)
    made = parse_wall(state.updated)
    assert made is not None
    async with console_showing(engine, endpoint, state, clock=clock_after(state, 60.0)) as (
        app,
        _pilot,
    ):
        await eventually(lambda: "STALE" in screen_text(app))
        later = state.model_copy(update={"updated": iso_wall(int((made.timestamp() + 1) * 1e9))})
        await engine.publish_state(later)
        await eventually(lambda: app.view.state == later, what="the live state")
        await eventually(lambda: "STALE" not in screen_text(app), what="the live state is fresh")
        assert not app.view.stale


async def test_an_unreadable_state_is_reported_not_shown(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.live_state(room)) as (app, _pilot):
        await engine.publish_raw_state(b'{"room": 3}')
        await eventually(lambda: "Unreadable state from the engine" in screen_text(app))


async def test_the_reconnect_key_reconnects_and_gets_the_state_again(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    async with console_showing(engine, endpoint, states.live_state(room)) as (app, pilot):
        seen: list[bool] = []
        app.watch(app, "view", lambda view: seen.append(view.broker_connected), init=False)
        await pilot.press(DEFAULT_KEYMAP.key("reconnect"))
        await eventually(lambda: seen[-1:] == [True] and False in seen, what="down, then up")
        await eventually(lambda: app.view.state is not None and "PEAK" in screen_text(app))


async def test_text_from_the_engine_is_drawn_without_driving_the_terminal(
    engine: StandInEngine, endpoint: Endpoint, room: str
) -> None:
    """A note, an alert or a refusal holding an escape sequence (a paste from a coloured
    terminal, a hostile client) is drawn as its pictures: it never reaches the terminal raw."""
    state = states.live_state(room)
    escape = "calm\x1b]0;owned\x07\x1b[2J\x9b1m"
    note = state.timeline[-1].model_copy(update={"kind": "note", "text": escape})
    engine.refusals["next"] = "no\x1b[5m"
    async with console_showing(engine, endpoint, state) as (app, pilot):
        await engine.publish_state(state.model_copy(update={"timeline": [note]}))
        await eventually(lambda: "calm␛]0;owned␇␛[2J�1m" in screen_text(app))
        await pilot.press(DEFAULT_KEYMAP.key("next_phase"))
        await eventually(lambda: "refused: no␛[5m" in screen_text(app))
        drawn = screen_text(app)
    assert not [c for c in drawn if c != "\n" and (c < " " or "\x7f" <= c < "\xa0")]


@pytest.mark.parametrize("width", [30, 40])
async def test_a_narrow_screen_keeps_the_session_time_and_staleness_on_the_top_line(
    engine: StandInEngine,
    endpoint: Endpoint,
    room: str,
    monkeypatch: pytest.MonkeyPatch,
    width: int,
) -> None:
    """A console in a half-width pane: the participant, the session time and STALE stay on
    the first line (the freshness is told in short), whatever else is cut."""
    monkeypatch.setattr(console_app, "TICK_S", 0.05)
    state = states.emergency(states.live_state(room))
    clock = clock_after(state)
    async with console_showing(engine, endpoint, state, clock=clock, size=(width, 12)) as (
        app,
        _pilot,
    ):
        assert screen_text(app).splitlines()[0].startswith(" P014  34:24")
        assert screen_text(app).splitlines()[0].rstrip().endswith("● 1 s")
        clock.advance(5)
        await eventually(lambda: "STALE 6 s" in screen_text(app).splitlines()[0])
        assert screen_text(app).splitlines()[0].startswith(" P014  34:24")


async def test_a_connection_paho_refuses_outright_is_said_and_tried_again(
    room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Port 0 makes paho raise a ValueError, not an MQTT error: the link goes on trying."""
    monkeypatch.setattr(console_link, "RECONNECT_DELAYS_S", (0.05,))
    app = console_app.ConsoleApp(Endpoint("127.0.0.1", 0), room)
    async with app.run_test(size=SIZE):
        await eventually(lambda: app.view.reconnect_attempt >= 3, what="three attempts")
        assert "NO BROKER CONNECTION — cannot reach" in screen_text(app)
        assert "Invalid port number" in screen_text(app)
