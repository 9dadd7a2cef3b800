"""Replay targets on MQTT: a simulated room under a replay room id, or a real room's devices.

`SimTarget` (`--target sim`) runs the room's lights, headset and BLS devices as simulated
devices whose topics carry the replay room id (`<replay>-zigbee2mqtt/<replay>-ceiling_light/set`:
a Zigbee light's base topic too, so the replay's Zigbee2MQTT has a bridge state of its own),
so nothing reaches a real device; it sends them the recorded commands, and publishes what
a live engine publishes under `sessionroom/<replay>/`: retained `status` (online, and
offline as its will) and `state`, and the `events` stream (notes without their words).

`LiveTarget` (`--target live`) sends the recorded commands to the real devices of a room
through the engine's own output path (`controller.engine.output`) with that room's limits
(docs/safety.md#replay-into-a-live-room): each recorded message is read back into the
command it carried by the target room's driver for that device, so only the room's own
device topics and only what its drivers send are replayed; the command then passes the
safety gate (flash rate, volume cap and ramp, BLS speed, length, intensity) before the
driver writes it out again. Half a second (real time; a light bar a cycle at its top speed
more) after the length the gate judged for a set it started, the BLS device is told to stop,
as the engine does (`controller.engine.bls.stop_grace_s`),
whatever the replay's speed or pauses; a set still running when the replay ends is stopped
then. The replay runs never faster than the session ran, and stops the moment anyone
commands that room's engine (it listens on the room's `cmd` topic and on its emergency
button's, so it stops before the engine acts on an emergency) or the room's retained state
shows a session or an emergency, or cannot be read (it may hide either: so too when the
connection to the broker is lost, as what was queued meanwhile would go out on reconnecting
before the state is read again); halted, it sends nothing more, stops included. It sends
nothing before it has read that retained state (or waited `STATUS_WAIT_S` for a room that
has none): a session begun since the command line's check is in it.
`engine_activity()` tells the command line beforehand what the room's retained status and
state say.

Both targets give what they publish a deadline, `LATE_AFTER_S`: a replayed message that could
not go out in time (the broker away, or silent until the bus noticed) is dropped, not sent
late, and counted in the target's `late`; the replayed state waits as the latest only. The
timeline goes at QoS 1, as the commands do: behind a message a silent broker does not
acknowledge, the next ones wait in the bus's queue, where their deadline reaches them (at
QoS 0 they went on into the connection, to arrive late when the broker resumed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.api.topics import MAX_STATE_BYTES, OFFLINE, ONLINE, RoomTopics
from controller.bus import ConnectionChange, Message, Will
from controller.bus.bus import Bus
from controller.bus.credentials import unique_client_id
from controller.bus.outbox import Pending
from controller.config import Room
from controller.config.models import Device
from controller.config.settings import BrokerSettings
from controller.drivers.base import (
    BlsCommand,
    CommandDriver,
    LightCommand,
    VrCommand,
    commanded_topics,
)
from controller.drivers.payloads import PayloadError
from controller.drivers.registry import make_driver
from controller.engine.bls import BlsSet, stop_grace_s
from controller.engine.output import RoomOutput, changed_a_screen
from controller.engine.safety import BlsRequest, SafetyGate, Verdict
from controller.engine.service import public_event, unsent_by_chain
from controller.journal import Event, SessionMeta
from controller.journal.export import timeline_record
from controller.research.replay import Position, ReplayTarget
from controller.research.replay_state import ReplayedRoom
from controller.sim import BrokerAddress, SimulatedRoom
from controller.untrusted import UntrustedJsonError, read_json

CONNECT_TIMEOUT_S = 5.0
STATE_EVERY_S = 0.25
"""The replayed state is republished at least this often (real seconds) while it changes."""
STATUS_WAIT_S = 1.5
"""How long to wait for a room's retained status and state before deciding it is idle."""
UNREADABLE_STATE = "its retained state cannot be read (it may hide a session or an emergency)"
PRESSED = "its engine was given an emergency (Home Assistant's button)"
BROKER_LOST = "its broker connection was lost (its state cannot be read meanwhile)"
LATE_AFTER_S = 1.0
"""A replayed message not on its way to the broker this long (real seconds) after its time is
dropped: late, it would misplace the timeline, or reach a device as a stale command."""
COMMAND_KINDS = ("light", "vr", "bls")
"""Simulated for a replay: devices that take commands (vitals come from the journal)."""


DeviceCommand = LightCommand | VrCommand | BlsCommand


