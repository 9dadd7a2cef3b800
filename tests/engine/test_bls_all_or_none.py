"""An operator's `bls start` on several devices starts a set on all of them or on none.

docs/control-api.md#bls: without a `device`, `start` uses the BLS devices of the current
scene. The reply must say what happened in the room: a set refused on one device (the light
bar held to the flash rate) while the devices before it started was answered `refused` with
the tappers running. Each test runs the engine on a copy of the shipped room whose peak scene
names its BLS devices, with a manual clock and no broker; the tones are unavailable, as on a
room PC without libvlc, unless a test gives a tone player.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.engine.bls import NO_TONE_PLAYER
from controller.engine.local import ToneOutput
from controller.engine.safety import BlsRequest
from tests.engine.room_parts import RecordingTones
from tests.engine.test_engine import Room
from tests.engine.test_guarded_path_edges import room_copy

TAPPERS = "bls/tappers/set"
LIGHTBAR = "bls/lightbar/set"
PEAK_BLS = "  tappers: {running: false}"
"""The shipped peak scene's BLS entry, which each test replaces with the devices it names."""
STEP_S = 0.1
SECOND_LIGHT_BAR = """
  - id: lightbar2
    label: Second light bar
    kind: bls
    driver: mqtt-bls
    topic: lightbar2
    mode: visual
"""
"""A second light bar in the room's copy, named by a test's scene or not."""


class PeakRoom(Room):
    """The engine in the peak phase of a rehearsal, its scene naming `devices` for BLS."""

    def __init__(
        self, tmp_path: Path, devices: tuple[str, ...], *, tones: ToneOutput | None = None
    ) -> None:
        named = "\n".join(f"  {device}: {{running: false}}" for device in devices)
        config = room_copy(tmp_path, "peak", PEAK_BLS, named)
        with (config.parent / "devices" / "bls.yaml").open("a") as devices_file:
            devices_file.write(SECOND_LIGHT_BAR)
        super().__init__(tmp_path / "data", config, tones=tones)
        self.do("start", plan="rehearsal", participant="P014")
        self.bls_sent(3.0)
        self.do("goto", phase="peak")
        self.bls_sent(3.0)

    def bls_sent(self, seconds: float = STEP_S) -> set[str]:
        """Advance the clock, tick, and return the BLS topics that got a message."""
        return {topic for topic in self.tick(seconds) if topic.startswith("bls/")}

    def flash_the_light_bar(self, device: str = "lightbar") -> None:
        """Start and stop a light bar set twice, 0.1 s apart: the bar has just flashed."""
        for op in ("start", "stop", "start", "stop"):
            self.do("bls", op=op, device=device)
            assert self.bls_sent() == {f"bls/{device}/set"}


def test_a_set_the_flash_rate_refuses_on_the_light_bar_starts_none_on_the_tappers(
    tmp_path: Path,
) -> None:
    room = PeakRoom(tmp_path, ("tappers", "lightbar"))
    room.flash_the_light_bar()
    room.do("bls", op="start")  # the bar could take one more set
    assert room.bls_sent() == {TAPPERS, LIGHTBAR}

    reason = room.refused("bls", op="start")

    assert room.bls_sent() == set()  # the tappers' running set was not started again
    assert reason.startswith("lightbar: a set started now would flash it")
    assert reason.endswith("; no set started on tappers, lightbar")
    assert room.engine.bls.sets.keys() == {"tappers", "lightbar"}
    room.do("bls", op="stop")
    room.bls_sent(1.0)
    room.do("bls", op="start")  # once the bar has been still a second, both start
    assert room.bls_sent() == {TAPPERS, LIGHTBAR}


def test_a_room_pc_without_a_tone_player_starts_the_scene_s_other_devices_alone(
    tmp_path: Path,
) -> None:
    """docs/device-protocols.md#vlc: a room PC without libvlc runs without the tones and
    reports them unavailable. A set asked of the scene's devices leaves them out: refused
    whole for them, no BLS could start from the console, which names no device. The
    console's timeline says so (the reply, `ok`, does not): a therapist who asked for the
    scene's set may be listening for tones."""
    room = PeakRoom(tmp_path, ("tappers", "lightbar", "tones"))
    room.engine.take_events()

    room.do("bls", op="start")

    assert room.bls_sent() == {TAPPERS, LIGHTBAR}
    assert room.engine.bls.sets.keys() == {"tappers", "lightbar"}
    errors = [e for e in room.engine.take_events() if e["kind"] == "error"]
    assert [(e["device"], e["payload"]) for e in errors] == [("tones", {"error": NO_TONE_PLAYER})]
    assert (
        room.engine.snapshot().timeline[-2].text == f"BLS started without tones: {NO_TONE_PLAYER}"
    )


