"""Chaos: the engine killed, the broker restarted and the disk refusing writes, while commands flow.

* **Kills.** `sessionroom run` (the example room, a session of the 90-minute plan) is killed
  with SIGKILL at a random moment while a client sends notes as fast as the engine answers,
  and started again, N times. Afterwards the one journal must hold every note the engine
  acknowledged, its seqs must run 1, 2, 3, … without a gap, and each restart must have
  resumed the same session (its state says so, its journal has one `resume` per kill). Time
  to resume: from the SIGKILL to the new engine's first state showing the session again;
  baseline: the same engine's start with no session to resume.
* **Broker restarts.** Mosquitto is stopped and started M times (no persistence: every
  retained message is gone); time until a newcomer to the broker finds the room back:
  `status` online and the retained `state` showing the session. Baseline: the newcomer's
  own first connection after the restart.
* **A disk that fills.** The engine's journal writes fail while a flag file exists
  (`bench.engine_host --refuse-writes-while`); notes go on being sent meanwhile. The room
  must keep answering, and once the disk is back the journal must catch up with every
  acknowledged note. Time to catch up: from freeing the disk until all of them are on disk.
* **Start-up with 1,000 recorded sessions.** The engine's start to `online` with 1,000
  ended sessions in its data directory; baseline: an empty one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from bench.figures import Figure, Target, percentile
from bench.processes import engine_arguments, spawn, stop
from bench.rooms import example_room
from controller.api.client import EngineUnreachable, RoomClient
from controller.config import Room
from controller.config.settings import BrokerSettings
from controller.journal import Event, Journal, list_sessions, read_events
from tests.support.mosquitto import Mosquitto

Say = Callable[[str], None]
"""Prints a progress line."""

ROOM = "bench-chaos"
PLAN = "standard"
PARTICIPANT = "C001"
READY_TIMEOUT_S = 60.0
REPLY_TIMEOUT_S = 10.0
RUN_BEFORE_KILL_S = (0.1, 1.0)
"""Commands flow for a random time in this range (seconds) before each SIGKILL."""
PROBE_WAIT_S = 0.2
BACK_TARGET_S = 3.0
DISK_CATCH_UP_TIMEOUT_S = 30.0
RECORDED_SESSIONS = 1000
EVENTS_PER_RECORDED_SESSION = 500


@dataclass(frozen=True)
class Sizes:
    kills: int
    restarts: int
    disk_full_s: float


@dataclass
class Flow:
    """Notes sent to the engine: which it acknowledged."""

    client: RoomClient
    sent: int = 0
    acknowledged: set[str] = field(default_factory=set)
    stopping: bool = False

    async def forever(self) -> None:
        """Send notes one after the other, each when the previous one was answered."""
        while not self.stopping:
            self.sent += 1
            text = f"chaos note {self.sent}"
            try:
                reply = await self.client.command("note", timeout=REPLY_TIMEOUT_S, text=text)
            except EngineUnreachable:
                continue
            if reply.get("ok"):
                self.acknowledged.add(text)

    @contextlib.asynccontextmanager
    async def flowing(self) -> AsyncIterator[None]:
        self.stopping = False
        task = asyncio.create_task(self.forever())
        try:
            yield
        finally:
            # Python 3.11's wait_for can swallow a cancellation that meets a reply: the flag
            # ends the loop then.
            self.stopping = True
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@dataclass(frozen=True)
class ChaosResult:
    kills: int
    resumed_same: int
    resume_s: list[float]
    cold_start_s: float
    acknowledged: int
    lost: int
    seq_gaps: int
    sessions: int
    resume_events: int
    restarts: int
    back_s: list[float]
    connect_s: list[float]
    disk_acknowledged: int
    disk_lost: int
    catch_up_s: float
    room_answered_while_full: bool
    startup_many_s: float
    startup_none_s: float


class RestartableEngine:
    """The chaos room's engine process: started, killed and started again."""

    def __init__(self, room: Room, broker: Mosquitto, workdir: Path) -> None:
        self.room = room
        self.broker = broker
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *host_options: str, data_dir: Path | None = None) -> None:
        arguments = engine_arguments(
            self.room.config_path, self.broker, ROOM, self.workdir, host_options=host_options
        )
        if data_dir is not None:
            arguments[arguments.index("--data-dir") + 1] = str(data_dir)
        self.process = spawn(arguments, self.workdir / f"engine-{ROOM}.log")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


