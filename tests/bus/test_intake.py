"""The bus's intake connection: filters read apart from the first connection, on a real Mosquitto.

What it is for (a flood of device reports never stands in front of a command) is measured
end to end in tests/engine/test_report_flood.py; here, what it must keep of the bus: every
message handed over once, late subscriptions, a broker restart, and a client id of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from controller.bus import Message, ReportsChange
from controller.bus import bus as bus_module
from controller.bus.bus import Bus
from tests.bus.support import (
    FAST_RETRY,
    ConnectionLog,
    Recorder,
    eventually,
    fresh_prefix,
    publish_from_outside,
    settings_for,
)
from tests.support.mosquitto import Mosquitto
from tests.support.requirements import mosquitto_binary

pytestmark = pytest.mark.mosquitto


def bus_with_intake(broker: Mosquitto, client_id: str) -> Bus:
    settings = settings_for(broker.host, broker.port)
    return Bus(settings, client_id=client_id, intake=settings, **FAST_RETRY)


async def until_heard(broker: Mosquitto, topic: str, recorder: Recorder) -> None:
    """Publish on `topic` until `recorder` has it: the intake connection subscribes in its
    own time, so what was published before it did is not heard."""
    for _ in range(100):
        heard = len(recorder.messages)
        await publish_from_outside(broker.host, broker.port, topic, "probe")
        await asyncio.sleep(0.05)
        if len(recorder.messages) > heard:
            return
    raise AssertionError(f"{topic} never heard on the intake connection")


def intake_down_bus(
    mosquitto: Mosquitto,
    private_mosquitto: Mosquitto,
    monkeypatch: pytest.MonkeyPatch,
    client_id: str,
    told_after_s: float = 0.3,
) -> tuple[Bus, list[ReportsChange]]:
    """The first connection on `mosquitto`, the intake on `private_mosquitto`, stopped here:
    its failure told after `told_after_s`, the first connection waiting 0.05 s for it at
    each connect. Returns the bus and the list of what it tells of the reports."""
    monkeypatch.setattr(bus_module, "INTAKE_TOLD_AFTER_S", told_after_s)
    monkeypatch.setattr(bus_module, "INTAKE_WAIT_S", 0.05)
    private_mosquitto.stop()
    bus = Bus(
        settings_for(mosquitto.host, mosquitto.port),
        client_id=client_id,
        intake=settings_for(private_mosquitto.host, private_mosquitto.port),
        **FAST_RETRY,
    )
    told: list[ReportsChange] = []
    bus.on_intake(told.append)
    return bus, told


async def test_a_message_both_connections_receive_reaches_each_handler_once(
    mosquitto: Mosquitto,
) -> None:
    """A report matches an intake filter and a filter of the first connection: the broker
    sends it on both, and each handler gets it once (from the first connection)."""
    prefix, probe = fresh_prefix(), fresh_prefix()
    reports, everything, probes = Recorder(), Recorder(), Recorder()
    async with bus_with_intake(mosquitto, f"engine-{prefix[-12:]}") as bus:
        bus.subscribe(f"{prefix}/device/+/state", reports, intake=True)
        bus.subscribe(f"{probe}/ready", probes, intake=True)
        bus.subscribe(f"{prefix}/#", everything)
        assert await bus.wait_connected(timeout=5)
        await until_heard(mosquitto, f"{probe}/ready", probes)  # both intake filters are in
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/device/a/state", "1")
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/cmd", "go")
        await until_heard(mosquitto, f"{probe}/ready", probes)  # the intake's copy came before
        await eventually(lambda: everything.payloads[-1:] == ["go"])
    assert reports.messages == [Message(f"{prefix}/device/a/state", b"1", retain=False)]
    assert everything.payloads == ["1", "go"]


async def test_an_intake_filter_subscribed_later_and_after_a_broker_restart_is_read(
    private_mosquitto: Mosquitto,
) -> None:
    broker = private_mosquitto
    prefix = fresh_prefix()
    early, late = Recorder(), Recorder()
    async with bus_with_intake(broker, "engine") as bus:
        bus.subscribe(f"{prefix}/early", early, intake=True)
        assert await bus.wait_connected(timeout=5)
        bus.subscribe(f"{prefix}/late", late, intake=True)
        await until_heard(broker, f"{prefix}/late", late)
        broker.restart()
        assert await bus.wait_connected(timeout=10)
        await until_heard(broker, f"{prefix}/early", early)
        await until_heard(broker, f"{prefix}/late", late)


async def test_the_intake_connection_never_takes_the_first_one_s_place(
    mosquitto: Mosquitto,
) -> None:
    """The broker closes a connection when another comes under its client id: with one id
    for both, each would keep taking the other's place. The first connection stays up."""
    prefix = fresh_prefix()
    reports = Recorder()
    connections = ConnectionLog()
    bus = bus_with_intake(mosquitto, f"engine-{prefix[-12:]}")
    bus.on_connection(connections)
    async with bus:
        bus.subscribe(f"{prefix}/state", reports, intake=True)
        assert await bus.wait_connected(timeout=5)
        for _ in range(3):
            await until_heard(mosquitto, f"{prefix}/state", reports)
        assert connections.states == [True]


