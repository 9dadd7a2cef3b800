"""Snapshots of the console's screens at 80×24 and at 120×36, as the stand-in engine shows them.

Each snapshot's console connects to the real Mosquitto; a `run_before` script publishes the
room's state from the stand-in engine (`standin_engine.py`) and waits until it is shown.
Update after a deliberate change of the look with `pytest --snapshot-update`, then look.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from textual.pilot import Pilot

from controller.api.state import RoomState
from controller.console.app import ConsoleApp
from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from tests.console import sample_states as states
from tests.console.harness import clock_after
from tests.console.polling import eventually, screen_text
from tests.console.standin_engine import StandInEngine
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
SnapCompare = Callable[..., bool]


def console_for(
    mosquitto: Mosquitto, room: str, shown: Sequence[RoomState], *, status: str = "online"
) -> tuple[ConsoleApp, Callable[[Pilot[Any]], Awaitable[None]]]:
    """A console for `room`, and a script publishing `shown` in turn (then `status`)."""
    app = ConsoleApp(
        Endpoint(mosquitto.host, mosquitto.port),
        room,
        default_plan="standard",
        clock=clock_after(shown[-1]),
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        async with StandInEngine(mosquitto.host, mosquitto.port, room) as engine:
            for state in shown:
                await engine.publish_state(state)
                await eventually(lambda state=state: app.view.state == state)
            if status != "online":
                await engine.publish_status(status)
            await eventually(lambda: app.view.engine == status)
        await pilot.pause()

    return app, run_before


def snapshot_room(request: pytest.FixtureRequest) -> str:
    return "snapshot-" + "".join(c if c.isalnum() else "-" for c in request.node.name).strip("-")


@pytest.mark.parametrize("size", SIZES)
class TestSetupScreen:
    def test_ready_to_start(
        self,
        snap_compare: SnapCompare,
        mosquitto: Mosquitto,
        request: pytest.FixtureRequest,
        size: tuple[int, int],
    ) -> None:
        room = snapshot_room(request)
        app, publish = console_for(mosquitto, room, [states.setup_state(room)])

        async def run_before(pilot: Pilot[Any]) -> None:
            await publish(pilot)
            await pilot.press(*"P014")

        assert snap_compare(app, terminal_size=size, run_before=run_before)

    def test_an_essential_device_offline_blocks_the_start(
        self,
        snap_compare: SnapCompare,
        mosquitto: Mosquitto,
        request: pytest.FixtureRequest,
        size: tuple[int, int],
    ) -> None:
        room = snapshot_room(request)
        state = states.setup_state(room)
        devices = {
            **state.devices,
            "oximeter": state.devices["oximeter"].model_copy(update={"available": "offline"}),
            "strip": state.devices["strip"].model_copy(update={"available": "unknown"}),
        }
        app, run_before = console_for(
            mosquitto, room, [state.model_copy(update={"devices": devices})]
        )
        assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("phase", ["centering", "peak", "return", "integration"])
class TestLiveScreen:
    def test_in_each_phase(
        self,
        snap_compare: SnapCompare,
        mosquitto: Mosquitto,
        request: pytest.FixtureRequest,
        size: tuple[int, int],
        phase: str,
    ) -> None:
        room = snapshot_room(request)
        state = states.live_state(room, phase)
        if phase == "return":
            state = states.bls_running(state)
        if phase == "integration":
            assert state.phase is not None
            held = state.phase.model_copy(
                update={"held": True, "extended_s": 300.0, "planned_s": 1200.0}
            )
            state = state.model_copy(update={"phase": held})
        later = states.with_vitals(state, 5, hr=76, spo2=98)
        app, run_before = console_for(
            mosquitto, room, [state, later, states.with_vitals(later, 5, hr=74, spo2=97)]
        )
        assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
class TestTrouble:
    def test_engine_offline_banner(
        self,
        snap_compare: SnapCompare,
        mosquitto: Mosquitto,
        request: pytest.FixtureRequest,
        size: tuple[int, int],
    ) -> None:
        room = snapshot_room(request)
        app, run_before = console_for(
            mosquitto, room, [states.live_state(room, "peak")], status="offline"
        )
        assert snap_compare(app, terminal_size=size, run_before=run_before)

    def test_emergency_with_a_vitals_alert(
        self,
        snap_compare: SnapCompare,
        mosquitto: Mosquitto,
        request: pytest.FixtureRequest,
        size: tuple[int, int],
    ) -> None:
        room = snapshot_room(request)
        state = states.emergency(states.heart_rate_alert(states.live_state(room, "peak")))
        app, run_before = console_for(mosquitto, room, [state])
        assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
class TestVitalsChecks:
    """docs/safety.md#vitals-checks: the baseline before the start, BP due, the recovery check."""

    def test_a_baseline_outside_the_thresholds_asks_for_a_reason(
        self,
        snap_compare: SnapCompare,
        mosquitto: Mosquitto,
        request: pytest.FixtureRequest,
        size: tuple[int, int],
    ) -> None:
        room = snapshot_room(request)
        app, publish = console_for(
            mosquitto, room, [states.baseline_outside(states.setup_state(room))]
        )

        async def run_before(pilot: Pilot[Any]) -> None:
            await publish(pilot)
            await pilot.press(*"P014", "enter")
            await eventually(lambda: "Confirm the baseline" in screen_text(app))
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=run_before)

    def test_bp_due_on_the_live_screen(
        self,
        snap_compare: SnapCompare,
        mosquitto: Mosquitto,
        request: pytest.FixtureRequest,
        size: tuple[int, int],
    ) -> None:
        room = snapshot_room(request)
        app, run_before = console_for(
            mosquitto, room, [states.bp_due(states.live_state(room, "peak"))]
        )
        assert snap_compare(app, terminal_size=size, run_before=run_before)

    def test_the_recovery_check_before_the_end(
        self,
        snap_compare: SnapCompare,
        mosquitto: Mosquitto,
        request: pytest.FixtureRequest,
        size: tuple[int, int],
    ) -> None:
        room = snapshot_room(request)
        state = states.awaiting_recovery(states.live_state(room, "integration"))
        app, publish = console_for(mosquitto, room, [state])

        async def run_before(pilot: Pilot[Any]) -> None:
            await publish(pilot)
            await pilot.press(DEFAULT_KEYMAP.key("end_session"))
            await eventually(lambda: "Recovery check before" in screen_text(app))
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=run_before)