@pytest.mark.parametrize("player", [True, False], ids=["scene-with-a-tone-player", "named"])
def test_a_set_on_a_named_device_or_with_a_tone_player_leaves_nothing_out(
    tmp_path: Path, player: bool
) -> None:
    room = PeakRoom(tmp_path, ("tappers", "tones"), tones=RecordingTones() if player else None)
    room.engine.take_events()

    room.do("bls", op="start", **({} if player else {"device": "tappers"}))

    assert room.engine.bls.sets.keys() == ({"tappers", "tones"} if player else {"tappers"})
    assert [e for e in room.engine.take_events() if e["kind"] == "error"] == []


def test_the_tones_alone_on_a_room_pc_without_a_tone_player_are_refused(tmp_path: Path) -> None:
    room = PeakRoom(tmp_path, ("tones",))

    reason = room.refused("bls", op="start")

    assert reason == "bilateral tones are not available on this room PC"
    assert not room.engine.bls.sets


def test_the_light_bar_judged_for_a_set_that_did_not_start_is_judged_as_if_never_asked(
    tmp_path: Path,
) -> None:
    """A set refused on another device leaves no trace in the light bar's flash history: the
    bar's next set is judged on what it really did."""
    room = PeakRoom(tmp_path, ("lightbar2", "lightbar"))
    room.flash_the_light_bar("lightbar2")
    room.do("bls", op="start", device="lightbar2")  # the bar could take one more set
    assert room.bls_sent() == {"bls/lightbar2/set"}
    room.do("bls", op="start", device="lightbar")
    assert room.bls_sent() == {LIGHTBAR}
    room.do("bls", op="stop", device="lightbar")
    assert room.bls_sent() == {LIGHTBAR}

    reason = room.refused("bls", op="start")  # the second bar has just flashed
    assert reason.startswith("lightbar2: a set started now would flash it")
    assert room.bls_sent() == set()
    room.do("bls", op="start", device="lightbar")

    assert room.bls_sent() == {LIGHTBAR}


def test_a_set_on_one_named_device_is_refused_in_the_gate_s_words_alone(tmp_path: Path) -> None:
    room = PeakRoom(tmp_path, ("tappers", "lightbar"))
    room.flash_the_light_bar()
    room.do("bls", op="start", device="lightbar")
    room.bls_sent()

    reason = room.refused("bls", op="start", device="lightbar")

    assert reason.startswith("lightbar: a set started now would flash it")
    assert "no set started on" not in reason


def safety_records(room: PeakRoom) -> list[tuple[str | None, str]]:
    """The safety events journaled since the last call: (device, status)."""
    return [
        (event["device"], event["payload"]["status"])
        for event in room.engine.recorder.take()
        if event["kind"] == "safety"
    ]


def test_what_the_gate_changes_or_refuses_is_journaled_once_per_device(tmp_path: Path) -> None:
    """docs/safety.md#verdicts: every clamp and refusal is journaled. A set judged on trial
    and then started is journaled once, when it starts; a refused one once, as refused."""
    room = PeakRoom(tmp_path, ("tappers", "lightbar"))
    safety_records(room)

    room.do("bls", op="start", speed_hz=5.0)  # above the room's 2 Hz: clamped on both

    assert safety_records(room) == [("tappers", "clamped"), ("lightbar", "clamped")]
    assert room.bls_sent() == {TAPPERS, LIGHTBAR}
    room.do("bls", op="stop")
    room.bls_sent(1.0)
    room.flash_the_light_bar()
    safety_records(room)
    room.do("bls", op="start", speed_hz=5.0)  # the bar takes one more set
    room.bls_sent()
    safety_records(room)
    room.refused("bls", op="start", speed_hz=5.0)
    assert safety_records(room) == [("lightbar", "refused")]


class TonesThatFailToStart(RecordingTones):
    """A tone player whose start fails (its loop file gone from the temporary folder, say):
    a fault of the player, which no trial foresees."""

    def start(self, request: BlsRequest, *, volume: float) -> None:
        raise ValueError("tone file /tmp/bls-1hz-440.wav not found")


def test_a_tone_player_that_fails_to_start_leaves_the_tappers_and_light_bar_still(
    tmp_path: Path,
) -> None:
    """The gate lets every set through, so the sets start for real; the tone player's fault
    comes from the one start that can still fail. It must come before any other device has
    started: the service answers such a fault `internal error`, and the tappers and bar must
    not be running under it (the tones come last in the scene)."""
    room = PeakRoom(tmp_path, ("tappers", "lightbar", "tones"), tones=TonesThatFailToStart())

    with pytest.raises(ValueError, match="not found"):
        room.do("bls", op="start")

    assert room.bls_sent() == set()
    assert not room.engine.bls.sets