async def test_an_intake_connection_down_a_while_is_told_and_the_first_reads_its_filters(
    mosquitto: Mosquitto, private_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine must learn how its device reports come in: the intake's broker (here
    another one, stopped) is away while the first connection is up. A failure shorter than
    `INTAKE_TOLD_AFTER_S` (a broker restarting) is not told; a longer one is, once the first
    connection reads the intake's filters in its place. Once the intake is back it reads
    them again, and the first one gives them back: each report is handed over once, from
    the connection that reads them at the time. Back that long, a short outage is not told
    again (back for less, it is the same failure going on:
    `test_an_intake_that_fails_every_time_moments_after_it_is_up_is_told`)."""
    prefix = fresh_prefix()
    client_id = f"engine-{prefix[-12:]}"
    bus, told = intake_down_bus(mosquitto, private_mosquitto, monkeypatch, client_id, 0.6)
    reports = Recorder()
    async with bus:
        bus.subscribe(f"{prefix}/state", reports, intake=True)
        assert await bus.wait_connected(timeout=5)
        await asyncio.sleep(0.2)
        assert told == []  # not yet: it may be a broker restarting
        await eventually(lambda: len(told) == 1)
        failure = told[0].failure
        assert failure is not None and "refused" in failure.lower()
        assert told == [ReportsChange(failure)]  # the first connection listens for them
        await until_heard(mosquitto, f"{prefix}/state", reports)  # and they come in there
        await asyncio.sleep(0.6)  # many more attempts fail meanwhile, for the same reason
        assert told[1:] == [ReportsChange(failure, read_by_first=True)]

        private_mosquitto.start()
        await eventually(lambda: told[2:] == [ReportsChange(None)], 10)
        await until_heard(private_mosquitto, f"{prefix}/state", reports)
        heard = len(reports.messages)
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/state", "first")
        await until_heard(private_mosquitto, f"{prefix}/state", reports)
        assert "first" not in reports.payloads[heard:]  # given back: not read there any more
        await asyncio.sleep(0.6)  # back as long as it was to be down before it is told
        private_mosquitto.restart()
        await eventually(lambda: len(told) == 4, 10)
        await until_heard(private_mosquitto, f"{prefix}/state", reports)
    assert told[3:] == [ReportsChange(None)]  # up again after a short outage, which was not told


async def test_a_report_is_handed_over_once_while_the_first_connection_reads_for_the_intake(
    mosquitto: Mosquitto, private_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both connections on one broker, the intake's login refused: the first connection
    reads the reports; a message its own filter matches too is handed over once."""
    prefix = fresh_prefix()
    bus, told = intake_down_bus(mosquitto, private_mosquitto, monkeypatch, f"engine-{prefix[-12:]}")
    reports, everything = Recorder(), Recorder()
    async with bus:
        bus.subscribe(f"{prefix}/device/+/state", reports, intake=True)
        bus.subscribe(f"{prefix}/#", everything)
        assert await bus.wait_connected(timeout=5)
        await eventually(lambda: [change.read_by_first for change in told] == [False])
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/device/a/state", "1")
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/cmd", "go")
        await eventually(lambda: everything.payloads[-1:] == ["go"])
        await asyncio.sleep(0.1)
    assert reports.payloads == ["1"]
    assert everything.payloads == ["1", "go"]
    assert [change.read_by_first for change in told] == [False, True]