async def state_where(
    client: RoomClient, check: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """The next state the engine publishes for which `check` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        with contextlib.suppress(EngineUnreachable):
            state = await client.state(timeout=max(0.1, deadline - loop.time()))
            if check(state):
                return state
    raise TimeoutError(f"no state as wanted within {timeout:g} s")


def newer_than(wall: str) -> Callable[[dict[str, Any]], bool]:
    """A check for a state published after the ISO wall time `wall`."""
    return lambda state: str(state.get("updated")) > wall


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def session_of(state: dict[str, Any]) -> str | None:
    session = state.get("session")
    return session.get("id") if isinstance(session, dict) else None


async def timed(action: Awaitable[object]) -> float:
    started = time.monotonic()
    await action
    return time.monotonic() - started


async def kill_again_and_again(
    engine: RestartableEngine,
    client: RoomClient,
    flow: Flow,
    kills: int,
    rng: random.Random,
    say: Say,
) -> tuple[str, int, list[float]]:
    """Start a session, then kill and restart the engine `kills` times while notes flow.

    Returns the session, how many restarts showed it again, and each time to resume.
    """
    await started(engine, client)
    reply = await client.command(
        "start", timeout=REPLY_TIMEOUT_S, plan=PLAN, participant=PARTICIPANT
    )
    if not reply.get("ok"):
        raise RuntimeError(f"the engine refused to start a session: {reply.get('error')}")
    state = await state_where(client, lambda s: session_of(s) is not None, READY_TIMEOUT_S)
    session = session_of(state)
    assert session is not None
    same = 0
    resume_s = []
    for number in range(1, kills + 1):
        async with flow.flowing():
            await asyncio.sleep(rng.uniform(*RUN_BEFORE_KILL_S))
            engine.kill()
        killed_at, killed_wall = time.monotonic(), iso_now()
        engine.start()
        state = await state_where(client, newer_than(killed_wall), READY_TIMEOUT_S)
        resume_s.append(time.monotonic() - killed_at)
        same += session_of(state) == session
        if number % 20 == 0:
            say(f"  {number} kills, {len(flow.acknowledged)} notes acknowledged")
    return session, same, resume_s


async def newcomer_sees(
    broker: Mosquitto, room: str, session: str, timeout: float
) -> tuple[float, float]:
    """Connect to the broker again and again until the room's retained status is online and
    its retained state shows `session`; (time to the first connection, time to that)."""
    started = time.monotonic()
    connected_s: float | None = None
    status_topic, state_topic = f"sessionroom/{room}/status", f"sessionroom/{room}/state"
    while time.monotonic() - started < timeout:
        retained: dict[str, bytes] = {}
        try:
            async with aiomqtt.Client(
                broker.host, broker.port, identifier=f"newcomer-{uuid.uuid4().hex[:8]}"
            ) as probe:
                if connected_s is None:
                    connected_s = time.monotonic() - started
                await probe.subscribe(status_topic)
                await probe.subscribe(state_topic)
                async with asyncio.timeout(PROBE_WAIT_S):
                    async for message in probe.messages:
                        payload = message.payload
                        retained[str(message.topic)] = (
                            payload if isinstance(payload, bytes) else b""
                        )
                        if len(retained) == 2:
                            break
        except (aiomqtt.MqttError, TimeoutError):
            pass
        if retained.get(status_topic) == b"online" and session.encode() in retained.get(
            state_topic, b""
        ):
            return connected_s or 0.0, time.monotonic() - started
        await asyncio.sleep(0.01)
    raise TimeoutError(f"the room was not back on the broker within {timeout:g} s")


async def restart_broker(
    broker: Mosquitto, session: str, restarts: int, say: Say
) -> tuple[list[float], list[float]]:
    # The benchmark's own client loses the broker each time too: its bus need not say so.
    logging.getLogger("controller.bus").setLevel(logging.ERROR)
    back_s, connect_s = [], []
    for number in range(1, restarts + 1):
        await asyncio.to_thread(broker.restart)
        connected, back = await newcomer_sees(broker, ROOM, session, READY_TIMEOUT_S)
        connect_s.append(connected)
        back_s.append(back)
        if number % 20 == 0:
            say(f"  {number} broker restarts")
    return back_s, connect_s


def notes_in(path: Path) -> set[str]:
    return {str(e.payload) for e in read_events(path) if e.kind == "note"}


async def fill_the_disk(
    engine: RestartableEngine, client: RoomClient, flow: Flow, journal: Path, seconds: float
) -> tuple[int, int, float, bool]:
    """The disk refuses the journal's writes for `seconds` while notes flow, then is freed.

    Returns the notes acknowledged meanwhile, how many of them never reached the journal,
    the time from freeing the disk until they had, and whether the room kept answering.
    """
    flag = engine.workdir / "disk-full"
    await started(engine, client, "--refuse-writes-while", str(flag))
    before = set(flow.acknowledged)
    flag.touch()
    async with flow.flowing():
        await state_where(
            client, lambda s: any(a["key"] == "journal" for a in s["alerts"]), READY_TIMEOUT_S
        )
        await asyncio.sleep(seconds)
    during = flow.acknowledged - before
    answered = bool(during)
    flag.unlink()
    freed = time.monotonic()
    deadline = freed + DISK_CATCH_UP_TIMEOUT_S
    missing = during - notes_in(journal)
    while missing and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        missing = during - notes_in(journal)
    return len(during), len(missing), time.monotonic() - freed, answered


def recorded_sessions(folder: Path, count: int) -> Path:
    """A data directory holding `count` ended sessions of the room (copies of one journal)."""
    journal = Journal.create(
        folder / "template",
        room=ROOM,
        plan=PLAN,
        participant=PARTICIPANT,
        time_scale=1.0,
        wall_ns=1_700_000_000 * 10**9,
        on_alert=lambda _problem: None,
    )
    for n in range(EVENTS_PER_RECORDED_SESSION):
        journal.append(Event("note", f"recorded {n}"), t=float(n), wall_ns=1_700_000_000 * 10**9)
    journal.close(ended_cleanly=True)
    data_dir = folder / "many"
    sessions = data_dir / "sessions"
    sessions.mkdir(parents=True)
    for day in range(count):
        stamp = datetime.fromtimestamp(1_700_000_000 - day * 86400, UTC)
        shutil.copy(journal.path, sessions / f"{ROOM}-{stamp:%Y%m%dT%H%M%SZ}.sqlite")
    return data_dir


async def started(
    engine: RestartableEngine, client: RoomClient, *host_options: str, **where: Path
) -> float:
    """Start the engine; the time until its first state (a retained `online` may be stale)."""
    wall, started_at = iso_now(), time.monotonic()
    engine.start(*host_options, **where)
    await state_where(client, newer_than(wall), READY_TIMEOUT_S)
    return time.monotonic() - started_at


async def start_to_online(engine: RestartableEngine, client: RoomClient, data_dir: Path) -> float:
    """Start the engine on `data_dir`, time it until its first state, and stop it again."""
    try:
        return await started(engine, client, data_dir=data_dir)
    finally:
        engine.stop()


async def measure(
    broker: Mosquitto, workdir: Path, sizes: Sizes, say: Say, seed: int = 11
) -> ChaosResult:
    rng = random.Random(seed)
    room = example_room(broker, ROOM, workdir)
    engine = RestartableEngine(room, broker, workdir)
    settings = BrokerSettings(mode="external", host=broker.host, port=broker.port)
    client = RoomClient(settings, room=ROOM, client_id=f"chaos-{uuid.uuid4().hex[:8]}")
    async with client:
        say(f"  engine start to online with {RECORDED_SESSIONS} recorded sessions, and none")
        startup_none = await start_to_online(engine, client, workdir / "empty-data")
        many = await asyncio.to_thread(recorded_sessions, workdir / "recorded", RECORDED_SESSIONS)
        startup_many = await start_to_online(engine, client, many)
        flow = Flow(client)
        say(f"  {sizes.kills} SIGKILLs of the engine while notes flow")
        try:
            session, same, resume_s = await kill_again_and_again(
                engine, client, flow, sizes.kills, rng, say
            )
            say(f"  {sizes.restarts} broker restarts")
            back_s, connect_s = await restart_broker(broker, session, sizes.restarts, say)
        finally:
            engine.stop()
        [info] = list_sessions(room.data_dir, ROOM)
        say(f"  the disk refuses the journal's writes for {sizes.disk_full_s:g} s")
        try:
            disk = await fill_the_disk(engine, client, flow, info.path, sizes.disk_full_s)
        finally:
            engine.stop()
    events = list(read_events(info.path))
    seqs = [event.seq for event in events]
    notes = {str(e.payload) for e in events if e.kind == "note"}
    return ChaosResult(
        kills=sizes.kills,
        resumed_same=same,
        resume_s=resume_s,
        cold_start_s=startup_none,
        acknowledged=len(flow.acknowledged),
        lost=len(flow.acknowledged - notes),
        seq_gaps=sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1)
        + (seqs[0] != 1 if seqs else 0),
        sessions=len(list_sessions(room.data_dir, ROOM)),
        resume_events=sum(1 for e in events if e.kind == "resume"),
        restarts=sizes.restarts,
        back_s=back_s,
        connect_s=connect_s,
        disk_acknowledged=disk[0],
        disk_lost=disk[1],
        catch_up_s=disk[2],
        room_answered_while_full=disk[3],
        startup_many_s=startup_many,
        startup_none_s=startup_none,
    )


def exactly(expected: int) -> Target:
    return Target(f"= {expected}", lambda value, _ratio: value == expected)


def figures(result: ChaosResult) -> list[Figure]:
    kills, restarts = result.kills, result.restarts
    resume = result.resume_s
    lines = [
        Figure(
            f"SIGKILLs resumed into the same session (of {kills})",
            result.resumed_same,
            "",
            target=exactly(kills),
        ),
        Figure(
            f"acknowledged notes missing from the journal (of {result.acknowledged})",
            result.lost,
            "",
            target=exactly(0),
        ),
        Figure("journal seq gaps after the kills", result.seq_gaps, "", target=exactly(0)),
        Figure("sessions recorded in the chaos room", result.sessions, "", target=exactly(1)),
        Figure(
            "resume events in the journal (each kill, and the disk part's start)",
            result.resume_events,
            "",
            target=exactly(kills + 1),
        ),
        Figure(
            f"SIGKILL → same session shown again p50 (n={kills})",
            percentile(resume, 0.5) * 1000,
            "ms",
            result.cold_start_s * 1000,
            "engine start, no session",
        ),
        Figure(
            f"SIGKILL → same session shown again max (n={kills})",
            max(resume) * 1000,
            "ms",
            result.cold_start_s * 1000,
            "engine start, no session",
        ),
    ]
    if restarts:
        lines += [
            Figure(
                f"broker restart → room back with its retained state p50 (n={restarts})",
                percentile(result.back_s, 0.5) * 1000,
                "ms",
                percentile(result.connect_s, 0.5) * 1000,
                "newcomer connects",
            ),
            Figure(
                f"broker restart → room back with its retained state max (n={restarts})",
                max(result.back_s) * 1000,
                "ms",
                max(result.connect_s) * 1000,
                "newcomer connects",
                Target.value_at_most(BACK_TARGET_S * 1000, "ms"),
            ),
        ]
    lines += [
        Figure(
            f"disk refusing writes: acknowledged notes missing (of {result.disk_acknowledged})",
            result.disk_lost,
            "",
            target=exactly(0) if result.room_answered_while_full else exactly(-1),
        ),
        Figure("disk back → journal caught up", result.catch_up_s * 1000, "ms"),
        Figure(
            f"engine start → online, {RECORDED_SESSIONS:,} recorded sessions",
            result.startup_many_s * 1000,
            "ms",
            result.startup_none_s * 1000,
            "no sessions",
        ),
    ]
    return lines
