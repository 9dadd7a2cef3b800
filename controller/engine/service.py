"""`sessionroom run`: the engine of one room as a service on the MQTT bus.

Wires the synchronous `Engine` to the bus: commands from `sessionroom/<room>/cmd` with
replies, device messages from the drivers' topics, broker changes; a tick loop on the
session clock; the retained `state` (about once a second and after every command), the
`events` stream, and `status` (`online`, and `offline` as the will). One engine runs a room
at a time (`lock.room_lock`); an open session found in the journal is resumed before anything
else happens, and one that cannot be resumed never keeps the room from starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import queue
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from controller.api.commands import (
    NO_ID,
    BadCommand,
    Command,
    Start,
    is_emergency,
    parse_command,
)
from controller.api.homeassistant import HomeAssistant
from controller.api.topics import MAX_STATE_BYTES, OFFLINE, ONLINE, REPLAY_SUFFIX, RoomTopics
from controller.broker.embedded import EmbeddedBroker
from controller.bus import ConnectionChange, Message, ReportsChange, Will
from controller.bus.bus import Bus
from controller.bus.credentials import unique_client_id
from controller.bus.inbox import FULL
from controller.bus.outbox import Pending
from controller.config import Room
from controller.config.settings import BrokerSettings
from controller.drivers.payloads import MAX_PAYLOAD_BYTES
from controller.engine.checks import public_check
from controller.engine.clock import Clock, ScaledClock
from controller.engine.engine import Engine, Marker, describe_error, latch_path, read_marker
from controller.engine.lock import RoomBusy, room_lock
from controller.engine.phases import CommandRefused
from controller.engine.resume import SessionsLook, look_for_session, resume_or_close
from controller.journal import Journal
from controller.media.outputs import LocalOutputs, TonePlayer, open_local_outputs
from controller.untrusted import UntrustedJsonError, read_json

log = logging.getLogger(__name__)

TICK_S = 0.05
"""The engine ticks this often (real seconds) while anything moves (`Engine.seconds_to_work`)."""
IDLE_TICK_S = 0.25
"""While nothing moves, the engine ticks this often, at its next cue or check, at once after
an input (a command, a device message, a report of the music or the tones) and in time for
the state: the room's periodic work is what it needs, not twenty ticks a second."""

DURABLE_WAIT_S = 0.5
"""How long a command's reply waits for its journal entry to reach the disk (the emergency's
reply never waits)."""
HANDOVER_S = 0.001
"""Once a command's device messages are on the socket, how long the engine leaves the CPU to
the broker passing them on before its bookkeeping (journal, events, reply, state): on a
controller of two cores the broker, the engine and a device's bridge on the same machine
otherwise compete for them just then (docs/robustness.md#queueing). A message arriving
ends the pause at once; the event loop rounds it up to the millisecond it can wait."""
LOOKOUT_S = 1.0
"""How long a starting engine waits for the broker, and then for its own message back, as it
looks for another engine of its room (`another_engine_online`)."""
MARKER_WAIT_S = 2.0
"""On the way out, how long the engine waits for an emergency marker still being written (a
disk that hangs never keeps the engine from ending: its room lock let go, started again)."""
PREPARE_TONES_AFTER_S = 1.0
"""Seconds after going online the tones' renderer is imported (`TonePlayer.prepare`, about
0.1 s of the interpreter): not while the engine publishes its first state, which replaces
the one the broker kept of the engine before (a client that came with `online` read that)."""

JOURNAL_OPEN_WAIT_S = 2.0
"""Seconds a start waits for its journal to be opened (away from the event loop) before it is
refused: the data folder does not answer (a network mount whose server is gone). A healthy
disk opens one in milliseconds; the refusal comes within the console's wait for a reply
(`controller.console.link.REPLY_TIMEOUT_S`, 3 s)."""

MAX_IN_LINE = 100
"""Commands that may wait behind a start under way; more are refused (`LINE_FULL`)."""
LINE_FULL = f"more than {MAX_IN_LINE} commands wait for a start under way; send it again"

LINE_EXIT_WAIT_S = 2.0
"""How long the commands in line are given to be carried out as the service ends."""
STARTUP_DISK_WAIT_S = 2.0
"""How long the engine's start waits for its data folder (the room's lock, the emergency
marker, the session left open) before it goes on without: a folder that does not answer (a
network mount whose server is gone) never keeps the room from coming online. Once it has not
answered, the start does not ask it again."""
CLOSE_EXIT_WAIT_S = 10.0
"""On the way out, how long the engine waits for session journals still being closed (an
`end` just before). A disk that hangs never keeps it from ending: the close goes on on a daemon
thread, and the end noted beside the journal (or the next start) closes the session."""
ENDING = "the engine is stopping; start again once it is back"

START_UNDER_WAY = "another start is under way (its journal is being opened); wait for its reply"

CONTROL_LANE = "control"
"""The bus lane of the command topic: a flood of device messages does not hold commands up."""

STATE_EVERY_S = 1.0
"""The retained state is republished at least this often (real seconds)."""
RECENT_COMMANDS = 1000
"""Command ids remembered, so that one delivered again is not carried out twice."""
RETAINED_COMMAND = (
    "a command left retained on the broker is not carried out (it would run again at every "
    "connect); send it without retain"
)


