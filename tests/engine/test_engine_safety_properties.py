"""Whatever an operator does, what the engine puts on the wire keeps docs/safety.md's flash rule.

Random sequences of scenes, light overrides, phase changes and emergencies go through the
whole engine (scenes, overrides, fades, the gate, the Zigbee2MQTT driver); the ceiling
light's messages as they would reach the broker are rebuilt into its brightness curve and
judged by the independent checker of test_safety_properties (which shares no code with
the gate).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from fractions import Fraction
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.api.commands import parse_command
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.engine.clock import ManualClock
from controller.engine.engine import Engine
from controller.engine.phases import CommandRefused
from tests.conftest import REPO
from tests.engine.test_safety_properties import busiest_second, luminance_corners

ROOM = load_room(REPO / "config.yaml")
CEILING = "zigbee2mqtt/ceiling_light/set"
SCENES = sorted(ROOM.scenes)

operations = st.one_of(
    st.tuples(st.just("lights"), st.sampled_from([{"level": 0.0}, {"level": 1.0}])),
    st.tuples(st.just("lights"), st.integers(0, 20).map(lambda n: {"level": n / 20})),
    st.tuples(st.just("lights"), st.sampled_from([{"delta": 0.3}, {"delta": -0.3}])),
    st.tuples(st.just("scene"), st.sampled_from(SCENES).map(lambda name: {"name": name})),
    st.tuples(st.sampled_from(["next", "back", "emergency", "clear_emergency"]), st.just({})),
)
pauses_ms = st.one_of(st.sampled_from([0, 50, 100, 200]), st.integers(0, 1500))
Step = tuple[tuple[str, dict[str, object]], int]


@st.composite
def bursts(draw: st.DrawFn) -> list[Step]:
    """Quick alternating presses on one control: what would flash if the engine let it."""
    action = draw(st.sampled_from(["lights", "scene", "emergency"]))
    ups_and_downs = {
        "lights": [{"level": 0.0}, {"level": 1.0}],
        "scene": [{"name": "peak"}, {"name": "lights-up"}],
        "emergency": [{}, {}],
    }[action]
    second = "clear_emergency" if action == "emergency" else action
    pause = draw(st.integers(0, 250))
    return [
        ((action if n % 2 == 0 else second, ups_and_downs[n % 2]), pause)
        for n in range(draw(st.integers(2, 12)))
    ]


steps = st.lists(
    st.one_of(st.tuples(operations, pauses_ms).map(lambda step: [step]), bursts()),
    min_size=1,
    max_size=10,
).map(lambda groups: [step for group in groups for step in group])


def ceiling_level(payload: str) -> Fraction:
    message = json.loads(payload)
    if message.get("state") == "OFF":
        return Fraction(0)
    return Fraction(message["brightness"], 254)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=steps)
def test_whatever_the_operator_does_the_ceiling_light_never_flashes(
    steps: list[Step],
) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=Path(data_dir)))
        clock = ManualClock()
        engine = Engine(room, clock=clock)
        wire: list[tuple[int, Fraction, int]] = []

        def tick(ms: int) -> None:
            clock.advance(ms / 1000)
            engine.tick()
            for message in engine.take_outgoing():
                if message.topic == CEILING:
                    transition_ms = round(json.loads(message.payload).get("transition", 0) * 1000)
                    now_ms = round(clock.now() * 1000)
                    wire.append((now_ms, ceiling_level(message.payload), transition_ms))

        engine.command(
            parse_command(b'{"id":"s","action":"start","plan":"standard","participant":"P1"}')
        )
        tick(0)
        for (action, fields), pause_ms in steps:
            payload = json.dumps({"id": "o", "action": action, **fields}).encode()
            with contextlib.suppress(CommandRefused):
                engine.command(parse_command(payload))
            for _ in range(pause_ms // 50):
                tick(50)
            tick(pause_ms % 50)
        for _ in range(60):
            tick(50)
        engine.session.journal.close(ended_cleanly=False)  # type: ignore[union-attr]

    assert wire, "the ceiling light got no message at all"
    limit = 2 * room.settings.safety.max_flashes_per_s
    assert busiest_second(luminance_corners(wire)) <= limit