def namespaced(topic: str, device: Device, prefix: str) -> str | None:
    """`topic`, a command topic of `device`, as the replay's copy of it has it (`wled/x/api` →
    `wled/p-x/api`, `zigbee2mqtt/a/b/set` → `p-zigbee2mqtt/p-a/b/set`); None for any other.
    The copy's driver says where, so a friendly name with a `/` or one equal to its base topic
    is put right."""
    copy = device.model_copy(update=_namespacing(device, prefix))
    return replayed_topics(device, copy).get(topic)


def replayed_topics(device: Device, copy: Device) -> dict[str, str]:
    """Each command topic of `device` → its replay `copy`'s, as their drivers name them."""
    topics = zip(
        commanded_topics(make_driver(device)), commanded_topics(make_driver(copy)), strict=True
    )
    return dict(topics)


def _namespacing(device: Device, prefix: str) -> dict[str, str]:
    """The fields that put `device`'s topics under the replay room `prefix` (`namespaced`);
    a Zigbee light's base topic too, so that its simulated Zigbee2MQTT's bridge state is the
    replay's own, never a live room's (whose lights it would say are offline)."""
    update = {"topic": f"{prefix}-{device.topic}"}
    if device.zigbee2mqtt_base is not None:
        update["base_topic"] = f"{prefix}-{device.zigbee2mqtt_base}"
    return update


def command_payload(event: Event) -> str | None:
    """The payload a device command event sent on the wire, or None for engine bookkeeping."""
    if event.kind != "command" or event.topic is None or not isinstance(event.payload, dict):
        return None
    payload = event.payload.get("payload")
    return payload if isinstance(payload, str) else None


class SimTarget(ReplayTarget):
    """Replays into a simulated room, `replay_room`, on the broker of `settings`."""

    def __init__(self, room: Room, settings: BrokerSettings, *, replay_room: str) -> None:
        self.room = room
        self.settings = settings
        self.replay_room = replay_room
        self.topics = RoomTopics(replay_room)
        self.devices: dict[str, Device] = {
            device.id: device.model_copy(update=_namespacing(device, replay_room))
            for device in room.devices.values()
            if device.kind in COMMAND_KINDS and not device.is_local and device.topic
        }
        self._replayed_topics = {
            device_id: replayed_topics(room.devices[device_id], copy)
            for device_id, copy in self.devices.items()
        }
        """Each device's command topics → its copy's (`namespaced`, worked out once)."""
        self.state: ReplayedRoom | None = None
        self.sent: list[tuple[str, str]] = []
        """(topic, payload) of every device command sent, in order."""
        self.skipped: set[str] = set()
        """Devices with recorded commands that the room has no simulated device for."""
        self.late = 0
        """Messages dropped because they could not go out in time (counted as it closes)."""
        self._bus: Bus | None = None
        self._commands: Bus | None = None
        """Device commands go on a connection of their own, never queued behind the state."""
        self._sim: SimulatedRoom | None = None
        self._position = Position(0.0, None, 1.0, False, 0)
        self._published_at = -1e9
        self._dirty = True
        self._last_t = 0.0

    async def open(self, meta: SessionMeta) -> None:
        self.state = ReplayedRoom(self.replay_room, meta, self.room)
        address = BrokerAddress.from_settings(self.settings, self.room.root)
        self._sim = SimulatedRoom(self.devices.values(), address, room_id=self.replay_room)
        await self._sim.__aenter__()
        self._bus = await _connect(
            self.settings,
            Bus(
                self.settings,
                client_id=unique_client_id(f"sessionroom-replay-{self.replay_room}"),
                root=self.room.root,
                will=Will(self.topics.status, OFFLINE),
                birth=Will(self.topics.status, ONLINE),
            ),
        )
        self._commands = await _connect(
            self.settings,
            Bus(
                self.settings,
                client_id=unique_client_id(f"sessionroom-replay-{self.replay_room}-devices"),
                root=self.room.root,
            ),
        )
        await self._sim.wait_online(CONNECT_TIMEOUT_S)
        await self._publish_state(force=True)

    async def emit(self, event: Event) -> None:
        assert self._bus is not None and self._commands is not None and self.state is not None
        self.state.apply(event)
        self._dirty = True
        self._last_t = max(self._last_t, event.t)
        payload = command_payload(event)
        if payload is not None and event.topic is not None:
            topic = self._replayed_topics.get(event.device or "", {}).get(event.topic)
            if topic is None:
                self.skipped.add(event.device or event.topic)
            else:
                await self._commands.publish(topic, payload, qos=1, expires_s=LATE_AFTER_S)
                self.sent.append((topic, payload))
        await self._bus.publish(
            self.topics.events,
            json.dumps(public_event(timeline_record(event))),
            qos=1,
            expires_s=LATE_AFTER_S,
        )
        await self._publish_state(force=event.kind in ("phase", "scene", "session", "safety"))

    async def absorb(self, event: Event) -> None:
        assert self.state is not None
        self.state.apply(event)
        self._dirty = True

    async def position(self, position: Position) -> None:
        self._position = position
        self._dirty = True
        await self._publish_state(force=False)

    async def restart(self) -> None:
        assert self.state is not None
        self.state.reset()
        self._last_t = 0.0
        await self._publish_state(force=True)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._publish_state(force=True)
        for bus in (self._commands, self._bus):
            if bus is not None:
                await bus.__aexit__(None, None, None)
                self.late += bus.expired
        self._commands = self._bus = None
        if self._sim is not None:
            await self._sim.stop()
            self._sim = None

    async def _publish_state(self, *, force: bool) -> None:
        loop = asyncio.get_running_loop()
        if self._bus is None or self.state is None:
            return
        if not force and (not self._dirty or loop.time() - self._published_at < STATE_EVERY_S):
            return
        position = self._position
        t = max(position.t, self._last_t)
        snapshot = self.state.snapshot(t, speed=position.speed, published_ns=time.time_ns())
        state = snapshot.model_dump_json()
        await self._bus.publish(self.topics.state, state, qos=1, retain=True, key="state")
        self._published_at = loop.time()
        self._dirty = False