async def test_the_intake_connection_leaves_no_task_behind(mosquitto: Mosquitto) -> None:
    before = asyncio.all_tasks()
    async with bus_with_intake(mosquitto, f"engine-{fresh_prefix()[-12:]}") as bus:
        bus.subscribe(f"{fresh_prefix()}/state", Recorder(), intake=True)
        assert await bus.wait_connected(timeout=5)
        await asyncio.sleep(0.2)
    assert asyncio.all_tasks() - before == set()


async def test_the_first_connection_says_it_is_up_once_the_intake_is_subscribed(
    private_mosquitto: Mosquitto,
) -> None:
    """The engine asks its devices for their state as its connection comes (back) up: the
    answers come on the intake, which must be subscribed by then (after a broker restart,
    answers were lost while the intake waited out its own backoff). Published once, as the
    bus says it is up again, a report is heard."""
    broker = private_mosquitto
    prefix = fresh_prefix()
    reports = Recorder()
    connections = ConnectionLog()
    settings = settings_for(broker.host, broker.port)
    bus = Bus(settings, client_id="engine", intake=settings, retry_first_s=0.02, retry_max_s=1.0)
    bus.on_connection(connections)
    async with bus:
        bus.subscribe(f"{prefix}/state", reports, intake=True)
        assert await bus.wait_connected(timeout=5)
        for restart in range(3):
            broker.stop()
            await eventually(lambda: not bus.connected)
            await asyncio.sleep(0.5)  # both connections back off meanwhile
            broker.start()
            await eventually(lambda r=restart: connections.states.count(True) == r + 2, 10)
            await publish_from_outside(broker.host, broker.port, f"{prefix}/state", f"{restart}")
            await eventually(lambda r=restart: reports.payloads[-1:] == [f"{r}"])


@pytest.fixture
def persistent_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto of the test's own that keeps what is retained across a restart, as a
    facility broker does."""
    broker = Mosquitto(
        mosquitto_binary(),
        tmp_path,
        extra_config=f"user root\npersistence true\npersistence_location {tmp_path}/\n",
    )
    broker.start()
    yield broker
    broker.stop()


async def publish_retained(broker: Mosquitto, topic: str, payload: str) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, payload, qos=1, retain=True)


def held_after_suback(
    monkeypatch: pytest.MonkeyPatch, identifier: str, topic_filter: str | None = None
) -> tuple[asyncio.Event, asyncio.Event]:
    """Hold each subscription of the connection `identifier` (one with `topic_filter` when
    given) once its SUBACK is in, before the connection looks at it: `held` is set then, and
    it goes on once `release` is."""
    held, release = asyncio.Event(), asyncio.Event()
    subscribe = bus_module._subscribe

    async def subscribe_slowly(client: Any, filters: list[str]) -> None:
        await subscribe(client, filters)
        if client.identifier == identifier and topic_filter in (None, *filters):
            held.set()
            await release.wait()

    monkeypatch.setattr(bus_module, "_subscribe", subscribe_slowly)
    return held, release


def first_connection_arrivals(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The topics of what the first connection reads (taken or not); the intake's `_arrived`
    was bound when the bus was made, the first's is looked up at each connect."""
    topics: list[str] = []
    arrived = bus._arrived

    def first_arrived(message: Message, *, on_intake: bool = False) -> None:
        if not on_intake:
            topics.append(message.topic)
        arrived(message, on_intake=on_intake)

    monkeypatch.setattr(bus, "_arrived", first_arrived)
    return topics


