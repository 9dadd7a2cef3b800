"""A live replay stepped one event at a time (→): the step waits for the recorded pace, and
a BLS set the replay started is still stopped when the gate said (docs/safety.md#replay-into-
a-live-room: "however the replay is paused or slowed").

Driven tick by tick on a manual clock; the target's bus is the stand-in of `live_target`,
which notes what would be published (what is tested is when the target sends, not the
broker)."""

from __future__ import annotations

from collections.abc import Iterator

from controller.engine.clock import ManualClock
from controller.journal import Event, SessionMeta
from controller.research.replay import Replay, ReplaySource, Selection
from tests.research.test_live_replay_guard import (
    BLS_STOP,
    EIGHT_PASSES,
    START_NS,
    TAPPERS,
    live_target,
)

CEILING_SET = "zigbee2mqtt/ceiling_light/set"
LEVEL = '{"state":"ON","brightness":100,"transition":0.0}'


async def test_a_set_started_before_a_step_is_stopped_while_the_step_waits() -> None:
    """An eight-pass set at 1 Hz starts at session time 0; the next recorded command comes a
    minute later. The person replaying pauses with a step (→) right after the set began: the
    step waits for the recorded pace (a minute), and the set's stop is owed 8.5 s after its
    start. The tappers must be told to stop then, not only when the step is over."""
    clock = ManualClock(100.0)
    target, sent = live_target(clock.now)
    times: list[tuple[float, str, str]] = []
    publish_gated = target._bus.publish_gated  # type: ignore[union-attr]

    def noted(message: object, *, expires_s: float | None) -> None:
        times.append((clock.now(), message.topic, message.payload))  # type: ignore[attr-defined]
        publish_gated(message, expires_s=expires_s)

    target._bus.publish_gated = noted  # type: ignore[union-attr,method-assign]
    events = [
        Event("command", {"payload": EIGHT_PASSES}, device="tappers", topic=TAPPERS, t=0.0, seq=1),
        Event("command", {"payload": LEVEL}, device="ceiling", topic=CEILING_SET, t=60.0, seq=2),
    ]

    async def sleep(seconds: float) -> None:
        clock.advance(max(seconds, 0.0))

    def read() -> Iterator[Event]:
        return iter(events)

    replay = Replay(
        ReplaySource(read, Selection()),
        target,
        SessionMeta("recorded", "recorded", "rehearsal", "P-1", 1.0, START_NS, None, True),
        speed=1.0,
        clock=clock,
        sleep=sleep,
    )
    emit = target.emit

    async def step_after_the_set(event: Event) -> None:
        await emit(event)
        if event.seq == 1:
            replay.step()

    target.emit = step_after_the_set  # type: ignore[method-assign]
    target.open = _opened  # type: ignore[method-assign]
    await replay.run()

    stops = [when for when, topic, payload in times if (topic, payload) == (TAPPERS, BLS_STOP)]
    assert stops, f"the tappers were never told to stop: {times}"
    assert stops[0] - 100.0 <= 8.5 + 0.1, (
        f"the set's stop went out {stops[0] - 100.0:.1f} s after its start, not 8.5 s: {times}"
    )
    assert sent[0] == (TAPPERS, EIGHT_PASSES)


async def _opened(meta: object) -> None:
    """The stand-in bus is in place already (`live_target`)."""