@contextlib.asynccontextmanager
async def broker_for(room: Room) -> AsyncIterator[BrokerSettings]:
    """The broker to connect to: the configured external one, or an embedded one run here."""
    settings = room.settings.broker
    if settings.mode == "external":
        yield settings
        return
    async with EmbeddedBroker(host=settings.host, port=settings.port) as broker:
        yield BrokerSettings(mode="external", host=broker.host, port=broker.port)


async def another_engine_online(
    room: Room, lookout: BrokerSettings, *, retained_state: list[bytes] | None = None
) -> bool:
    """Whether another engine serves `room` on its broker, where the room's lock cannot tell
    (another host, another data_dir): the room's retained status says online and a state
    comes while this listens. Two engines of one room take each other's connection (one
    client id) and each asserts its own targets as it reconnects: the lights flash between
    their scenes, and one's emergency is undone by the other.

    `lookout` logs in with a client id of its own (on a facility broker's room listener one
    login is one connection: the engine's login would cut the running engine off). An online
    status with no state within a few seconds is one left by an engine that died unseen (the
    broker has not yet given up its connection): no engine. So is one with a single state: a
    room broker's bridge connecting meanwhile passes on the facility broker's retained copy
    once, as a live message; a running engine publishes its state every `STATE_EVERY_S`, so
    it is heard twice. A broker not reached within `LOOKOUT_S` gives no answer (False): the
    engine starts and keeps trying to connect.

    The retained status comes right after the subscription; a message this sends itself
    afterwards comes back after it, so a room without an engine costs one round trip.
    `retained_state` gets the room's retained state, if the broker keeps one (the last an
    engine of the room published, wherever it ran: `emergency_kept_on_the_broker`).
    """
    topics = RoomTopics(room.room_id)
    echo = f"{RoomTopics(room.room_id + REPLAY_SUFFIX).base}/lookout/{uuid.uuid4().hex}"
    statuses: list[bytes] = []
    echoed, heard = asyncio.Event(), asyncio.Event()
    live: list[bool] = []
    """True for each state published meanwhile; False for an `offline` meanwhile."""

    def status(message: Message) -> None:
        statuses.append(message.payload)
        if message.payload == OFFLINE.encode() and echoed.is_set():
            live.append(False)
            heard.set()

    def state(message: Message) -> None:
        if message.retain and retained_state is not None:
            retained_state.append(message.payload)
        if not message.retain:
            live.append(True)
            if live[:2] == [True, True]:
                heard.set()

    bus = Bus(lookout, client_id=unique_client_id("sessionroom-lookout"), root=room.root)
    bus.subscribe(topics.status, status)
    bus.subscribe(topics.state, state)
    bus.subscribe(echo, lambda message: echoed.set())
    async with bus:
        if not await bus.wait_connected(LOOKOUT_S):
            return False
        await bus.publish(echo, b"", qos=0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LOOKOUT_S):
                await echoed.wait()
        if statuses[-1:] != [ONLINE.encode()]:
            return False
        with contextlib.suppress(TimeoutError):  # online, but silent: one that died unseen
            async with asyncio.timeout(3.5 * STATE_EVERY_S):
                await heard.wait()
    return live[:2] == [True, True]


def emergency_kept_on_the_broker(retained_state: list[bytes]) -> tuple[bool, str | None]:
    """Whether the room's retained state says it is latched in an emergency, and since when
    (as it says it): an engine of the room that ran elsewhere (another computer, another
    data_dir) latched it, and its marker is on that engine's disk."""
    for payload in retained_state[-1:]:
        with contextlib.suppress(UntrustedJsonError):
            state = read_json(payload, max_bytes=MAX_STATE_BYTES)
            emergency = state.get("emergency") if isinstance(state, dict) else None
            if isinstance(emergency, dict) and emergency.get("active") is True:
                since = emergency.get("since")
                return True, since if isinstance(since, str) else None
    return False, None


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the `events` topic carries it: a note's words stay off it (docs/safety.md)."""
    if event["kind"] == "note":
        return {**event, "payload": None}
    if event["kind"] == "check":  # a therapist's reasons are private words too
        return {**event, "payload": public_check(event["payload"])}
    return event


def _reply_message(command_id: str, ok: bool, error: str | None) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": command_id, "ok": ok}
    if error is not None:
        reply["error"] = error
    return reply


def _digest(payload: bytes) -> bytes:
    """What a command is remembered by, to know it again if it is delivered again."""
    return hashlib.blake2b(payload, digest_size=16).digest()


def idle_wait_s(seconds_to_work: float, until_state_s: float) -> float:
    """How long after a tick the loop waits for an input before it ticks again: at most
    IDLE_TICK_S, and never past the engine's next work or the state's time (the loop
    ticks again no sooner than TICK_S after a tick, whatever this says)."""
    return min(IDLE_TICK_S, seconds_to_work, until_state_s)


Result = TypeVar("Result")


