"""A replay to a target held to the recorded pace (a live room) that falls behind, its
process stopped or starved for a while (a suspended terminal, a busy machine), goes on from
where it was at the recorded pace: what it missed is not sent in a burst, faster than the
session ran (docs/safety.md#replay-into-a-live-room). Driven tick by tick on a manual clock."""

from __future__ import annotations

from collections.abc import Iterator

from controller.engine.clock import ManualClock
from controller.journal import Event, SessionMeta
from controller.research.replay import Replay, ReplaySource, ReplayTarget, Selection

META = SessionMeta("room-a-20261121T173000Z", "room-a", "rehearsal", "P-014", 1.0, 0, 1, True)
STALL_S = 30.0


class Paced(ReplayTarget):
    """A target held to the recorded pace that notes the clock time of every emit."""

    max_speed = 1.0

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.emitted: list[tuple[float, float]] = []
        """(clock time, session time) of each emit."""

    async def emit(self, event: Event) -> None:
        self.emitted.append((self.clock.now(), event.t))


async def test_a_replay_that_stalled_goes_on_at_the_recorded_pace_not_in_a_burst() -> None:
    clock = ManualClock(100.0)
    target = Paced(clock)
    events = [Event("command", {"n": n}, t=float(n), seq=n + 1) for n in range(20)]
    sleeps = [0]

    async def sleep(seconds: float) -> None:
        sleeps[0] += 1
        clock.advance(max(seconds, 0.0))
        if len(target.emitted) == 5 and sleeps[0] < 10_000:  # stopped once, for half a minute
            sleeps[0] = 10_000
            clock.advance(STALL_S)

    def read() -> Iterator[Event]:
        return iter(events)

    replay = Replay(
        ReplaySource(read, Selection()), target, META, speed=1.0, clock=clock, sleep=sleep
    )
    await replay.run()

    assert [t for _, t in target.emitted] == [float(n) for n in range(20)]
    gaps = [
        (round(later - earlier, 6), round(t_later - t_earlier, 6))
        for (earlier, t_earlier), (later, t_later) in zip(
            target.emitted, target.emitted[1:], strict=False
        )
    ]
    faster = [(n, gap) for n, gap in enumerate(gaps) if gap[0] < gap[1] - 1e-6]
    assert not faster, f"(real, recorded) gaps sent faster than recorded: {faster}"
