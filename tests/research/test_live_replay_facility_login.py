"""`sessionroom replay --target live` on a facility broker: the room's replay login may
publish only under `sessionroom/<room>-replay/` (docs/facility.md), so the room's devices
would never get what it sends. The replay is refused, saying so, rather than counting as
sent device commands the broker dropped unseen.

The facility (its broker, ACL and logins) is the one `sessionroom facility init` writes,
on a real Mosquitto (tests/facility)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from controller.cli import main
from tests.facility.conftest import facility  # noqa: F401  # the fixture
from tests.facility.support import Facility
from tests.research.test_live_replay_guard import dimming_journal


def test_a_live_replay_on_a_facility_broker_is_refused_as_it_cannot_reach_the_devices(
    facility: Facility,  # noqa: F811  # the fixture
    tmp_path: Path,
) -> None:
    journal = dimming_journal(tmp_path / "recorded")
    config = facility.rooms["room-a"] / "config.yaml"
    result = CliRunner().invoke(
        main,
        ["replay", str(journal), "--target", "live", "--yes", "--config", str(config)],
        catch_exceptions=False,
    )
    assert result.exit_code == 2, result.output
    assert "room room-a is on a facility broker, where its replay login" in result.output
    assert "--target sim" in result.output
