"""Whatever reaches the engine, what leaves the room keeps docs/safety.md — judged on the wire.

Random sequences of operator commands (lights, volume, scenes, phase moves, VR, BLS),
emergencies and clears, time passing so the plan's cues fire, and device commands replayed
from a journal go through the whole engine and its output path. What leaves is judged by
checkers that share no code with the gate (those of test_safety_properties):

* the ceiling light (its Zigbee2MQTT messages) never flashes more than 3 times a second;
* no volume (VR content on the wire, music and tones as the players were told) is ever
  above the cap or rises faster than the ramp;
* every BLS set on the wire keeps the speed, intensity and length limits;
* while an emergency is latched, no light goes below its safe-scene level after the
  lights-up, no volume rises, and nothing starts.

Music and tones are played by VLC in the room; here they are stand-ins that record what the
engine told them (a property run of hundreds of sessions cannot wait on real audio; VLC's
volume behaviour has its own tests with real libvlc).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.api.commands import BadCommand, parse_command
from controller.cli.common import Overrides, apply_overrides
from controller.config import Playlist, load_room
from controller.engine.clock import ManualClock
from controller.engine.engine import Engine
from controller.engine.phases import CommandRefused
from controller.engine.safety import BlsRequest
from tests.conftest import REPO
from tests.engine.test_safety_properties import busiest_second, luminance_corners

ROOM = load_room(REPO / "config.yaml")
LIMITS = ROOM.settings.safety
CEILING = "zigbee2mqtt/ceiling_light/set"
HEADSET = "vr/headset/set"
BLS_TOPICS = {"bls/tappers/set": "tactile", "bls/lightbar/set": "visual"}
SAFE_CEILING = Fraction(203, 254)
"""The safe scene's ceiling level (80 %) as Zigbee2MQTT brightness."""
TOLERANCE = Fraction(1, 100)
"""Device scales round a level to a whole step (1/100 at worst)."""


class RecordedMusic:
    """Stands in for the VLC music player: notes every volume it is told, with the time."""

    def __init__(self, clock: ManualClock, scale: float) -> None:
        self.clock, self.scale = clock, scale
        self.volumes: list[tuple[int, Fraction]] = []

    def _note(self, level: float) -> None:
        self.volumes.append((round(self.clock.now() / self.scale * 1000), Fraction(level)))

    def play(self, playlist: Playlist, now: float, *, volume: float, **_: Any) -> None:
        self._note(volume)

    def set_volume(self, level: float, now: float, over_s: float | None = None) -> None:
        self._note(level)

    def fade_out(self, seconds: float, now: float) -> None:
        self._note(0.0)

    def stop(self, now: float) -> None:
        self._note(0.0)

    def pause(self) -> None: ...

    def resume(self, now: float) -> None: ...

    def skip(self, now: float) -> None: ...

    def previous(self, now: float) -> None: ...

    def tick(self, now: float) -> None: ...

    def moving(self, now: float) -> bool:
        return False

    def snapshot(self, now: float) -> Any:
        return None


class RecordedTones:
    """Stands in for the VLC tone player: notes each set and every volume."""

    def __init__(self, clock: ManualClock, scale: float) -> None:
        self.clock, self.scale = clock, scale
        self.volumes: list[tuple[int, Fraction]] = []
        self.sets: list[tuple[int, BlsRequest]] = []

    def _at(self) -> int:
        return round(self.clock.now() / self.scale * 1000)

    def start(self, request: BlsRequest, *, volume: float) -> None:
        self.sets.append((self._at(), request))
        self.volumes.append((self._at(), Fraction(volume)))

    def set_volume(self, volume: float) -> None:
        self.volumes.append((self._at(), Fraction(volume)))

    def stop(self) -> None:
        self.volumes.append((self._at(), Fraction(0)))

    def poll(self) -> None: ...