def off_the_loop(
    submit: Callable[[Callable[[], None]], object],
    work: Callable[[], Result],
    *,
    late: Callable[[Result], None] | None = None,
) -> asyncio.Future[Result]:
    """What `work()` returns (or raises), run by `submit` on another thread, in a future of the
    running loop. What it returns once that future is done already (given up: cancelled, or a
    wait for it timed out) or its loop closed goes to `late`."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Result] = loop.create_future()

    def settle(outcome: Result | Exception) -> None:  # on the loop, or the thread once closed
        if done.done() or loop.is_closed():
            if late is not None and not isinstance(outcome, Exception):
                late(outcome)
        elif isinstance(outcome, Exception):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)

    def run() -> None:
        outcome: Result | Exception
        try:
            outcome = work()
        except Exception as error:
            outcome = error
        call_from_thread(loop, functools.partial(settle, outcome))

    submit(run)
    return done


async def on_a_thread(
    work: Callable[[], Result],
    timeout_s: float,
    *,
    name: str,
    late: Callable[[Result], None] | None = None,
) -> Result:
    """What `work()` returns (or raises), run on a daemon thread of its own and waited for at
    most `timeout_s` (then TimeoutError); what it returns after that goes to `late`."""

    def new_thread(run: Callable[[], None]) -> None:
        threading.Thread(target=run, name=name, daemon=True).start()

    return await asyncio.wait_for(off_the_loop(new_thread, work, late=late), timeout_s)


def call_from_thread(loop: asyncio.AbstractEventLoop, call: Callable[[], None]) -> None:
    """Have `loop` call `call`, from another thread; at once when the loop is closed (the
    service has ended; its engine is read after)."""
    try:
        loop.call_soon_threadsafe(call)
    except RuntimeError:
        call()


class DiskThread:
    """Chores run one after the other on a daemon thread of their own: one that hangs (a disk
    that does not answer) never keeps the engine, nor the process, from ending. Once closed,
    a chore runs at once (the service has ended; its engine is read after)."""

    def __init__(self, name: str) -> None:
        self._chores: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, chore: Callable[[], None]) -> None:
        if self._closed:
            chore()
        else:
            self._chores.put(chore)

    def close(self, timeout_s: float = 0.0) -> None:
        """No more chores on the thread; wait at most `timeout_s` for those already given."""
        self._closed = True
        self._chores.put(None)
        self._thread.join(timeout_s)

    def _work(self) -> None:
        while (chore := self._chores.get()) is not None:
            try:
                chore()
            except Exception:  # one whose fault could not be told (the loop is closed): logged
                log.exception("a disk chore failed")


def unsent_by_chain(lost: list[Pending]) -> dict[str, list[str]]:
    """Each chain (the device they were for, `GatedMessage.chain`) a lost message belongs to,
    with the payloads of those that did not go, in order (one that went late, `Pending.went`,
    only names its device); what `Engine.sends_lost` is told."""
    unsent: dict[str, list[str]] = {}
    for message in lost:
        if message.chain:
            payloads = unsent.setdefault(message.chain, [])
            if not message.went:
                payloads.append(message.payload.decode("utf-8", "replace"))
    return unsent


class RoomService:
    """One room's engine on the bus, for as long as `run()` runs."""

    def __init__(
        self,
        room: Room,
        *,
        clock: Clock | None = None,
        local_outputs: bool = True,
        on_ready: Callable[[str], None] | None = None,
        lookout: BrokerSettings | None = None,
        reports_apart: bool = True,
        reports_login: BrokerSettings | None = None,
    ) -> None:
        """`local_outputs=False` runs without music and tones (as on a PC without libvlc).
        `lookout`: the login another engine of the room is looked for with before this one
        connects (`another_engine_online`); by default the room's own broker settings.
        Device reports are read on a connection of their own (`Bus`'s intake: a flood of
        them never stands in front of a command), with `reports_login` (by default the
        engine's); `reports_apart=False` reads them on the engine's one connection."""
        self.room = room
        self._lookout = lookout or room.settings.broker
        self._reports_apart = reports_apart
        self._reports_login = reports_login
        self.topics = RoomTopics(room.room_id)
        self.clock = clock or ScaledClock(room.settings.time_scale)
        self._local_outputs = local_outputs
        self._on_ready = on_ready
        self._state_due = True
        self._input = asyncio.Event()
        """Set by every input (`_idle` then ends): a command, a device message, a broker change,
        a report of the music or the tones."""
        self._closing: set[asyncio.Future[None]] = set()
        self._unacknowledged: list[tuple[Journal | None, frozenset[asyncio.Future[None]], str]] = []
        """Accepted commands whose replies wait for their journal entries (`_acknowledge`)."""
        self._acknowledging: asyncio.Task[None] | None = None
        self._recent: OrderedDict[str, tuple[bytes, dict[str, Any] | None]] = OrderedDict()
        """The last `RECENT_COMMANDS` command ids the engine acted on, each with a digest of
        the message (not the message: a command may be 64 KiB) and its reply (None until it
        is sent)."""
        self._pressed_arrival = 0
        """The arrival (`Message.arrival`) of the latest emergency carried out: a clear that
        arrived before it, handled after it, is overtaken (`Engine.command`)."""
        self._starts: set[asyncio.Task[None]] = set()
        """Starts waiting for their journals (`_start_once_opened`)."""
        self._line: set[asyncio.Task[None]] = set()
        """A start under way and the commands that came behind it (`_behind_the_line`)."""
        self._last: asyncio.Task[None] | None = None
        """The line's last task: the next command behind the line waits for it."""
        self._to_acknowledge: set[str] = set()
        """Commands whose `ok` waits for the journal (`_acknowledge_when_durable`)."""
        self._starts_in_line = 0
        """Starts waiting in line (`_in_turn`): another start is refused as under way."""
        self._ending = False
        """The service is ending: a start is refused (`ENDING`) rather than open a journal."""
        self._tones: TonePlayer | None = None
        """The room PC's tone player, prepared once online."""
        self._journals: DiskThread | None = None
        """Opens the starts' journals, and removes those of starts refused once opened."""
        self._closes: DiskThread | None = None
        """Closes the journals of sessions ended (`_close_off_loop`)."""
        self._folder_silent: str | None = None
        """Why the data folder was given up at the start (it did not answer), if it was."""
        self.engine: Engine | None = None
        self.bus: Bus | None = None

    async def run(self) -> None:
        """Serve the room until cancelled; RoomBusy if another engine runs the room."""
        self._folder_silent = None
        lock = room_lock(self.room.data_dir, self.room.room_id)

        def take() -> bool:
            lock.__enter__()
            return True

        def let_go(_: bool = True) -> None:  # a lock taken after it was given up, at once
            lock.__exit__(None, None, None)

        held = await self._from_data_folder(
            take, "the room's lock", "running without it", late=let_go
        )
        try:
            await self._run()
        finally:
            if held:
                let_go()

    async def _from_data_folder(
        self,
        work: Callable[[], Result],
        what: str,
        without: str,
        *,
        late: Callable[[Result], None] | None = None,
    ) -> Result | None:
        """What `work` reads of the data folder at the start, on a thread of its own; None
        when the folder has not answered within STARTUP_DISK_WAIT_S, now or earlier in this
        start (logged, with what the engine does `without` it)."""
        folder = self.room.data_dir
        if self._folder_silent is None:
            try:
                return await on_a_thread(
                    work, STARTUP_DISK_WAIT_S, name="sessionroom-start", late=late
                )
            except TimeoutError:
                self._folder_silent = f"{folder} has not answered for {STARTUP_DISK_WAIT_S:g} s"
        log.error("%s: %s not read, %s", self._folder_silent, what, without)
        return None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        outputs = (
            open_local_outputs(self.room, on_error=self._media_error)
            if self._local_outputs
            else LocalOutputs(problem="this engine runs without music and tones")
        )
        # the marker's thread apart from the looks': a look that hangs on a playlist's file
        # (a music mount that is gone) never holds up the emergency marker
        disk = DiskThread("sessionroom-disk")
        looks = DiskThread("sessionroom-look")
        journals = self._journals = DiskThread("sessionroom-journal")
        closes = self._closes = DiskThread("sessionroom-close")

        from_thread = functools.partial(call_from_thread, loop)
        marker = await self._from_data_folder(
            functools.partial(read_marker, latch_path(self.room)),
            "the emergency marker",
            "the room starts latched",
        )
        engine = Engine(
            self.room,
            clock=self.clock,
            music=outputs.music,
            tones=outputs.tones,
            music_problem=outputs.problem,
            close_journal=self._close_off_loop,
            from_thread=from_thread,
            on_disk=disk.submit,
            on_look=looks.submit,
            marker=marker or Marker(present=False, unread=self._folder_silent),
        )
        self.engine = engine
        self._tones = outputs.tones

        def reported() -> None:  # on a VLC thread
            loop.call_soon_threadsafe(self._input.set)

        outputs.on_report(reported)
        try:
            await self._serve(engine)
        finally:
            outputs.close()
            looks.close()
            journals.close()
            closes.close()
            # an emergency marker still being written is on disk before the end, unless the
            # disk hangs
            await asyncio.to_thread(disk.close, MARKER_WAIT_S)

    async def _serve(self, engine: Engine) -> None:
        async with broker_for(self.room) as settings:
            external = self.room.settings.broker.mode == "external"  # else started just now
            kept: list[bytes] = []
            if external and await another_engine_online(
                self.room, self._lookout, retained_state=kept
            ):
                raise RoomBusy(
                    f"room {self.room.room_id} already has an engine online on the broker at "
                    f"{settings.host}:{settings.port} (on another computer, or with another "
                    "data_dir); stop that one first"
                )
            data_dir, room_id = self.room.data_dir, self.room.room_id
            look = await self._from_data_folder(
                functools.partial(look_for_session, data_dir, room_id),
                "the session left open",
                "none is resumed",
            )
            resume_or_close(
                engine, data_dir, room_id, look or SessionsLook(None, problem=self._folder_silent)
            )
            latched, since = emergency_kept_on_the_broker(kept)
            if latched:
                engine.latched_on_the_broker(since)
            reports = (self._reports_login or settings) if self._reports_apart else None
            bus = Bus(
                settings,
                client_id=f"sessionroom-engine-{self.room.room_id}",
                root=self.room.root,
                will=Will(self.topics.status, OFFLINE),
                birth=Will(self.topics.status, ONLINE),
                device_topics=engine.output.device_topics(),
                max_payload_bytes=MAX_PAYLOAD_BYTES,
                intake=reports,
            )
            self.bus = bus
            bus.subscribe(
                self.topics.cmd,
                functools.partial(self._command, bus, engine),
                lane=CONTROL_LANE,
                at_once=True,
                urgent=lambda message: is_emergency(message.payload),
            )
            for topic_filter in engine.subscriptions():
                bus.subscribe(topic_filter, functools.partial(self._device, engine), intake=True)
            bus.on_connection(functools.partial(self._connection, engine))
            bus.on_intake(functools.partial(self._intake, engine))
            command = functools.partial(self._command, bus, engine)
            home_assistant = HomeAssistant(bus, self.room.settings, command)
            bus.on_dropped(
                lambda message, reason: engine.message_dropped(
                    message.topic, reason, flooding=reason.endswith(FULL)
                )
            )
            bus.on_lost(functools.partial(self._lost, engine))
            async with bus:
                await home_assistant.announce()
                if self._on_ready is not None:
                    self._on_ready(f"mqtt://{settings.host}:{settings.port}")
                if self._tones is not None:  # once its first states are out, not beside them
                    asyncio.get_running_loop().call_later(
                        PREPARE_TONES_AFTER_S, self._tones.prepare
                    )
                try:
                    await self._tick_forever(bus, engine)
                finally:
                    self._ending = True  # a start in line is refused, asks for no journal
                    for waiting in (self._acknowledging, *self._starts):
                        if waiting is not None:
                            waiting.cancel()
                    await self._drain_the_line()
                    await self._flush_journal(engine)

    # ------------------------------------------------------------------ inputs

    def _lost(self, engine: Engine, lost: list[Pending]) -> None:
        """Device messages dropped unsent: the engine learns which ramps to start again and
        which light bar sets did not start, before anything later of theirs goes to the
        socket."""
        try:
            engine.sends_lost(unsent_by_chain(lost))
        except Exception as error:  # a fault of ours: loud, and the bus goes on
            engine.fault("dropped device messages", error)

    def _command(self, bus: Bus, engine: Engine, message: Message) -> Awaitable[None] | None:
        """Carry out a command: its device messages are handed to the socket before this
        returns (the bus calls it as the command is read, `at_once`); what it returns does the
        rest (the reply, the journal, the state), or there is nothing more to do."""
        try:
            command = parse_command(message.payload)
        except BadCommand as problem:
            return self._reply(bus, problem.command_id or NO_ID, False, problem.reason)
        if message.retain:  # left on the broker, handed over at every connect: not live
            return self._reply(bus, command.id, False, RETAINED_COMMAND)
        if self._delivered_again(command, message.payload, latched=engine.emergency is not None):
            earlier = self._recent[command.id][1]
            # else its reply is still to come
            return None if earlier is None else self._reply_with_room(bus, earlier)
        self._remember(command.id, message.payload)
        arrival = message.arrival
        if command.action == "emergency":  # ahead of all, the line behind a start too
            overtaken = self._overtaken(arrival)
            self._pressed_arrival = max(self._pressed_arrival, arrival or 0)
            return self._carry_out(bus, engine, command, overtaken)
        under_way = self._starts or self._starts_in_line
        if self._line and not (isinstance(command, Start) and under_way):
            return self._behind_the_line(bus, engine, command, arrival)
        if isinstance(command, Start):
            started = self._start(bus, engine, command)
            if isinstance(started, asyncio.Task):
                self._join_line(started)
                return None
            if started is not None:
                return started
        return self._carry_out_in_turn(bus, engine, command, arrival)

    def _start(
        self, bus: Bus, engine: Engine, command: Start
    ) -> asyncio.Task[None] | Awaitable[None] | None:
        """A start the engine would carry out has its journal opened away from the event loop
        first: the task that does it (`_start_once_opened`); one refused here (another start
        under way, a fault of ours): what answers it; None: carried out as any command (the
        engine refuses it, as things stand)."""
        try:
            opening = engine.journal_to_open(command)
        except Exception as error:  # a fault of ours: answered as one, loudly
            return self._after_command(bus, engine, command, error, held=False)
        if opening is None:
            return None
        if self._ending:
            return self._carry_out(bus, engine, command, False, opened=CommandRefused(ENDING))
        if self._starts or self._starts_in_line:  # one at a time: never a queue of journals
            refusal = CommandRefused(START_UNDER_WAY)
            return self._carry_out_in_turn(bus, engine, command, None, refusal)
        start = asyncio.create_task(
            self._answering_faults(
                bus, engine, command, self._start_once_opened(bus, engine, command, opening)
            )
        )
        self._starts.add(start)
        start.add_done_callback(self._starts.discard)
        return start

    def _behind_the_line(
        self, bus: Bus, engine: Engine, command: Command, arrival: int | None
    ) -> Awaitable[None] | None:
        """Carry out `command` after the start under way and the commands behind it, in the
        order they came (sent right after a start, a note, a hold or an `end` is its session's);
        an emergency never waits in the line."""
        if len(self._line) > MAX_IN_LINE:  # refused at the broker's pace, as any flood goes
            return self._refuse_with_room(bus, engine, command, CommandRefused(LINE_FULL))
        assert self._last is not None  # set with the line's first task
        if isinstance(command, Start):
            self._starts_in_line += 1
        turn = asyncio.create_task(self._in_turn(self._last, bus, engine, command, arrival))
        self._join_line(turn)
        return None

    async def _drain_the_line(self) -> None:
        """As the service ends, the commands in line behind a start (given up) are carried
        out and answered in order, as those the bus still holds are (`Bus.__aexit__`); what
        has not ended within `LINE_EXIT_WAIT_S` (no room on the broker) is cancelled."""
        line = set(self._line)
        if not line:
            return
        _, left = await asyncio.wait(line, timeout=LINE_EXIT_WAIT_S)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left)

    def _join_line(self, task: asyncio.Task[None]) -> None:
        self._line.add(task)
        task.add_done_callback(self._line.discard)
        self._last = task

    async def _in_turn(
        self,
        previous: asyncio.Task[None],
        bus: Bus,
        engine: Engine,
        command: Command,
        arrival: int | None,
    ) -> None:
        try:
            await asyncio.wait({previous})
        finally:
            if isinstance(command, Start):
                self._starts_in_line -= 1
        await self._answering_faults(
            bus, engine, command, self._turn(bus, engine, command, arrival)
        )

    async def _answering_faults(
        self, bus: Bus, engine: Engine, command: Command, carrying_out: Awaitable[None]
    ) -> None:
        """Await a command carried out in a task of its own (in line, or a start opening its
        journal): a fault of ours escaping it is answered as one, loudly, when the command was
        not answered yet; the line behind it goes on."""
        try:
            await carrying_out
        except Exception as error:
            engine.fault(f"command {command.action}", error)
            recent = self._recent.get(command.id)
            answered = recent is None or recent[1] is not None
            if not answered and command.id not in self._to_acknowledge:  # nor to be
                await self._answer(
                    bus, command.id, False, f"internal error: {describe_error(error)}"
                )

    async def _turn(self, bus: Bus, engine: Engine, command: Command, arrival: int | None) -> None:
        if isinstance(command, Start):
            started = self._start(bus, engine, command)
            if isinstance(started, asyncio.Task):
                await asyncio.wait({started})  # the commands behind it wait for it
                return
            if started is not None:
                await started
                return
        await self._carry_out_in_turn(bus, engine, command, arrival)

    def _carry_out_in_turn(
        self,
        bus: Bus,
        engine: Engine,
        command: Command,
        arrival: int | None,
        refused_start: CommandRefused | None = None,
    ) -> Awaitable[None]:
        """Carry out `command` now, at the broker's pace when the outgoing queue is filling;
        one an emergency overtook on its way (arrived before it) is told so. `refused_start`:
        why a start is refused before its journal is opened (another start's is being
        opened): answered at the same pace (a flood of them refused at once pushed older
        messages out of the queue)."""
        if not bus.has_room_to_publish():  # a flood of commands goes at the broker's pace
            return self._carry_out_with_room(bus, engine, command, arrival, refused_start)
        return self._carry_out(bus, engine, command, self._overtaken(arrival), opened=refused_start)

    def _overtaken(self, arrival: int | None) -> bool:
        """Whether an emergency that arrived after a command (`arrival`) was carried out: judged
        as the command is carried out, not before it waits (a press meanwhile goes ahead)."""
        return arrival is not None and arrival < self._pressed_arrival

    async def _refuse_with_room(
        self, bus: Bus, engine: Engine, command: Command, refusal: CommandRefused
    ) -> None:
        await bus.room_to_publish()
        await self._after_command(bus, engine, command, refusal, held=False)

    async def _carry_out_with_room(
        self,
        bus: Bus,
        engine: Engine,
        command: Command,
        arrival: int | None,
        refused_start: CommandRefused | None,
    ) -> None:
        await bus.room_to_publish()  # an emergency pressed meanwhile overtakes a clear
        overtaken = self._overtaken(arrival)
        await self._carry_out(bus, engine, command, overtaken, opened=refused_start)

    async def _start_once_opened(
        self,
        bus: Bus,
        engine: Engine,
        command: Start,
        opening: Callable[[], Journal],
    ) -> None:
        """Open a start's journal away from the event loop, then carry the start out: a data
        folder that does not answer never holds up the commands meanwhile (an emergency's),
        and the start is refused once it has not answered for `JOURNAL_OPEN_WAIT_S`. An
        emergency pressed meanwhile refuses it as latched: its clear, sent after the start,
        waits in line behind it (`_behind_the_line`)."""
        opened: Journal | CommandRefused
        try:
            opened = await asyncio.wait_for(self._open(opening), JOURNAL_OPEN_WAIT_S)
        except TimeoutError:
            opened = CommandRefused(
                f"{self.room.data_dir} has not answered for {JOURNAL_OPEN_WAIT_S:g} s: "
                "cannot open the session journal"
            )
        except CommandRefused as refusal:
            opened = refusal
        except Exception as error:  # a fault of ours: answered as one
            await self._after_command(bus, engine, command, error, held=False)
            return
        taken = False
        try:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # the service is ending: a journal that came as it did, `wait_for` (3.11)
                # handed over and swallowed the cancel
                raise asyncio.CancelledError
            await bus.room_to_publish()
            rest = self._carry_out(bus, engine, command, False, opened=opened)
            session = engine.session
            taken = session is not None and session.journal is opened
        finally:
            # refused since it was asked for (a session, a press), or the service ended while
            # it waited for room on the broker: left open, the next engine would resume it
            if isinstance(opened, Journal) and not taken:
                self._discard(opened)
        await rest

    def _open(self, opening: Callable[[], Journal]) -> asyncio.Future[Journal]:
        """Open a journal on the journals' thread: the journal, or what opening it raised, in
        what this returns. One opened after that was cancelled (its start gave up waiting, or
        the service ended) is discarded."""
        assert self._journals is not None  # set while the service runs
        return off_the_loop(self._journals.submit, opening, late=self._discard)

    def _discard(self, journal: Journal) -> None:
        assert self._journals is not None  # set while the service runs
        self._journals.submit(journal.discard)

    def _carry_out(
        self,
        bus: Bus,
        engine: Engine,
        command: Command,
        overtaken: bool,
        *,
        opened: Journal | CommandRefused | None = None,
    ) -> Awaitable[None]:
        """Carry out `command` and hand its device messages to the socket now; its events are
        held until they are out (journaled by what this returns, `_after_command`). `opened`:
        a start's journal, opened away from the loop (`_start_once_opened`). A fault of ours
        while its events are written out is answered too (`_answering_faults`): carried out as
        it was read, what this returns is the bus's, which would only log it."""
        held = engine.recorder.hold()
        outcome: bool | Exception
        try:
            engine.command(command, overtaken=overtaken, opened=opened)
            outcome = self._send(bus, engine)
        except Exception as error:  # a refusal, or a fault of ours: answered after
            outcome = error
        after = self._after_command(bus, engine, command, outcome, held=held)
        return self._answering_faults(bus, engine, command, after)

    async def _after_command(
        self, bus: Bus, engine: Engine, command: Command, outcome: bool | Exception, *, held: bool
    ) -> None:
        """Write out the command's events, then reply and publish the state. `outcome`: whether
        device messages went to the socket (then the broker has `HANDOVER_S` to pass them on
        first), or what carrying it out raised."""
        try:
            try:
                if isinstance(outcome, Exception):
                    raise outcome
                if outcome:
                    await bus.pause_unless_busy(HANDOVER_S)
            finally:
                if held:
                    engine.recorder.release()  # journaled once its device messages are sent
        except CommandRefused as refusal:
            await self._answer(bus, command.id, False, str(refusal))
        except Exception as error:  # a fault of ours: the room goes on, loudly
            engine.fault(f"command {command.action}", error)
            await self._answer(bus, command.id, False, f"internal error: {describe_error(error)}")
        else:
            await self._flush(bus, engine)
            self._tick(engine)  # a fault of the tick's is not the command's: it was carried out
            await self._flush(bus, engine)
            if command.action == "emergency":
                await self._answer(bus, command.id, True, None)  # never waits for the disk
            else:
                self._acknowledge_when_durable(bus, engine, command.id)
        self._state_due = True
        await self._flush(bus, engine)
        self._input.set()

    def _acknowledge_when_durable(self, bus: Bus, engine: Engine, command_id: str) -> None:
        """Reply `ok` once the session's journal holds the command (once a journal it closed,
        `end`, is closed), without holding up the commands after it (a full disk or a flood of
        notes never delays an emergency)."""
        session = engine.session
        journal = None if session is None else session.journal
        self._unacknowledged.append((journal, frozenset(self._closing), command_id))
        self._to_acknowledge.add(command_id)
        if self._acknowledging is None or self._acknowledging.done():
            self._acknowledging = asyncio.create_task(self._acknowledge(bus))

    async def _acknowledge(self, bus: Bus) -> None:
        """Wait (off the loop, briefly) until the journals hold the commands, then reply.

        An acknowledged operator action survives a crash right after it (a `hold` is still
        held on resume). The commands accepted meanwhile are acknowledged together after one
        flush (a group commit). With a refusing disk the wait ends after DURABLE_WAIT_S: the
        events stay buffered and the alert says so.
        """
        while self._unacknowledged:
            batch, self._unacknowledged = self._unacknowledged, []
            journals = {id(journal): journal for journal, _, _ in batch if journal is not None}
            for journal in journals.values():
                await asyncio.to_thread(journal.flush, timeout_s=DURABLE_WAIT_S)
            closing = set().union(*(being_closed for _, being_closed, _ in batch))
            if closing:
                await asyncio.wait(closing, timeout=DURABLE_WAIT_S)
            for _, _, command_id in batch:
                self._to_acknowledge.discard(command_id)
                await self._answer(bus, command_id, True, None)

    def _media_error(self, problem: str) -> None:
        if self.engine is not None:
            self.engine.media_error(problem)

    def _device(self, engine: Engine, message: Message) -> None:
        try:
            engine.device_message(message.topic, message.payload, retained=message.retain)
        except Exception as error:  # a fault of ours: the room goes on, loudly
            engine.fault(f"a message on {message.topic}", error)
        self._input.set()

    def _connection(self, engine: Engine, change: ConnectionChange) -> None:
        engine.broker_changed(change.connected, change.reason, change.outage_s)
        self._state_due = True
        self._input.set()

    def _intake(self, engine: Engine, change: ReportsChange) -> None:
        engine.reports_changed(change.failure, shared=change.read_by_first)
        self._state_due = True
        self._input.set()

    def _remember(self, command_id: str, payload: bytes) -> None:
        """Remember a command as the latest, and forget the oldest answered one beyond
        `RECENT_COMMANDS`: never one still to be answered (waiting in line behind a start, or
        for the journal) while an answered one can go, so that a flood of commands refused at
        once cannot push it out and its delivery again be carried out twice."""
        self._recent[command_id] = (_digest(payload), None)
        self._recent.move_to_end(command_id)
        if len(self._recent) > RECENT_COMMANDS:
            answered = (key for key, (_, reply) in self._recent.items() if reply is not None)
            del self._recent[next(answered, next(iter(self._recent)))]

    def _delivered_again(self, command: Command, payload: bytes, *, latched: bool) -> bool:
        """Whether `command` is one the engine acted on, delivered again: the same id and the
        same message. Another message under a used id is a new command (a sender that
        reuses ids). An emergency sent again because its sender's connection dropped is
        not a second press (which would cut the lights' fade short): it is known again
        once it was carried out while the room is still latched, and carried out again if
        that failed or the room was cleared since (a button's fixed message, pressed again)."""
        earlier = self._recent.get(command.id)
        if earlier is None or earlier[0] != _digest(payload):
            return False
        if command.action != "emergency":
            return True
        if command.id == NO_ID:
            return False  # no id of its own (a panic button's fixed message): a new press
        reply = earlier[1]
        return latched and reply is not None and reply.get("ok") is True

    async def _answer(self, bus: Bus, command_id: str, ok: bool, error: str | None) -> None:
        """Reply to a command the engine acted on; the reply is kept for a repeat of it."""
        reply = _reply_message(command_id, ok, error)
        if command_id in self._recent:
            self._recent[command_id] = (self._recent[command_id][0], reply)
        await self._send_reply(bus, reply)

    async def _reply(self, bus: Bus, command_id: str, ok: bool, error: str | None) -> None:
        """Answer a message on the command topic the engine does not act on (one that is no
        command, one left retained), at the broker's pace."""
        await self._reply_with_room(bus, _reply_message(command_id, ok, error))

    async def _reply_with_room(self, bus: Bus, reply: dict[str, Any]) -> None:
        """Send a reply once the outgoing queue has room: a flood of messages answered at once
        (no command, or one delivered again) would push older messages out of it, a device's
        target among them, as a flood of commands would (`_carry_out_in_turn`)."""
        await bus.room_to_publish()
        await self._send_reply(bus, reply)

    async def _send_reply(self, bus: Bus, reply: dict[str, Any]) -> None:
        await bus.publish(self.topics.reply(reply["id"]), json.dumps(reply), qos=1)

    # ------------------------------------------------------------------ the loop

    async def _tick_forever(self, bus: Bus, engine: Engine) -> None:
        loop = asyncio.get_running_loop()
        last_state = 0.0
        while True:
            self._input.clear()
            self._tick(engine)  # a tick that faults holds up neither its messages nor the state
            try:
                await self._flush(bus, engine)
                due = self._state_due or engine.checks.take_changed()  # "BP due" shows at once
                if due or loop.time() - last_state >= STATE_EVERY_S:
                    await bus.publish(
                        self.topics.state,
                        engine.snapshot().model_dump_json(),
                        qos=1,
                        retain=True,
                        key=self.topics.state,  # waiting for the broker, only the latest
                    )
                    self._state_due = False
                    last_state = loop.time()
            except Exception as error:  # a fault of ours: the next tick tries again, loudly
                engine.fault("publishing the state", error)
            await self._until_next_tick(engine, last_state + STATE_EVERY_S - loop.time())

    @staticmethod
    def _tick(engine: Engine) -> None:
        """Tick the engine; a fault of ours is loud (journaled, a critical alert the state
        shows), and what the engine let out and the state are published all the same: a tick
        that faults on every turn would otherwise keep the room's state (its emergency, the
        alert itself) from every console."""
        try:
            engine.tick()
        except Exception as error:
            engine.fault("the tick", error)

    async def _until_next_tick(self, engine: Engine, until_state_s: float) -> None:
        """Wait TICK_S; while nothing moves, wait on (in one wait, one wake-up) until
        IDLE_TICK_S, the engine's next work or the state's time, or until an input comes;
        never less than TICK_S from the end of the tick."""
        loop = asyncio.get_running_loop()
        earliest = loop.time() + TICK_S
        try:
            wait_s = idle_wait_s(engine.seconds_to_work(), until_state_s)
        except Exception as error:  # a fault of ours: tick at the full rate, loudly
            engine.fault("the tick", error)
            wait_s = TICK_S
        if wait_s > TICK_S and not self._input.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._input.wait()
        rest_s = earliest - loop.time()
        if rest_s > 0:
            await asyncio.sleep(rest_s)

    def _send(self, bus: Bus, engine: Engine) -> bool:
        """Hand the device messages the engine let out to the socket now; whether any went."""
        outgoing = engine.take_outgoing()
        for message in outgoing:
            bus.publish_gated(message)
        return bool(outgoing) and bus.send_now()

    async def _flush(self, bus: Bus, engine: Engine) -> None:
        self._send(bus, engine)  # the device messages leave before the events are encoded
        for event in engine.take_events():
            await bus.publish(self.topics.events, json.dumps(public_event(event)), qos=0)

    # ------------------------------------------------------------------ journal

    def _close_off_loop(self, journal: Journal, cleanly: bool) -> None:
        """Close an ended session's journal on the closes' daemon thread (`DiskThread`), not
        the loop's executor, whose threads the process waits for as it exits: a disk that
        hangs in the close (its end noted beside it, then fsynced) kept the engine from
        ending. What the close raised, if anything, is logged (`_closed`)."""
        assert self._closes is not None  # set while the service runs
        close = functools.partial(journal.close, ended_cleanly=cleanly)
        closed = off_the_loop(self._closes.submit, close)
        self._closing.add(closed)
        closed.add_done_callback(self._closed)

    def _closed(self, future: asyncio.Future[None]) -> None:
        """A journal's close ended; if the disk still refused, its writer goes on retrying and
        the end is noted beside the journal, so the next start closes it instead of resuming."""
        self._closing.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("%s", future.exception())

    async def _flush_journal(self, engine: Engine) -> None:
        """On the way out, wait for journals being closed and flush the open one (not ended)."""
        if self._closing:
            _, left = await asyncio.wait(set(self._closing), timeout=CLOSE_EXIT_WAIT_S)
            if left:
                log.error(
                    "%d session journal(s) not closed within %g s (the disk does not answer); "
                    "their end is noted beside them, or the next start closes them",
                    len(left),
                    CLOSE_EXIT_WAIT_S,
                )
        session = engine.session
        if session is not None:
            await asyncio.get_running_loop().run_in_executor(None, session.journal.flush)
