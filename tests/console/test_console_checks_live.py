"""The vitals checks end to end: the console, the real engine at time scale 60 and the simulated
room (its cuff measuring on demand) on a real Mosquitto (docs/safety.md#vitals-checks).

At time scale 60 the standard plan's peak wants a blood pressure every 15 minutes: "BP due"
shows 15 s after the peak began, the cuff is asked and answers after its simulated measuring
time (30 s of session time, half a real second), and finishing asks for the recovery check.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.widgets import Checkbox

from controller.cli import main
from controller.console.app import ConsoleApp
from controller.console.keymap import DEFAULT_KEYMAP
from controller.console.link import Endpoint
from controller.journal import list_sessions, read_events
from controller.sim.vitals import CUFF_MEASURING_S
from tests.console.live_room import live_engine
from tests.console.polling import confirm_baseline, eventually, screen_text
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

TIME_SCALE = 60.0
INTERVAL_S = 900.0
"""The standard plan's `measure_every: {bp-cuff: 15m}` in its peak."""
BP_DUE = " BP due  last"
"""The vitals panel's loud line (the timeline says "BP due" too, and keeps saying it)."""
SLACK_S = 2.0
"""Real seconds the engine's ticks, the broker and the console may add."""


async def test_bp_falls_due_on_time_the_cuff_answers_and_the_recovery_check_ends_it(
    private_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    async with live_engine(private_mosquitto, tmp_path, TIME_SCALE) as service:
        await eventually(lambda: service.engine is not None, what="the engine runs")
        engine = service.engine
        assert engine is not None
        endpoint = Endpoint(host=private_mosquitto.host, port=private_mosquitto.port)
        app = ConsoleApp(endpoint, service.room.room_id, default_plan="standard")
        async with app.run_test(size=(120, 36)) as pilot:
            await eventually(
                lambda: "Blood-pressure cuff: HR" in screen_text(app),
                timeout=10,
                what="the cuff's first reading on the setup screen",
            )
            await pilot.click("#participant")
            await pilot.press(*"P014")
            await eventually(lambda: "✓ ready" in screen_text(app), timeout=10, what="ready")
            await pilot.click("#start")
            await confirm_baseline(app, pilot)
            await eventually(lambda: engine.session is not None, what="the session started")
            await eventually(lambda: "CENTERING" in screen_text(app), what="the live screen")
            await pilot.press(DEFAULT_KEYMAP.key("next_phase"))
            await eventually(lambda: engine.phase_name == "peak", what="the peak began", timeout=10)
            [check] = engine.checks.info(engine.now(), engine.session_t()).timed
            assert check.last_t is not None, "the cuff's reading before the start"
            assert check.due_t == pytest.approx(check.last_t + INTERVAL_S)
            t = engine.session_t()
            assert t is not None
            due_in_real_s = (check.due_t - t) / TIME_SCALE
            asked_at = time.monotonic()
            await eventually(
                lambda: BP_DUE in screen_text(app),
                timeout=due_in_real_s + SLACK_S,
                what="BP due on the console",
            )
            assert time.monotonic() - asked_at >= due_in_real_s - 0.2, "not before it is due"

            await eventually(
                lambda: engine.checks.info(engine.now(), engine.session_t()).timed[0].due is False,
                timeout=CUFF_MEASURING_S / TIME_SCALE + SLACK_S,
                what="the cuff answered",
            )
            await eventually(lambda: BP_DUE not in screen_text(app), what="BP no longer due")

            await pilot.press(DEFAULT_KEYMAP.key("end_session"))
            await eventually(lambda: "Recovery check before" in screen_text(app))
            for index in range(3):
                app.screen.query_one(f"#item-{index}", Checkbox).value = True
            await pilot.click("#record")
            await eventually(lambda: engine.session is None, what="the session ended")

    [session] = list_sessions(service.room.data_dir)
    checks = [e for e in read_events(session.path) if e.kind == "check"]
    kinds = [e.payload["check"] for e in checks if isinstance(e.payload, dict)]
    assert kinds == ["baseline", "due", "taken", "recovery"]
    baseline, due, taken, recovery = (e.payload for e in checks)
    assert isinstance(due, dict) and isinstance(taken, dict) and isinstance(recovery, dict)
    assert isinstance(baseline, dict) and baseline["confirmed"] is True
    assert due["asked"] is True
    assert 0 <= checks[1].t - due["due_t"] <= SLACK_S * TIME_SCALE, "raised on time"
    answered_real_s = (checks[2].wall_ns - checks[1].wall_ns) / 1e9
    measuring_real_s = CUFF_MEASURING_S / TIME_SCALE
    assert measuring_real_s - 0.05 <= answered_real_s <= measuring_real_s + SLACK_S
    assert recovery["items"] == {"oriented": True, "walks unaided": True, "escort present": True}

    report = CliRunner().invoke(main, ["report", str(session.path)], catch_exceptions=False)
    assert report.exit_code == 0
    checks_section = report.stdout.split("Vitals checks\n", 1)[1].split("\n\n", 1)[0]
    assert "peak: bp-cuff reading due (sensor asked to measure)" in checks_section
    assert "peak: bp-cuff reading taken" in checks_section
    assert "baseline confirmed: oximeter hr" in checks_section
    assert "recovery check: 3 of 3 confirmed" in checks_section
    assert "timed readings: 1 due, 1 taken on asking, 0 missed; recovery check recorded." in (
        checks_section
    )
    bids = tmp_path / "bids"
    exported = CliRunner().invoke(
        main, ["export", str(session.path), "--format", "bids", "-o", str(bids)]
    )
    assert exported.exit_code == 0, exported.output
    [events] = bids.rglob("*_events.tsv")
    rows = [line.split("\t") for line in events.read_text().splitlines()]
    header = rows[0]
    named = [
        row[header.index("name")] for row in rows[1:] if row[header.index("trial_type")] == "check"
    ]
    assert named == ["baseline", "due", "taken", "recovery"]