@dataclass
class Session:
    """One random session: the wire, and when the emergency was latched."""

    engine: Engine
    clock: ManualClock
    music: RecordedMusic
    tones: RecordedTones
    ceiling: list[tuple[int, Fraction, int]] = field(default_factory=list)
    headset: list[tuple[int, Fraction]] = field(default_factory=list)
    bls: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    latched: list[dict[str, tuple[int, int]]] = field(default_factory=list)
    """Each latch: for every record above, the (first, last + 1) index of what went out
    while it lasted (messages queued by the emergency itself come first)."""

    def now_ms(self) -> int:
        return round(self.clock.now() * 1000)

    def tick(self, ms: int) -> None:
        self.clock.advance(ms / 1000)
        self.engine.tick()
        for message in self.engine.take_outgoing():
            body = json.loads(message.payload) if message.payload.startswith("{") else None
            if message.topic == CEILING and isinstance(body, dict):
                level = (
                    Fraction(0)
                    if body.get("state") == "OFF"
                    else Fraction(body.get("brightness", 254), 254)
                )
                transition = round(float(body.get("transition", 0)) * 1000)
                self.ceiling.append((self.now_ms(), level, transition))
            elif message.topic == HEADSET and isinstance(body, dict) and "volume" in body:
                real_ms = round(self.clock.now() / self.music.scale * 1000)
                self.headset.append((real_ms, Fraction(body["volume"], 100)))
            elif message.topic in BLS_TOPICS and isinstance(body, dict):
                self.bls.append((self.now_ms(), message.topic, body))

    def records(self) -> dict[str, list[Any]]:
        return {
            "ceiling": self.ceiling,
            "headset": self.headset,
            "bls": self.bls,
            "music": self.music.volumes,
            "tones": self.tones.volumes,
            "tone sets": self.tones.sets,
        }

    def command(self, action: str, fields: dict[str, Any]) -> None:
        payload = json.dumps({"id": "o", "action": action, **fields}).encode()
        latched = self.engine.emergency is not None
        before = {name: len(record) for name, record in self.records().items()}
        with contextlib.suppress(BadCommand, CommandRefused):
            self.engine.command(parse_command(payload))
        if not latched and self.engine.emergency is not None:
            self.latched.append({name: (n, -1) for name, n in before.items()})
        if latched and self.engine.emergency is None:
            self.latched[-1] = {name: (self.latched[-1][name][0], n) for name, n in before.items()}

    def during_latch(self, name: str) -> list[list[Any]]:
        """What went out on a record during each latch, in order."""
        record = self.records()[name]
        return [
            record[latch[name][0] : None if latch[name][1] < 0 else latch[name][1]]
            for latch in self.latched
        ]


# --------------------------------------------------------------------------- strategies

operator = st.one_of(
    st.tuples(st.just("lights"), st.integers(0, 20).map(lambda n: {"level": n / 20})),
    st.tuples(st.just("lights"), st.sampled_from([{"delta": 0.4}, {"delta": -0.4}])),
    st.tuples(st.just("volume"), st.integers(0, 20).map(lambda n: {"level": n / 20})),
    st.tuples(st.just("scene"), st.sampled_from(sorted(ROOM.scenes)).map(lambda n: {"name": n})),
    st.tuples(st.sampled_from(["next", "back", "hold", "release"]), st.just({})),
    st.tuples(
        st.just("vr"),
        st.one_of(
            st.integers(0, 20).map(
                lambda n: {"op": "play", "content": "breathing-meadow", "volume": n / 20}
            ),
            st.sampled_from([{"op": "stop"}, {"op": "pause"}, {"op": "resume"}]),
        ),
    ),
    st.tuples(
        st.just("bls"),
        st.one_of(
            st.fixed_dictionaries(
                {
                    "op": st.just("start"),
                    "device": st.sampled_from(["tappers", "lightbar", "tones"]),
                    "speed_hz": st.sampled_from([0.1, 0.5, 1.0, 2.0, 3.0, 9.0]),
                    "intensity": st.sampled_from([0.2, 0.8, 1.0]),
                    "passes": st.sampled_from([1, 24, 40, 300]),
                    "confirm": st.booleans(),
                }
            ),
            st.just({"op": "stop"}),
        ),
    ),
    st.tuples(st.sampled_from(["emergency", "clear_emergency"]), st.just({})),
)
pauses_ms = st.one_of(st.sampled_from([0, 50, 250, 1000]), st.integers(0, 30_000))
steps = st.lists(st.tuples(operator, pauses_ms), min_size=1, max_size=14)


