"""`sessionroom replay`: re-emit a recorded session's events, printed or into a (simulated) room."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import click

from controller.api.topics import REPLAY_SUFFIX, is_replay
from controller.broker.embedded import EmbeddedBroker, EmbeddedBrokerError
from controller.cli.common import (
    EXIT_INVALID,
    FiniteRange,
    Overrides,
    client_broker,
    connection_options,
    load_room_or_exit,
    logging_in_as,
    run_async,
)
from controller.cli.sessions import drop_unwritten_stdout, fail, resolve_session
from controller.config import Room
from controller.config.settings import IDENTIFIER, BrokerSettings
from controller.engine.clock import ScaledClock
from controller.engine.engine import latch_path, read_marker
from controller.journal import JournalError, SessionMeta, find_open_session
from controller.research.replay import (
    Replay,
    ReplayError,
    ReplayOutcome,
    ReplaySource,
    ReplayTarget,
    Selection,
    parse_bound,
    parse_kinds,
    parse_list,
)
from controller.research.room_targets import LiveTarget, SimTarget, engine_activity
from controller.research.sessions import command_counts, last_event_t, phase_entries, session_meta
from controller.research.targets import PrintTarget
from controller.research.terminal import OutputRefusedError, StatusLine, key_actions
from controller.untrusted import terminal_text

EPILOG = """\b
Examples:
  sessionroom replay room-a-20261121T173000Z
  sessionroom replay room-a-20261121T173000Z --speed 10 --from peak --until return
  sessionroom replay room-a-20261121T173000Z --only phase,operator,note --speed 0
  sessionroom replay room-a-20261121T173000Z --target sim --speed 10
      (then, elsewhere: sessionroom console --room room-a-replay)
  sessionroom replay room-a-20261121T173000Z --target live --room room-b --device ceiling --yes
