"""A scene expanded to per-device targets in engine units."""

from __future__ import annotations

from controller.config import load_room
from controller.config.models import Scene
from controller.engine.targets import BlsTarget, LightTarget, MusicTarget, VrTarget, scene_targets
from tests.conftest import REPO

ROOM = load_room(REPO / "config.yaml")


def test_the_peak_scene_reaches_each_device_in_engine_units() -> None:
    targets = scene_targets(ROOM, ROOM.scenes["peak"])
    assert targets["ceiling"] == LightTarget(on=True, level=0.05, kelvin=2000)
    assert targets["floor-lamp"] == LightTarget(on=True, level=0.08, rgb=(0x3A, 0x1C, 0x5C))
    assert targets["strip"] == targets["floor-lamp"]
    assert targets["music"] == MusicTarget(playlist="peak", volume=0.5, crossfade_s=12)
    assert targets["headset"] == VrTarget(action="stop")
    assert targets["tappers"] == BlsTarget(running=False)
    assert "lightbar" not in targets


def test_a_device_key_wins_over_its_group_and_a_group_over_all() -> None:
    scene = Scene.model_validate(
        {
            "lights": {
                "strip": {"level": 50},
                "all": {"level": 10},
                "group:ambient": {"level": 20},
            }
        }
    )
    levels = {key: t.level for key, t in scene_targets(ROOM, scene).items()}  # type: ignore[union-attr]
    assert levels == {"ceiling": 0.1, "floor-lamp": 0.2, "strip": 0.5}
