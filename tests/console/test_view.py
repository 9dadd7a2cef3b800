"""The console's view of the room: readiness to start, which keys work, trends and formatting."""

from __future__ import annotations

import dataclasses

import pytest

from controller.api.state import Preflight, RoomState
from controller.console.formatting import age_text, clock_time, local_time, percent
from controller.console.keymap import CONTROLS_BY_ID
from controller.console.trends import VitalsTrends, sparkline
from controller.console.view import Readiness, RoomView, offered, readiness
from controller.console.widgets.banner import banner_lines
from tests.console import sample_states as states


def view_of(state: RoomState | None, /, **changes: object) -> RoomView:
    view = RoomView(
        room="room-a",
        broker_url="mqtt://127.0.0.1:1883",
        broker_connected=True,
        engine="online",
        state=state,
        age_s=1.0,
    )
    return dataclasses.replace(view, **changes)  # type: ignore[arg-type]


def offline(state: RoomState, device_id: str) -> RoomState:
    device = state.devices[device_id].model_copy(update={"available": "offline"})
    return state.model_copy(update={"devices": {**state.devices, device_id: device}})


def test_a_healthy_room_is_ready_without_warnings() -> None:
    assert readiness(view_of(states.setup_state("room-a"))) == Readiness((), ())


@pytest.mark.parametrize(
    ("changes", "blocker"),
    [
        ({"broker_connected": False}, "not connected to the broker"),
        ({"engine": "offline"}, "the room's engine is offline"),
        ({"state": None}, "no state from the engine yet"),
        ({"age_s": 30.0}, "the engine's state is stale"),
    ],
)
def test_what_blocks_a_start(changes: dict[str, object], blocker: str) -> None:
    view = view_of(states.setup_state("room-a"), **changes)
    assert blocker in readiness(view).blockers


def test_an_offline_essential_device_blocks_and_a_non_essential_one_warns() -> None:
    state = offline(offline(states.setup_state("room-a"), "oximeter"), "strip")
    ready = readiness(view_of(state))
    assert ready.blockers == ("Pulse oximeter (essential) is offline",)
    assert ready.warnings == ("LED strip behind the couch is offline",)


def test_missing_playlists_warn_and_an_unwritable_journal_blocks() -> None:
    preflight = Preflight(journal_writable=False, playlists_missing=["peak", "return"])
    ready = readiness(view_of(states.setup_state("room-a", preflight=preflight)))
    assert ready.blockers == ("journal not writable: no reason",)
    assert ready.warnings == ("playlists missing: peak, return",)


def test_session_keys_are_hidden_before_a_session_and_disabled_without_an_engine() -> None:
    next_phase, emergency = CONTROLS_BY_ID["next_phase"], CONTROLS_BY_ID["emergency"]
    assert offered(next_phase, view_of(states.setup_state("room-a"))) is False
    assert offered(next_phase, view_of(states.live_state("room-a"))) is True
    assert offered(next_phase, view_of(states.live_state("room-a"), engine="offline")) is None
    assert offered(emergency, view_of(states.live_state("room-a"), engine="offline")) is True
    assert offered(emergency, view_of(None, broker_connected=False)) is True


def test_clear_emergency_is_offered_only_during_an_emergency() -> None:
    clear = CONTROLS_BY_ID["clear_emergency"]
    assert offered(clear, view_of(states.live_state("room-a"))) is False
    assert offered(clear, view_of(states.emergency(states.live_state("room-a")))) is True


def test_a_state_is_stale_after_the_limit() -> None:
    state = states.live_state("room-a")
    assert not view_of(state, age_s=5.0).stale
    assert view_of(state, age_s=5.1).stale
    assert not view_of(None, age_s=None).stale


def test_trends_count_each_reading_once_however_often_a_state_repeats_it() -> None:
    trends = VitalsTrends(length=3)
    state = states.live_state("room-a")
    for hr in (70, 70, 75, 80, 85):
        state = states.with_vitals(state, 5, hr=hr) if hr != 70 else state
        trends.add(state.vitals)
    assert trends.series("oximeter", "hr") == (75, 80, 85)
    assert trends.series("bp-cuff", "sys") == (124,)
    assert trends.series("nobody", "hr") == ()


def test_sparkline_scales_between_the_lowest_and_highest_value() -> None:
    assert sparkline([60, 70, 80], 10) == "▁▅█"
    assert sparkline([60, 62, 80], 10) == "▁▂█"
    assert sparkline([60, 70, 80, 90], 2) == "▁█"
    assert sparkline([72, 72], 5) == "▄▄"
    assert sparkline([], 5) == ""
    assert sparkline([1, 2], 0) == ""


def test_times_levels_and_ages_read_plainly() -> None:
    assert (clock_time(75), clock_time(3725), clock_time(-30)) == ("01:15", "1:02:05", "-00:30")
    assert (percent(0.35), percent(None)) == ("35%", "–")
    assert (age_text(4.4), age_text(200), age_text(7300)) == ("4 s", "3 min", "2 h")
    assert local_time("2025-03-14T09:30:00+00:00") == "09:30:00"
    assert local_time("not a time") == "not a time"


@pytest.mark.parametrize(
    ("changes", "first_line"),
    [
        ({}, "Connecting to the broker at mqtt://127.0.0.1:1883…"),
        (
            {"broker_problem": "[Errno 111] Connection refused", "reconnect_attempt": 2},
            "NO BROKER CONNECTION — cannot reach mqtt://127.0.0.1:1883 (attempt 2): "
            "[Errno 111] Connection refused",
        ),
        (
            {"broker_ever_connected": True, "broker_problem": "timed out", "reconnect_attempt": 1},
            "BROKER CONNECTION LOST — reconnecting to mqtt://127.0.0.1:1883 (attempt 1): timed out",
        ),
    ],
)
def test_the_banner_says_connecting_until_a_connection_was_made_and_lost(
    changes: dict[str, object], first_line: str
) -> None:
    view = view_of(None, broker_connected=False, engine="unknown", **changes)
    assert banner_lines(view)[0][0] == first_line