def run_session(steps: list[tuple[tuple[str, dict[str, Any]], int]]) -> Session:
    with tempfile.TemporaryDirectory() as data_dir:
        room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=Path(data_dir)))
        clock = ManualClock()
        scale = room.settings.time_scale
        music, tones = RecordedMusic(clock, scale), RecordedTones(clock, scale)
        engine = Engine(room, clock=clock, music=music, tones=tones)  # type: ignore[arg-type]
        session = Session(engine, clock, music, tones)
        session.command("start", {"plan": "rehearsal", "participant": "P1"})
        session.tick(0)
        for (action, fields), pause_ms in steps:
            session.command(action, fields)
            for _ in range(pause_ms // 50):
                session.tick(50)
            session.tick(pause_ms % 50)
        for _ in range(80):
            session.tick(50)
        if engine.session is not None:
            engine.session.journal.close(ended_cleanly=False)
    return session


# --------------------------------------------------------------------------- the checks


def assert_volumes_keep_cap_and_ramp(name: str, volumes: list[tuple[int, Fraction]]) -> None:
    cap = Fraction(LIMITS.volume_cap) / 100
    ramp = Fraction(LIMITS.volume_ramp_per_s) / 100
    previous, ended = Fraction(0), []
    for at, level in volumes:
        assert 0 <= level <= cap + TOLERANCE, (name, at, level)
        ended.append((previous, at))
        for earlier, until in ended:
            allowance = ramp * (Fraction(at - until, 1000) + Fraction(1, 2))
            assert level - earlier <= allowance + TOLERANCE, (name, at, level, earlier, until)
        previous = level


def assert_no_rise_while_latched(session: Session, name: str) -> None:
    volumes = session.records()[name]
    for latch, during in zip(session.latched, session.during_latch(name), strict=True):
        first = latch[name][0]
        previous = volumes[first - 1][1] if first > 0 else Fraction(0)
        for at, level in during:
            assert level <= previous + TOLERANCE, (name, at, level, previous)
            previous = level


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps)
def test_whatever_reaches_the_engine_the_room_keeps_the_safety_rules(
    steps: list[tuple[tuple[str, dict[str, Any]], int]],
) -> None:
    session = run_session(steps)

    assert busiest_second(luminance_corners(session.ceiling)) <= 2 * LIMITS.max_flashes_per_s

    for name, volumes in (
        ("headset", session.headset),
        ("music", session.music.volumes),
        ("tones", session.tones.volumes),
    ):
        assert_volumes_keep_cap_and_ramp(name, volumes)
        assert_no_rise_while_latched(session, name)

    for during in session.during_latch("bls"):
        assert not [body for _, _, body in during if body.get("running")], "a set started"
    for during in session.during_latch("tone sets"):
        assert not during, "tones started during an emergency"
    for during in session.during_latch("ceiling"):
        # the first message is the lights-up; nothing after it goes below the safe level
        assert all(level >= SAFE_CEILING - TOLERANCE for _, level, _ in during[1:]), during

    for _, topic, body in session.bls:
        if not body.get("running"):
            continue
        fastest = LIMITS.bls_speed_max_hz
        if BLS_TOPICS[topic] == "visual":
            fastest = min(fastest, LIMITS.max_flashes_per_s)
        assert LIMITS.bls_speed_min_hz <= body["speed_hz"] <= fastest, body
        if BLS_TOPICS[topic] == "tactile":
            assert body["intensity"] <= LIMITS.tactile_intensity_max, body
        length_s = body["duration_s"] or body["passes"] / body["speed_hz"]
        assert length_s <= 120, body
    for _, request in session.tones.sets:
        assert LIMITS.bls_speed_min_hz <= request.speed_hz <= LIMITS.bls_speed_max_hz