class LiveTarget(ReplayTarget):
    """Replays device commands to the real devices of `room` (see the module docstring)."""

    def __init__(
        self,
        room: Room,
        settings: BrokerSettings,
        meta: SessionMeta,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.room = room
        self.settings = settings
        self.max_speed = meta.time_scale
        self.topics = RoomTopics(room.room_id)
        self.sent: list[tuple[str, str]] = []
        self.held_back: list[str] = []
        """Why each recorded command that was not sent (or sent clamped) was held back."""
        self.on_engine_busy: Callable[[str], None] = lambda reason: None
        """Told why, when the room's engine opens a session or an emergency meanwhile."""
        self.on_held_back: Callable[[str], None] = lambda reason: None
        """Told why, when a recorded command is refused or clamped."""
        self.halted: str | None = None
        """Why the replay stopped sending (the room's engine got busy), once it has."""
        self.late = 0
        """Device messages dropped because they could not go out in time (counted as it
        closes)."""
        self._clock = clock
        self._drivers: dict[str, CommandDriver[Any]] = {
            device.id: driver
            for device in room.devices.values()
            if device.kind in COMMAND_KINDS and not device.is_local and device.topic
            for driver in [make_driver(device)]
            if isinstance(driver, CommandDriver)
        }
        self.output = RoomOutput(
            self._drivers,
            SafetyGate(room.settings.safety),
            time_scale=1.0,
            record=_nothing_to_journal,
            on_safety=self._safety,
        )
        self._bus: Bus | None = None
        self._stops_owed: dict[str, float] = {}
        """BLS device → when (on `clock`) it is told to stop the set this replay started."""
        self._state_read: asyncio.Event | None = None

    async def open(self, meta: SessionMeta) -> None:
        self._state_read = asyncio.Event()
        bus = Bus(
            self.settings,
            client_id=unique_client_id(f"sessionroom-replay-live-{self.room.room_id}"),
            root=self.room.root,
            device_topics=self.output.device_topics(),
        )
        bus.subscribe(self.topics.state, self._room_state)
        bus.subscribe(self.topics.cmd, self._room_commanded)
        bus.subscribe(self.topics.emergency, self._button_pressed)
        self._bus = await _connect(self.settings, bus)
        bus.on_connection(self._connection_changed)  # once connected: no attempt before counts
        bus.on_lost(self.sends_lost)
        # The retained state comes after the subscription's acknowledgement, and is handled
        # later still: the first recorded command (at time 0) must not race it to the room.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._state_read.wait(), STATUS_WAIT_S)

    async def emit(self, event: Event) -> None:
        assert self._bus is not None
        await self._stop_sets()
        payload = command_payload(event)
        if payload is None or event.topic is None or self.halted is not None:
            return
        driver = self._drivers.get(event.device or "")
        if driver is None or event.topic not in driver.command_topics():
            self._hold_back(
                f"{event.device}: {event.topic} is not a command topic of this room's devices"
            )
            return
        try:
            command = driver.decode(event.topic, payload)
        except PayloadError as problem:
            self._hold_back(f"{event.device}: not replayed: {problem}")
            return
        self._through_the_gate(driver, command, self._clock())
        await self._publish()

    async def position(self, position: Position) -> None:
        await self._stop_sets()

    async def _stop_sets(self, *, all_of_them: bool = False) -> None:
        """Tell each BLS device whose set's stop is due (or every one owed one) to stop.
        Not once halted: the room is its engine's again, and a set the engine started on
        the device meanwhile is not the replay's to stop."""
        if self.halted is not None:
            return
        now = self._clock()
        for device_id, due in list(self._stops_owed.items()):
            if all_of_them or now >= due:
                del self._stops_owed[device_id]
                self.output.bls_stop(device_id, now)
        await self._publish()

    async def _publish(self) -> None:
        assert self._bus is not None
        for message in self.output.take():
            self._bus.publish_gated(message, expires_s=LATE_AFTER_S)
            self.sent.append((message.topic, message.payload))

    def _through_the_gate(
        self, driver: CommandDriver[Any], command: DeviceCommand, now: float
    ) -> None:
        device = driver.device
        reported = len(self.held_back)  # the output path reports most refusals itself
        if isinstance(command, LightCommand):
            verdict: Verdict[Any] = self.output.light(device.id, command, now)
        elif isinstance(command, VrCommand):
            verdict = self.output.vr(device.id, command, now)
        elif not command.running:
            self._stops_owed.pop(device.id, None)
            self.output.bls_stop(device.id, now)
            return
        else:
            request = BlsRequest(
                mode="visual" if (command.mode or device.mode) == "visual" else "tactile",
                speed_hz=command.speed_hz if command.speed_hz is not None else 1.0,
                passes=command.passes,
                seconds=command.duration_s,  # both given: the gate refuses the set
                intensity=command.intensity,
            )
            verdict = self.output.bls_start(device.id, request, now, colour=command.colour)
            if verdict.value is not None:
                grace = stop_grace_s(device, self.room.settings.safety)
                self._stops_owed[device.id] = BlsSet(
                    device.id, verdict.value, now, grace_s=grace
                ).stop_due
        if not verdict.allowed and len(self.held_back) == reported:
            self._hold_back(verdict.reason or f"{device.id}: refused")

    def sends_lost(self, lost: list[Pending]) -> None:
        """Messages of a chain dropped or held up on the way (`GatedMessage.chain`). Each such
        headset is told 0 with what is sent next (a lower volume waiting may have gone with
        them), so the next recorded rise is held to the ramp from silence; one whose screen a
        lost play, stop or brightness changed is told to stop, and the brightness last
        judged for it (kept for its next play: `Engine._screen_lost`). A light bar whose set's start
        did not go is told to stop with what is sent next (a start held up may yet reach
        it), and the replay says it held the set back. What went, late, is no loss but for
        a volume."""
        now = self._clock()
        for device_id, unsent in sorted(unsent_by_chain(lost).items()):
            if self.room.devices[device_id].kind == "bls" and unsent:
                if device_id in self._stops_owed:
                    self._stops_owed[device_id] = now
                self._hold_back(f"{device_id}: a set's start did not reach the broker in time")
            elif changed_a_screen(self._drivers[device_id], unsent):
                self.output.vr(device_id, VrCommand("stop"), now)
                self.output.brightness_again(device_id, now)
                self._hold_back(
                    f"{device_id}: what changed its screen did not reach the broker in time"
                )
            elif self.room.devices[device_id].kind == "vr":
                self.output.volume(device_id, 0.0, now, over_s=0.0)

    def _safety(self, device_id: str, verdict: Verdict[Any]) -> None:
        self._hold_back(verdict.reason or f"{device_id}: {verdict.status}")

    def _hold_back(self, reason: str) -> None:
        self.held_back.append(reason)
        self.on_held_back(reason)

    async def close(self) -> None:
        if self._bus is not None:
            await self._stop_sets(all_of_them=True)  # a set this replay started ends with it
            bus, self._bus = self._bus, None  # its closing is no lost connection
            await bus.__aexit__(None, None, None)
            self.late = bus.expired

    def _connection_changed(self, change: ConnectionChange) -> None:
        """A lost connection halts the replay: a session or an emergency may begin unseen
        meanwhile, and what the replay queued would reach the room on reconnecting, before
        the retained state that shows it is handled."""
        if not change.connected and self._bus is not None:
            self._halt(BROKER_LOST)

    def _room_state(self, message: Message) -> None:
        if self._state_read is not None:
            self._state_read.set()
        busy = busy_reason(message.payload)
        if busy is not None:
            self._halt(busy)

    def _room_commanded(self, message: Message) -> None:
        """Someone commands the room's engine (an emergency, a session): the replay gives the
        room back at once, before the engine acts, so nothing it sends can undo the engine's
        lights-up (docs/safety.md#replay-into-a-live-room)."""
        command = _json(message.payload)
        action = command.get("action") if isinstance(command, dict) else None
        self._halt(f"its engine was given a command ({action or 'unreadable'})")

    def _button_pressed(self, message: Message) -> None:
        """Home Assistant's emergency button (its own topic, not `cmd`): the replay gives the
        room back as for a command. An empty or retained message is no press (the engine
        clears a press left retained, `controller.api.homeassistant`)."""
        if message.payload and not message.retain:
            self._halt(PRESSED)

    def _halt(self, reason: str) -> None:
        if self.halted is None:
            self.halted = reason
            self.on_engine_busy(reason)


@dataclass(frozen=True)
class EngineActivity:
    """What a room's retained topics say about its engine."""

    status: str | None
    """`online`, `offline`, or None if the engine was never seen on this broker."""
    busy: str | None
    """Why the room must not get a replay now (a session open, an emergency), or None."""


def busy_reason(payload: bytes) -> str | None:
    """Why a room whose retained state is `payload` must not get a replay, or None. No state
    (an empty payload: none, or cleared) is an idle room; one that is no JSON object (written
    over the engine's by someone else) might hide a session, so it counts as busy, and so
    does one whose session or emergency is neither an object nor null."""
    if not payload:
        return None
    state = _json(payload)
    if not isinstance(state, dict):
        return UNREADABLE_STATE
    session = state.get("session")
    if isinstance(session, dict):
        return f"its engine has session {session.get('id')} open"
    emergency = state.get("emergency")
    if isinstance(emergency, dict) and emergency.get("active"):
        return "its engine is in an emergency"
    if session is not None or not isinstance(emergency, dict | None):
        return UNREADABLE_STATE  # no shape the engine writes (an id alone, a flag)
    return None


async def engine_activity(settings: BrokerSettings, room: Room) -> EngineActivity:
    """Read the room's retained `status` and `state` (waiting up to `STATUS_WAIT_S`)."""
    topics = RoomTopics(room.room_id)
    seen: dict[str, bytes] = {}
    bus = Bus(
        settings,
        client_id=unique_client_id(f"sessionroom-replay-check-{room.room_id}"),
        root=room.root,
    )
    bus.subscribe(topics.status, lambda message: seen.__setitem__("status", message.payload))
    bus.subscribe(topics.state, lambda message: seen.__setitem__("state", message.payload))
    async with bus:
        if not await bus.wait_connected(CONNECT_TIMEOUT_S):
            raise ConnectionError(unreachable(settings))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STATUS_WAIT_S
        while loop.time() < deadline and not ("status" in seen and "state" in seen):
            await asyncio.sleep(0.02)
    status = seen["status"].decode("utf-8", "replace") if "status" in seen else None
    # An engine that crashed leaves its retained state: a session it shows is still open in
    # the room (docs/safety.md#replay-into-a-live-room), whether or not the engine is online.
    busy = busy_reason(seen.get("state", b""))
    return EngineActivity(status, busy)


async def _connect(settings: BrokerSettings, bus: Bus) -> Bus:
    await bus.__aenter__()
    if not await bus.wait_connected(CONNECT_TIMEOUT_S):
        await bus.__aexit__(None, None, None)
        raise ConnectionError(unreachable(settings))
    return bus


def unreachable(settings: BrokerSettings) -> str:
    return f"cannot reach the MQTT broker at {settings.host}:{settings.port}"


def _nothing_to_journal(kind: str, payload: Any, **where: str | None) -> None:
    """A live replay journals nothing: the recorded session is its record."""


def _json(payload: bytes) -> Any:
    """The JSON in a message from the room's topics (`controller.untrusted`), or None."""
    try:
        return read_json(payload, max_bytes=MAX_STATE_BYTES)
    except UntrustedJsonError:
        return None
