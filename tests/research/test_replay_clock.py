"""Replay timing tick by tick on a manual clock: schedule, pause, step, speed, loop, seek."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from controller.engine.clock import ManualClock
from controller.journal import Event, SessionMeta
from controller.research.replay import (
    Clockwork,
    Replay,
    ReplayError,
    ReplaySource,
    ReplayTarget,
    Selection,
    faster,
    parse_bound,
    parse_kinds,
    slower,
)
from controller.research.sessions import PhaseEntry

META = SessionMeta("room-a-20261121T173000Z", "room-a", "rehearsal", "P-014", 1.0, 0, 1, True)


def events_at(*times: float, kind: str = "operator") -> list[Event]:
    return [Event(kind, {"n": n}, t=t, seq=n + 1) for n, t in enumerate(times)]


class Recorder(ReplayTarget):
    """Notes the replay clock's time of every emit; can act on the replay at chosen emits."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.emitted: list[tuple[float, int]] = []
        self.absorbed: list[int] = []
        self.restarts = 0
        self.on_emit: dict[int, object] = {}

    async def emit(self, event: Event) -> None:
        self.emitted.append((self.clock.now(), event.seq))
        action = self.on_emit.get(event.seq)
        if callable(action):
            action()

    async def absorb(self, event: Event) -> None:
        self.absorbed.append(event.seq)

    async def restart(self) -> None:
        self.restarts += 1


def replay_of(
    events: list[Event],
    *,
    speed: float,
    selection: Selection | None = None,
    loop: bool = False,
    overshoot_s: float = 0.0,
    start: float = 100.0,
) -> tuple[Replay, Recorder, ManualClock]:
    """A replay on a manual clock whose sleep moves the clock (by `overshoot_s` too much)."""
    clock = ManualClock(start)
    target = Recorder(clock)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds + (overshoot_s if seconds > 0 else 0.0))

    def read() -> Iterator[Event]:
        return iter(events)

    replay = Replay(
        ReplaySource(read, selection or Selection()),
        target,
        META,
        speed=speed,
        clock=clock,
        sleep=sleep,
        loop=loop,
    )
    return replay, target, clock


async def test_at_speed_1_events_keep_their_recorded_spacing_exactly() -> None:
    replay, target, _ = replay_of(events_at(0.0, 1.0, 2.5, 2.5, 7.25), speed=1)

    await replay.run()

    assert target.emitted == [(100.0, 1), (101.0, 2), (102.5, 3), (102.5, 4), (107.25, 5)]


async def test_at_speed_10_every_gap_is_a_tenth() -> None:
    replay, target, _ = replay_of(events_at(5.0, 6.0, 16.0), speed=10)

    await replay.run()

    assert [round(t - 100.0, 9) for t, _ in target.emitted] == [0.0, 0.1, 1.1]


async def test_the_schedule_is_absolute_so_late_wakeups_never_accumulate() -> None:
    """Every sleep oversleeps by 1 ms: each event is at most 1 ms late, also the 5000th."""
    times = [n * 0.1 for n in range(5000)]
    replay, target, _ = replay_of(events_at(*times), speed=1, overshoot_s=0.001)

    outcome = await replay.run()

    assert max(outcome.lateness) <= 0.001 + 1e-9
    last_time, _ = target.emitted[-1]
    assert last_time - 100.0 == pytest.approx(499.9, abs=0.0011)


async def test_at_speed_0_everything_is_emitted_without_waiting() -> None:
    replay, target, _ = replay_of(events_at(0.0, 60.0, 3600.0), speed=0)

    outcome = await replay.run()

    assert target.emitted == [(100.0, 1), (100.0, 2), (100.0, 3)]
    assert outcome.lateness == []


async def test_pausing_holds_session_time_and_resuming_goes_on_from_there() -> None:
    replay, target, clock = replay_of(events_at(0.0, 2.0, 3.0), speed=1)
    target.on_emit[1] = replay.toggle_pause  # pause right after the first event

    async def resume_later(seconds: float) -> None:
        clock.set(round(clock.now() + seconds, 9))
        if clock.now() >= 110.0 and replay.clockwork.paused:
            replay.toggle_pause()

    replay.sleep = resume_later
    await replay.run()

    assert target.emitted == [(100.0, 1), (pytest.approx(112.0), 2), (pytest.approx(113.0), 3)]


async def test_a_step_while_paused_emits_the_next_event_at_once_and_stays_paused() -> None:
    replay, target, clock = replay_of(events_at(0.0, 30.0, 31.0), speed=1)
    target.on_emit[1] = replay.step

    async def resume_after_looking(seconds: float) -> None:
        clock.set(round(clock.now() + seconds, 9))
        if clock.now() >= 105.0 and replay.clockwork.paused:
            replay.toggle_pause()

    replay.sleep = resume_after_looking
    await replay.run()

    assert target.emitted[:2] == [(100.0, 1), (100.0, 2)]
    assert target.emitted[2][0] == pytest.approx(106.0)  # resumed at 105 at session time 30


async def test_a_speed_change_keeps_the_session_time_reached() -> None:
    replay, target, _ = replay_of(events_at(0.0, 10.0, 20.0), speed=1)
    target.on_emit[2] = lambda: replay.change_speed(10)

    await replay.run()

    assert target.emitted == [(100.0, 1), (110.0, 2), (111.0, 3)]