\b
Keys (in a terminal): space pause/resume, → one event, ↑/↓ faster/slower, q quit.
"""


@click.command(epilog=EPILOG)
@click.argument("session")
@click.option(
    "--speed",
    type=FiniteRange(min=0, max=1000),
    default=1.0,
    show_default=True,
    help="Session seconds per real second; 0 = as fast as possible.",
)
@click.option("--from", "from_", metavar="PHASE|TIME", help="Start at a phase or session time.")
@click.option(
    "--until", metavar="PHASE|TIME", help="Stop at the end of a phase or at a session time."
)
@click.option("--only", metavar="KIND[,KIND]", help="Emit only these kinds (phase, note, ...).")
@click.option("--device", "devices", metavar="ID[,ID]", help="Emit only these devices' events.")
@click.option("--loop", is_flag=True, help="Start again at the end, until stopped.")
@click.option(
    "--target",
    type=click.Choice(["print", "sim", "live"]),
    default="print",
    show_default=True,
    help="print: a line per event; sim: a simulated room under --replay-room, watchable in "
    "the console; live: the real devices of --room (needs --yes).",
)
@click.option(
    "--replay-room",
    metavar="ID",
    default=None,
    callback=lambda _context, _parameter, value: _replay_room(value),
    help=f"sim: the room id the replay appears under, ending in {REPLAY_SUFFIX} "
    "(default: <room>-replay).",
)
@click.option("--yes", is_flag=True, help="live: really send the commands to the real devices.")
@connection_options
def replay(
    session: str,
    speed: float,
    from_: str | None,
    until: str | None,
    only: str | None,
    devices: str | None,
    loop: bool,
    target: str,
    replay_room: str | None,
    yes: bool,
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
) -> None:
    """Replay a recorded session: its events again, on a clock of their own.

    SESSION is a session id (see `sessionroom sessions`) or a path to its .sqlite file.
    At speed 1 the events keep their recorded spacing in session time (a rehearsal run
    at time scale 30 replays at its own pace with --speed 30). --from PHASE starts where
    the phase began, --until PHASE stops where it ended. --only and --device filter what
    is emitted; the simulated room's state still follows every event.

    --target live refuses a room whose engine is online with a session open (or in an
    emergency), or that its emergency marker latches, never replays faster than the session
    ran, stops if the room's engine opens a session meanwhile, and sends nothing without
    --yes.
    """
    overrides = Overrides(broker, room_id, data_dir)
    path = resolve_session(session, config_path, overrides)
    try:
        meta = session_meta(path)
        phases = phase_entries(path)
        selection = Selection(
            start=parse_bound(from_, phases, end=False) if from_ else None,
            end=parse_bound(until, phases, end=True) if until else None,
            kinds=parse_kinds(only),
            devices=parse_list(devices),
        )
        end_t = min(last_event_t(path), selection.end or float("inf"))
    except ReplayError as problem:
        raise click.BadParameter(str(problem)) from None
    except JournalError as error:
        fail(str(error))
    plan = Plan(path, meta, selection, speed, loop, end_t, StatusLine())
    if target == "print":
        run_async(_play(plan.player(PrintTarget(plan.status.print)), plan.status))
        return
    room = load_room_or_exit(config_path, overrides)
    replay_login = room.settings.broker.credentials.get("replay")
    if target == "live" and replay_login is not None:
        fail(
            f"room {room.room_id} is on a facility broker, where its replay login "
            f"({terminal_text(replay_login.username)}) may publish only under "
            f"sessionroom/{room.room_id}-replay/ (docs/facility.md): a live replay cannot "
            f"reach the room's devices. Replay into a simulated room with --target sim."
        )
    room = logging_in_as(room, "replay")
    if target == "sim":
        run_async(_replay_sim(plan, room, replay_room))
    else:
        run_async(_replay_live(plan, room, yes))


@dataclass(frozen=True)
class Plan:
    """What the command line asked to replay, and how."""

    path: Path
    meta: SessionMeta
    selection: Selection
    speed: float
    loop: bool
    end_t: float
    status: StatusLine

    def player(self, target: ReplayTarget) -> Replay:
        """A replay of this plan to `target` on the monotonic clock, showing its progress."""
        try:
            return Replay(
                ReplaySource.journal(self.path, self.selection),
                target,
                self.meta,
                speed=self.speed,
                clock=ScaledClock(1.0),
                loop=self.loop,
                on_position=lambda position: self.status.show(position.describe(self.end_t)),
            )
        except ReplayError as problem:
            raise click.BadParameter(str(problem), param_hint="--speed") from None


async def _play(player: Replay, status: StatusLine) -> None:
    """Replay with keys and a progress line, until done, `q`, Ctrl-C or SIGTERM."""
    actions = {
        "pause": player.toggle_pause,
        "step": player.step,
        "faster": player.faster,
        "slower": player.slower,
        "quit": player.stop,
    }
    events_loop = asyncio.get_running_loop()
    for stop in (signal.SIGINT, signal.SIGTERM):
        events_loop.add_signal_handler(stop, player.stop)
    try:
        with key_actions(lambda action: actions[action]()):
            outcome = await player.run()
    except (JournalError, ConnectionError) as error:
        status.close()
        fail(str(error))
    except OutputRefusedError as error:
        status.close()
        drop_unwritten_stdout()
        fail(f"cannot write to standard output: {error}")
    status.close()
    click.echo(_summary(outcome), err=True)


def _summary(outcome: ReplayOutcome) -> str:
    words = f"Replayed {outcome.emitted} events"
    if outcome.absorbed:
        words += f" ({outcome.absorbed} more followed for the state only)"
    if outcome.loops:
        words += f", {outcome.loops} loops"
    if outcome.lateness:
        ordered = sorted(outcome.lateness)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        words += f"; timing: median {ordered[len(ordered) // 2] * 1e3:.1f} ms late, p99 "
        words += f"{p99 * 1e3:.1f} ms"
    return words + (" (stopped)." if outcome.stopped else ".")


def _replay_room(value: str | None) -> str | None:
    """A replay's room id: a room id ending in `-replay`, so that it is never a live room's
    (the simulated room's state and status would be written over that room's)."""
    if value is not None and not _is_replay_id(value):
        raise click.BadParameter(
            f"{value!r} is not a replay's room id (lower-case letters, digits, . _ -, ending "
            f"in {REPLAY_SUFFIX!r}: a live room's state and status would be written over)",
            param_hint="--replay-room",
        )
    return value


def _is_replay_id(value: str) -> bool:
    return re.fullmatch(IDENTIFIER, value) is not None and is_replay(value)


async def _replay_sim(plan: Plan, room: Room, replay_room: str | None) -> None:
    meta = plan.meta
    replay_id = replay_room or meta.room + REPLAY_SUFFIX
    if not _is_replay_id(replay_id):  # a journal's room is text from a file, not a checked id
        fail(
            f"the session's room {meta.room!r} is no room id, so no replay's room can be named "
            f"after it: give one with --replay-room ID (ending in {REPLAY_SUFFIX!r})"
        )
    async with _broker(room) as (settings, own):
        target = SimTarget(room, settings, replay_room=replay_id)
        where = f"mqtt://{settings.host}:{settings.port}"
        watch = f"sessionroom console --room {replay_id}" + ("" if own else f" --broker {where}")
        click.echo(
            f"Replaying {meta.session_id} into the simulated room {replay_id} on {where}"
            f"{' (a broker of its own, for as long as the replay runs)' if own else ''}.\n"
            f"Watch it with: {watch}",
            err=True,
        )
        await _play(plan.player(target), plan.status)
        if target.late:
            click.echo(_late(target.late, "messages"), err=True)
        if target.skipped:
            click.echo(
                f"Not replayed (no such simulated device in this room): "
                f"{terminal_text(', '.join(sorted(target.skipped)))}",
                err=True,
            )


async def _replay_live(plan: Plan, room: Room, yes: bool) -> None:
    meta, selection, speed = plan.meta, plan.selection, plan.speed
    settings = client_broker(room)
    try:
        activity = await engine_activity(settings, room)
    except ConnectionError as error:
        fail(str(error))
    if activity.busy is not None:
        fail(f"room {room.room_id} gets no replay now: {activity.busy}")
    unreadable: list[str] = []  # newer than the newest journal read: any may be open
    open_session = find_open_session(
        room.data_dir,
        room.room_id,
        on_unreadable=lambda path, why: unreadable.append(f"{path} ({why})"),
    )
    if open_session is not None:
        fail(
            f"room {room.room_id} gets no replay now: its journal has session "
            f"{open_session.session_id} open"
        )
    if unreadable:
        fail(
            f"room {room.room_id} gets no replay now: its journal "
            f"{terminal_text(unreadable[0])} cannot be read, and may hold the session the "
            f"room is in"
        )
    if read_marker(latch_path(room)).present:  # an engine starting now would start latched
        fail(
            f"room {room.room_id} gets no replay now: it is latched in an emergency (its "
            f"marker {latch_path(room)} is there until the emergency is cleared)"
        )
    if speed == 0 or speed > meta.time_scale:
        fail(
            f"a live replay runs at most at the pace the session ran (--speed ≤ "
            f"{meta.time_scale:g}); flashes and volume ramps were checked at that pace"
        )
    click.echo(_live_plan(plan, room, settings))
    if selection.kinds is not None and "command" not in selection.kinds:
        fail("--only leaves out `command`: there is nothing to send to the devices")
    if not yes:
        click.echo("Nothing was sent. Add --yes to send these commands to the real devices.")
        raise SystemExit(EXIT_INVALID)
    target = LiveTarget(room, settings, meta)
    player = plan.player(target)

    def engine_busy(reason: str) -> None:
        click.echo(f"\nStopping: room {room.room_id} {reason.removeprefix('its ')}.", err=True)
        player.stop()

    def held_back(reason: str) -> None:
        click.echo(f"\nHeld back by the safety gate: {reason}", err=True)

    target.on_engine_busy = engine_busy
    target.on_held_back = held_back
    await _play(player, plan.status)
    click.echo(
        f"Sent {len(target.sent)} device messages; {len(target.held_back)} recorded commands "
        f"were refused or clamped.",
        err=True,
    )
    if target.late:
        click.echo(_late(target.late, "device messages"), err=True)


def _late(count: int, what: str) -> str:
    return (
        f"Dropped {count} {what} that could not go out in time (the broker was away or silent); "
        f"none was sent late."
    )


def _live_plan(plan: Plan, room: Room, settings: BrokerSettings) -> str:
    selection = plan.selection
    counts = command_counts(plan.path, start=selection.start, end=selection.end)
    chosen = {
        key: count
        for key, count in counts.items()
        if selection.devices is None or key[0] in selection.devices
    }
    lines = [
        f"Replay of {plan.meta.session_id} to the REAL devices of room {room.room_id} on "
        f"mqtt://{settings.host}:{settings.port}, at {plan.speed:g}× session time:"
    ]
    own_topics = LiveTarget(room, settings, plan.meta).output.device_topics()
    for (device, topic), count in sorted(chosen.items()):
        known = device in room.devices and topic in own_topics
        lines.append(
            f"  {terminal_text(device):<14} {count:>5} commands on {terminal_text(topic)}"
            + ("" if known else "  (skipped: not a command topic of this room's devices)")
        )
    lines.append(
        "Each command passes this room's safety gate (flash rate, volume cap and ramp, BLS "
        "limits) before it is sent. A BLS device is told to stop half a second after the "
        "length the gate judged for each set, and as the replay ends."
    )
    if not chosen:
        lines.append("  (no device commands in this part of the session)")
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def _broker(room: Room) -> AsyncIterator[tuple[BrokerSettings, bool]]:
    """The room's broker; for an embedded one nobody runs, one of the replay's own."""
    settings = client_broker(room)
    if room.settings.broker.mode == "external" or _accepts(settings.host, settings.port):
        yield settings, False
        return
    try:
        async with EmbeddedBroker(host=settings.host, port=settings.port) as broker:
            yield settings.model_copy(update={"port": broker.port}), True
    except EmbeddedBrokerError as error:
        fail(str(error))


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
