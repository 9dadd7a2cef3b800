"""Fuzz: hypothesis throws hostile bytes at every input boundary and counts what breaks.

The boundaries (docs/robustness.md): the command topic (`parse_command`, and what it accepts
carried out by a real engine of the example room in a session, on a manual clock); every
device of the room (its driver reading what arrives on each of its topics, and the engine's
device intake, rate limit included); every driver's `decode` (what a journal hands to replay
and export); and what a console reads (`state`, `status`, `reply/<id>`). A boundary's own
refusal (BadCommand, CommandRefused, PayloadError, an unreadable state) is an answer; any
other exception, or a state or event that no longer serialises to JSON, is a crash. The
payloads mix raw bytes, JSON built from the protocols' own keys, hostile forms (nesting
5,000 deep, 5,000-digit integers, lone surrogates, NaN, 1e999, oversized text) and valid
messages with bytes spliced in.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench.figures import Figure, Target
from bench.processes import REPO
from controller.api.commands import BadCommand, parse_command
from controller.cli.common import Overrides, apply_overrides
from controller.config import load_room
from controller.console.link import read_reply, read_state, read_status
from controller.drivers.base import CommandDriver
from controller.drivers.payloads import PayloadError
from controller.engine.clock import ManualClock
from controller.engine.engine import Engine
from controller.engine.phases import CommandRefused

STEP_S = 0.02
"""The engine's clock moves this far per example (so rate limits refill and phases run)."""

KEYS = [
    "id", "action", "op", "text", "level", "delta", "device", "name", "phase", "seconds",
    "content", "volume", "speed_hz", "passes", "mode", "confirm", "plan", "participant",
    "state", "brightness", "color_temp", "color", "r", "g", "b", "POWER", "Dimmer", "CT",
    "Color", "status", "position_s", "running", "pass", "hr", "spo2", "sys", "dia", "ts",
    "on", "bri", "seg", "tt", "result", "output", "error", "message", "session", "alerts",
]  # fmt: skip
WORDS = [
    "next", "back", "hold", "release", "note", "extend", "emergency", "clear_emergency",
    "lights", "volume", "music", "bls", "vr", "goto", "scene", "end", "start", "pause",
    "stop", "play", "ON", "OFF", "online", "offline", "playing", "idle", "centering", "peak",
    "calm", "rehearsal", "P014", "\ud800", "a\udc80b", "line\nbreak",
]  # fmt: skip
HOSTILE = [
    b"[" * 5000,
    b'{"a":' * 2000,
    b"9" * 5000,
    b'{"id":"x","action":"extend","seconds":' + b"9" * 5000 + b"}",
    b'{"id":"x","action":"vr","op":"play","content":"\\ud800"}',
    b'{"status":"playing","content":"a\\ud800b"}',
    b'{"status":"playing","content":"' + b"x" * 70_000 + b'"}',
    b'{"hr":NaN}',
    b'{"state":"ON","brightness":1e999}',
    b"\xff\xfe\x00",
    b"",
    b"null",
    b'"\\udfff"',
    b'{"id":"P014\\n","action":"next"}',
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


def payloads(valid: list[bytes]) -> st.SearchStrategy[bytes]:
    """Raw bytes, protocol-like JSON, hostile forms, and `valid` messages with bytes spliced in."""
    spliced = st.builds(
        lambda message, at, junk: message[:at] + junk + message[at + len(junk) :],
        st.sampled_from(valid),
        st.integers(0, max(len(m) for m in valid)),
        st.binary(min_size=1, max_size=6),
    )
    return st.one_of(
        st.binary(max_size=120),
        json_values.map(_dump),
        st.dictionaries(st.sampled_from(KEYS), scalars | json_values, min_size=1, max_size=5).map(
            _dump
        ),
        st.sampled_from(HOSTILE),
        spliced,
    )


def command_payloads() -> st.SearchStrategy[bytes]:
    fields = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)
    commands = st.builds(
        lambda number, action, more: _dump({"id": f"f{number}", "action": action, **more}),
        st.integers(0, 10**6),
        st.sampled_from(WORDS[:17]),
        fields,
    )
    valid = [_dump({"id": "v1", "action": "note", "text": "calm"}), b'{"id":"v","action":"next"}']
    return commands | payloads(valid)


class CrashError(AssertionError):
    """A boundary raised something other than its own refusal, or left state unserialisable."""


@dataclass(frozen=True)
class Boundary:
    name: str
    check: Callable[[bytes], None]
    """Feeds one payload through the boundary; raises only for a crash."""
    payloads: st.SearchStrategy[bytes]


@dataclass(frozen=True)
class Outcome:
    name: str
    examples: int
    seconds: float
    crash: str | None


def _serialises(value: Any) -> None:
    """The service publishes states and events as strict JSON in UTF-8."""
    json.dumps(value, allow_nan=False).encode("utf-8")