async def test_the_intake_back_while_the_first_subscribes_in_its_place_is_given_back(
    mosquitto: Mosquitto, private_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intake comes back while the first connection's SUBSCRIBE to its filters is in
    flight: once the SUBACK is in, the first connection gives them back all the same (else
    it goes on reading a device's flood for good, in front of every command, unsaid)."""
    prefix = fresh_prefix()
    client_id = f"engine-{prefix[-12:]}"
    held, release = held_after_suback(monkeypatch, client_id, f"{prefix}/state")
    bus, told = intake_down_bus(mosquitto, private_mosquitto, monkeypatch, client_id)
    first = first_connection_arrivals(bus, monkeypatch)
    reports = Recorder()
    async with bus:
        bus.subscribe(f"{prefix}/state", reports, intake=True)
        assert await bus.wait_connected(timeout=5)
        await asyncio.wait_for(held.wait(), 5)
        private_mosquitto.start()
        await eventually(lambda: ReportsChange(None) in told, 10)
        release.set()
        await until_heard(private_mosquitto, f"{prefix}/state", reports)
        await asyncio.sleep(0.3)
        first.clear()
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/state", "flood")
        await asyncio.sleep(0.3)
    assert first == []  # the first connection reads them no more


async def test_reports_heard_on_the_first_connection_as_the_intake_comes_back_are_not_told_after(
    mosquitto: Mosquitto, private_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intake's SUBACK and the first report on the first connection are read on one turn
    of the event loop (the intake's first, its task runs next): the bus must not tell the
    reports come in on the first connection, theirs being down, after it told they are back."""
    prefix = fresh_prefix()
    client_id = f"engine-{prefix[-12:]}"
    intake_held, release = held_after_suback(monkeypatch, f"{client_id}-intake")
    bus, told = intake_down_bus(mosquitto, private_mosquitto, monkeypatch, client_id)
    arrived = bus._arrived

    def first_arrived(message: Message, *, on_intake: bool = False) -> None:
        if not on_intake and message.payload == b"together":
            release.set()  # the intake's task is woken on this same turn, before what follows
        arrived(message, on_intake=on_intake)

    monkeypatch.setattr(bus, "_arrived", first_arrived)
    async with bus:
        bus.subscribe(f"{prefix}/state", Recorder(), intake=True)
        assert await bus.wait_connected(timeout=5)
        await eventually(lambda: len(told) == 1)
        private_mosquitto.start()
        await asyncio.wait_for(intake_held.wait(), 10)
        await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/state", "together")
        await eventually(lambda: ReportsChange(None) in told)
        await asyncio.sleep(0.2)
    assert told[-1] == ReportsChange(None)


@pytest.mark.parametrize("slow", ["suback", "up"])
async def test_a_retained_report_is_handed_over_once_after_a_broker_restart(
    persistent_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch, slow: str
) -> None:
    """The broker (keeping what is retained, as a facility broker does) is away longer than
    `INTAKE_TOLD_AFTER_S`, then back: the intake's failure was told, and the first connection
    is up before the intake, whose SUBACK comes a little later (`suback`) or which says it is
    up a little after its SUBACK (`up`), what the broker retained of its filters read
    meanwhile. Each retained report is handed over once: the first connection must not
    subscribe to them in the intake's place meanwhile (it came on both subscriptions, and was
    handed over and journaled twice), and what the intake reads before it says it is up is
    its own to hand over (it was dropped as if the first connection read them)."""
    monkeypatch.setattr(bus_module, "INTAKE_TOLD_AFTER_S", 0.3)
    broker = persistent_mosquitto
    prefix = fresh_prefix()
    client_id = f"engine-{prefix[-12:]}"
    subscribe = bus_module._subscribe

    async def intake_later(client: Any, filters: list[str]) -> None:
        intake = client.identifier == f"{client_id}-intake"
        if intake and slow == "suback":
            await asyncio.sleep(0.2)
        await subscribe(client, filters)
        if intake and slow == "up":
            await asyncio.sleep(0.1)

    monkeypatch.setattr(bus_module, "_subscribe", intake_later)
    await publish_retained(broker, f"{prefix}/device/a/state", "on")
    reports = Recorder()
    bus = bus_with_intake(broker, client_id)
    async with bus:
        bus.subscribe(f"{prefix}/device/+/state", reports, intake=True)
        assert await bus.wait_connected(timeout=5)
        await eventually(lambda: reports.payloads == ["on"])
        broker.stop()
        await asyncio.sleep(0.8)  # the intake's failure is told meanwhile
        broker.start()
        await eventually(lambda: reports.payloads == ["on", "on"], 10)
        await asyncio.sleep(0.5)
    assert reports.payloads == ["on", "on"]  # once for each time it was subscribed


def flapping_intake_bus(
    broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> tuple[Bus, str, list[ReportsChange], list[float]]:
    """A bus with its intake on `broker`, its failure told after 0.6 s: the bus, its client
    id, what it tells of the reports, and when (loop time) its intake comes up."""
    monkeypatch.setattr(bus_module, "INTAKE_TOLD_AFTER_S", 0.6)
    client_id = f"engine-{fresh_prefix()[-12:]}"
    bus = bus_with_intake(broker, client_id)
    told: list[ReportsChange] = []
    bus.on_intake(told.append)
    loop = asyncio.get_running_loop()
    ups: list[float] = []
    came_up = bus_module._Intake._came_up

    def counted(intake: Any) -> None:
        ups.append(loop.time())
        came_up(intake)

    monkeypatch.setattr(bus_module._Intake, "_came_up", counted)
    return bus, client_id, told, ups


async def knock_out_the_intake(
    broker: Mosquitto, client_id: str, ups: list[float], seen: int, up_s: float
) -> int:
    """Once the intake has come up after the `seen`th time and been up `up_s`, take its
    client id (the broker closes its connection for the newcomer); how many times it was up."""
    await eventually(lambda: len(ups) > seen, 5)
    seen = len(ups)
    await asyncio.sleep(up_s)
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"{client_id}-intake"):
        pass
    return seen


async def test_an_intake_that_fails_every_time_moments_after_it_is_up_is_told(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another client takes the intake's client id each time it is up (a second engine of
    the room, say): it is up a moment, down a moment, never down for `INTAKE_TOLD_AFTER_S`
    at a stretch. Its failure is told once it has been failing that long since it was last
    up that long, and the first connection reads the reports (each moment up started the
    wait again: it was never told, and the reports sent while it was down were lost)."""
    bus, client_id, told, ups = flapping_intake_bus(mosquitto, monkeypatch)
    loop = asyncio.get_running_loop()
    async with bus:
        bus.subscribe(f"{fresh_prefix()}/device/+/state", Recorder(), intake=True)
        assert await bus.wait_connected(timeout=5)
        deadline = loop.time() + 6.0
        seen = 0
        while not any(change.failure for change in told) and loop.time() < deadline:
            seen = await knock_out_the_intake(mosquitto, client_id, ups, seen, 0.2)
        failures = [change.failure for change in told if change.failure is not None]
        assert failures, f"never told in 6 s, up {seen} times"
        assert loop.time() < deadline


async def test_an_intake_told_failing_that_goes_on_flapping_stays_told_and_loses_no_report(
    mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An intake up only a moment at a time is told failing, then back at its next moment up
    (it may be back for good), then failing again once lost: it is flapping, and each further
    moment up is the same failure going on. It is not told back for them (the engine's alert
    flickered, its journal took three events and every device was asked for its state twice
    each time), the first connection goes on reading the reports (giving them back and
    taking them again each time lost those sent in between), and once the intake stays up
    `INTAKE_TOLD_AFTER_S` it is told back."""
    bus, client_id, told, ups = flapping_intake_bus(mosquitto, monkeypatch)
    prefix = fresh_prefix()
    reports = Recorder()
    loop = asyncio.get_running_loop()
    sent: list[str] = []
    stop_reporting = asyncio.Event()

    async def report_every_20_ms() -> None:
        while not stop_reporting.is_set():  # never stopped in the middle of a publish
            sent.append(str(len(sent)))
            await publish_from_outside(mosquitto.host, mosquitto.port, f"{prefix}/state", sent[-1])
            await asyncio.sleep(0.02)

    told_at: list[float] = []
    bus.on_intake(lambda change: told_at.append(loop.time()))
    async with bus:
        bus.subscribe(f"{prefix}/state", reports, intake=True)
        assert await bus.wait_connected(timeout=5)
        deadline = loop.time() + 8.0
        first_told: int | None = None
        reporting: asyncio.Task[None] | None = None
        kicked = 0
        while loop.time() < deadline:
            failures = [change for change in told if change.failure and not change.read_by_first]
            if first_told is None and len(failures) >= 2:  # told, back, told again
                first_told = len(told)
                reporting = asyncio.create_task(report_every_20_ms())
                deadline = loop.time() + 2.0  # flapping, told failing
            kicked = await knock_out_the_intake(mosquitto, client_id, ups, kicked, 0.15)
        assert first_told is not None and reporting is not None
        await asyncio.sleep(0.3)  # the last moment lost
        stop_reporting.set()
        await reporting
        await asyncio.sleep(0.3)
        # the intake is up for good since its last moment up, and may be told back by now
        up_for_good = ups[-1] + bus_module.INTAKE_TOLD_AFTER_S - 0.01
        flapping = [change for at, change in zip(told_at, told, strict=True) if at < up_for_good]
        assert ReportsChange(None) not in flapping[first_told:], f"told back while flapping: {told}"
        assert reports.payloads == sent, "reports lost or handed over twice while flapping"
        await eventually(lambda: told[-1:] == [ReportsChange(None)], 5)  # up for good


async def test_a_retained_report_is_handed_over_once_after_a_broker_restart_while_flapping(
    persistent_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intake is flapping (told failing, back, failing again) and up a moment, not told
    back yet, when the broker restarts: the broker was away for both connections, and the
    intake, back as the first one is, is told back at once. The first connection must not
    subscribe to its filters in its place (what the broker retained came on both, and was
    handed over twice)."""
    broker = persistent_mosquitto
    prefix = fresh_prefix()
    loop = asyncio.get_running_loop()
    bus, client_id, told, ups = flapping_intake_bus(broker, monkeypatch)
    await publish_retained(broker, f"{prefix}/device/a/state", "on")
    reports = Recorder()
    async with bus:
        bus.subscribe(f"{prefix}/device/+/state", reports, intake=True)
        assert await bus.wait_connected(timeout=5)
        kicked = 0
        deadline = loop.time() + 8.0
        while loop.time() < deadline:
            await eventually(lambda seen=kicked: len(ups) > seen, 5)
            failures = [change for change in told if change.failure and not change.read_by_first]
            if len(failures) >= 2:  # told, back, told again: flapping, and up a moment now
                break
            kicked = await knock_out_the_intake(broker, client_id, ups, kicked, 0.15)
        assert told[-1].failure is not None, "flapping, up, not told back yet"
        await asyncio.sleep(0.2)
        handed = len(reports.payloads)
        broker.restart()
        await eventually(lambda: len(reports.payloads) > handed, 10)
        await asyncio.sleep(0.5)
    assert reports.payloads[handed:] == ["on"]  # once, though it came on both


async def test_a_retained_report_the_intake_reads_back_before_the_first_connection_is_kept(
    persistent_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The intake was down a while (told), the first connection reading its filters, when the
    broker restarts; the intake is back first, and reads what the broker retained of them
    before it says it is up. That is its own to hand over: the first connection, lost, reads
    nothing (it was dropped as if read there, and once the intake was told back, the first
    did not subscribe to them again: lost)."""
    monkeypatch.setattr(bus_module, "INTAKE_TOLD_AFTER_S", 0.3)
    broker = persistent_mosquitto
    prefix = fresh_prefix()
    client_id = f"engine-{prefix[-12:]}"
    subscribe = bus_module._subscribe
    refused = True

    async def intake_refused_then_slow(client: Any, filters: list[str]) -> None:
        if client.identifier == f"{client_id}-intake":
            if refused:
                raise aiomqtt.MqttError("refused here")
            await subscribe(client, filters)
            await asyncio.sleep(0.1)  # says it is up a little after its SUBACK
            return
        await subscribe(client, filters)

    monkeypatch.setattr(bus_module, "_subscribe", intake_refused_then_slow)
    serve = Bus._serve
    serving = 0

    async def first_back_late(bus: Bus, client: Any, receiving: Any) -> None:
        nonlocal serving
        serving += 1
        if serving > 1:
            await asyncio.sleep(0.5)  # the first connection back after the intake
        await serve(bus, client, receiving)

    monkeypatch.setattr(Bus, "_serve", first_back_late)
    await publish_retained(broker, f"{prefix}/device/a/state", "on")
    reports = Recorder()
    bus = bus_with_intake(broker, client_id)
    told: list[ReportsChange] = []
    bus.on_intake(told.append)
    async with bus:
        bus.subscribe(f"{prefix}/device/+/state", reports, intake=True)
        assert await bus.wait_connected(timeout=5)
        await eventually(lambda: [change.read_by_first for change in told][-1:] == [True])
        assert reports.payloads == ["on"]  # read by the first connection in the intake's place
        refused = False
        broker.restart()
        await eventually(lambda: len(reports.payloads) > 1, 5)
        await asyncio.sleep(0.5)
    assert reports.payloads == ["on", "on"]  # once for each time it was subscribed