async def test_an_event_stamped_before_the_previous_one_follows_it_at_once() -> None:
    """A phase change is stamped at its exact planned end, which the tick noticed later."""
    replay, target, _ = replay_of(events_at(0.0, 60.4, 60.0, 61.0), speed=1)

    await replay.run()

    assert target.emitted == [(100.0, 1), (160.4, 2), (160.4, 3), (161.0, 4)]


async def test_a_loop_plays_the_window_again_from_its_start() -> None:
    replay, target, _ = replay_of(events_at(0.0, 1.0), speed=1, loop=True)
    target.on_emit[2] = lambda: replay.stop() if target.restarts else None

    outcome = await replay.run()

    assert target.emitted == [(100.0, 1), (101.0, 2), (101.0, 1), (102.0, 2)]
    assert outcome.loops == 1 and outcome.stopped


async def test_from_and_until_make_a_window_and_earlier_events_only_feed_the_state() -> None:
    replay, target, _ = replay_of(
        events_at(0.0, 5.0, 10.0, 15.0, 20.0), speed=1, selection=Selection(start=10, end=20)
    )

    await replay.run()

    assert target.absorbed == [1, 2]
    assert target.emitted == [(100.0, 3), (105.0, 4)]


async def test_filters_choose_what_is_emitted_while_the_rest_keeps_its_time() -> None:
    events = [
        Event("phase", {"to": "peak"}, t=0.0, seq=1),
        Event("command", {"payload": "x"}, device="strip", t=1.0, seq=2),
        Event("command", {"payload": "y"}, device="ceiling", t=2.0, seq=3),
    ]
    selection = Selection(kinds=frozenset({"command"}), devices=frozenset({"ceiling"}))
    replay, target, _ = replay_of(events, speed=1, selection=selection)

    await replay.run()

    assert target.emitted == [(102.0, 3)]
    assert target.absorbed == [1, 2]


def test_phases_and_times_bound_a_replay() -> None:
    phases = [PhaseEntry("centering", 0.0), PhaseEntry("peak", 60.0), PhaseEntry("return", 150.0)]

    assert parse_bound("peak", phases, end=False) == 60.0
    assert parse_bound("peak", phases, end=True) == 150.0
    assert parse_bound("return", phases, end=True) == math.inf
    assert parse_bound("1m30s", phases, end=False) == 90.0
    assert parse_bound("0:02:00", phases, end=True) == 120.0
    with pytest.raises(ReplayError, match="neither a phase the session reached"):
        parse_bound("integration", phases, end=False)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400", "infinity s"])
def test_a_bound_that_is_no_finite_time_is_refused(text: str) -> None:
    phases = [PhaseEntry("centering", 0.0)]

    with pytest.raises(ReplayError, match="neither a phase the session reached"):
        parse_bound(text, phases, end=False)


def test_unknown_kinds_are_named() -> None:
    assert parse_kinds("phase, note") == frozenset({"phase", "note"})
    with pytest.raises(ReplayError, match="unknown kind lights"):
        parse_kinds("phase,lights")


def test_arrow_keys_step_through_the_speeds() -> None:
    assert faster(1.0) == 2.0 and faster(10.0) == 20.0 and faster(100.0) == 100.0
    assert slower(1.0) == 0.5 and slower(0.1) == 0.1 and slower(0.0) == 100.0
    assert faster(0.0) == 0.0


def test_the_clockwork_maps_session_time_to_the_clock_and_back() -> None:
    clockwork = Clockwork(speed=4, session_t=60.0, now=10.0)

    assert clockwork.due_at(64.0) == 11.0
    assert clockwork.session_t(12.0) == 68.0
    clockwork.pause(12.0)
    assert clockwork.due_at(70.0) is None and clockwork.session_t(50.0) == 68.0
    clockwork.resume(20.0)
    assert clockwork.due_at(72.0) == 21.0
    with pytest.raises(ReplayError):
        Clockwork(speed=-1, session_t=0.0, now=0.0)


async def test_a_target_limited_to_the_recorded_pace_refuses_more() -> None:
    class Slow(ReplayTarget):
        max_speed = 1.0

    with pytest.raises(ReplayError, match=r"1× at most"):
        Replay(
            ReplaySource(lambda: iter([]), Selection()), Slow(), META, speed=0, clock=ManualClock()
        )


async def test_a_step_to_a_target_limited_to_the_recorded_pace_waits_for_that_pace() -> None:
    """docs/safety.md#replay-into-a-live-room: single steps never run faster than recorded."""
    replay, target, _ = replay_of(events_at(0.0, 3.0, 3.5), speed=1)
    target.max_speed = 1.0
    target.on_emit[1] = replay.step
    target.on_emit[2] = replay.step
    await replay.run()

    assert [seq for _, seq in target.emitted] == [1, 2, 3]
    times = [when for when, _ in target.emitted]
    assert times[1] - times[0] >= 3.0 - 1e-9
    assert times[2] - times[1] >= 0.5 - 1e-9


async def test_a_step_to_an_unlimited_target_is_immediate() -> None:
    replay, target, _ = replay_of(events_at(0.0, 3.0), speed=1)
    target.on_emit[1] = replay.step
    await replay.run()
    assert [when for when, _ in target.emitted] == [100.0, 100.0]