class FuzzedRoom:
    """The example room's engine in a session, on a manual clock, in a folder of its own."""

    def __init__(self, data_dir: Path) -> None:
        room = apply_overrides(load_room(REPO / "config.yaml"), Overrides(data_dir=data_dir))
        self.clock = ManualClock()
        self.engine = Engine(room, clock=self.clock)
        start = {"id": "s", "action": "start", "plan": "rehearsal", "participant": "P014"}
        self.engine.command(parse_command(_dump(start)))

    def settle(self) -> None:
        """Move the clock, tick, and check that what would be published serialises."""
        self.clock.advance(STEP_S)
        self.engine.tick()
        self.engine.take_outgoing()
        for event in self.engine.take_events():
            _serialises(event)

    def command(self, payload: bytes) -> None:
        try:
            command = parse_command(payload)
        except BadCommand as refusal:
            if not refusal.reason:
                raise CrashError("a refusal without a reason") from None
            return
        with suppress(CommandRefused):
            self.engine.command(command)
        self.settle()
        self.engine.snapshot().model_dump_json()

    def device(self, topics: list[str]) -> Callable[[bytes], None]:
        def receive(payload: bytes) -> None:
            for topic in topics:
                self.engine.device_message(topic, payload)
            self.settle()

        return receive

    def close(self) -> None:
        self.engine.snapshot().model_dump_json()
        if self.engine.session is not None:
            self.engine.session.journal.close(ended_cleanly=False)


def _decode(driver: CommandDriver[Any]) -> Callable[[bytes], None]:
    def decode(payload: bytes) -> None:
        text = payload.decode("utf-8", "replace")
        for topic in driver.command_topics():
            with suppress(PayloadError):
                driver.decode(topic, text)

    return decode


def _console(payload: bytes) -> None:
    message = read_state(payload)
    if message.state is None and payload and message.problem is None:
        raise CrashError("an unreadable state without a reason")
    read_status(payload)
    read_reply(payload)


@contextmanager
def boundaries() -> Iterator[list[Boundary]]:
    """Every boundary of the example room, with an engine that is closed afterwards."""
    with tempfile.TemporaryDirectory(prefix="sessionroom-fuzz-") as folder:
        room = FuzzedRoom(Path(folder))
        engine = room.engine
        found = [Boundary("command topic", room.command, command_payloads())]
        for device_id, driver in sorted(engine.drivers.items()):
            topics = driver.subscriptions()
            engine.take_events()
            valid = [json.dumps(driver.state or {"state": "ON"}).encode(), b"online"]
            found.append(Boundary(f"device {device_id}", room.device(topics), payloads(valid)))
            if isinstance(driver, CommandDriver):
                sent = [message.payload.encode() for message in driver.query()] or valid
                found.append(Boundary(f"decode {device_id}", _decode(driver), payloads(sent)))
        state = engine.snapshot().model_dump_json().encode()
        found.append(Boundary("console state/status/reply", _console, payloads([state])))
        try:
            yield found
        finally:
            room.close()


def run(boundary: Boundary, examples: int) -> Outcome:
    """Fuzz one boundary with `examples` examples (no shrinking: the first crash is reported)."""
    count = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    @given(payload=boundary.payloads)
    def probe(payload: bytes) -> None:
        nonlocal count
        count += 1
        try:
            boundary.check(payload)
        except CrashError:
            raise
        except Exception as error:
            raise CrashError(f"{type(error).__name__}: {error} on {payload[:60]!r}") from error

    started = time.perf_counter()
    crash = None
    try:
        probe()
    except CrashError as error:
        crash = str(error)
    return Outcome(boundary.name, count, time.perf_counter() - started, crash)


def measure(total_examples: int, say: Callable[[str], None]) -> list[Outcome]:
    """Fuzz every boundary, sharing `total_examples` among them."""
    outcomes = []
    with boundaries() as found:
        each = max(1, total_examples // len(found))
        for boundary in found:
            outcome = run(boundary, each)
            outcomes.append(outcome)
            status = "ok" if outcome.crash is None else f"CRASH {outcome.crash}"
            say(f"fuzz {boundary.name}: {outcome.examples} examples, {status}")
    return outcomes


def figures(outcomes: list[Outcome]) -> list[Figure]:
    examples = sum(outcome.examples for outcome in outcomes)
    seconds = sum(outcome.seconds for outcome in outcomes)
    crashes = sum(outcome.crash is not None for outcome in outcomes)
    return [
        Figure(f"fuzz: examples over {len(outcomes)} boundaries", examples, "examples"),
        Figure("fuzz: examples per second", examples / seconds, "examples/s"),
        Figure("fuzz: crashes", crashes, "crashes", target=Target.value_at_most(0, "crashes")),
    ]


def notes(outcomes: list[Outcome]) -> list[str]:
    return [f"Fuzz crash in {o.name}: {o.crash}" for o in outcomes if o.crash is not None]
