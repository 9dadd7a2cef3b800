"""Who may do what on the facility broker: one login per role of each room, and the ACL file.

| login | publishes | receives |
| --- | --- | --- |
| `engine.<room>` | `sessionroom/<room>/#`, its devices' commands | that, its devices' reports |
| `intake.<room>` | nothing | its devices' reports, Home Assistant's status (a second connection) |
| `device.<room>.<id>` | its own state and availability | its own command topics |
| `zigbee2mqtt.<room>.<base>` | its lights' reports, what it says on its bridge | their commands |
| `console.<room>` | `sessionroom/<room>/cmd` | the room's status, state, events and replies |
| `replay.<room>` | `sessionroom/<room>-replay/#` | that, and the room's status, state and events |
| `frontdesk` | nothing | every room's status, state and events |
| `overview` | nothing | every room's status and state |
| `homeassistant` | every room's `emergency`, `homeassistant/#` | rooms' status, state; its own |
| `bridge.<room>` | `sessionroom/<room>/#` | `sessionroom/<room>/#` |

Engines may also publish their Home Assistant discovery message and read Home Assistant's
status (`controller.api.homeassistant`).

A Zigbee light is no MQTT client: one Zigbee2MQTT (one coordinator) publishes every light
paired to it and its own `<base>/bridge/state`, whose will says `offline`; so a room's
Zigbee2MQTT lights of one base topic share one login, and two rooms may not share a base.

Device topics come from the drivers themselves (`command_topics`, `query`, `availability_topic`,
`state_topics`), so the ACL names exactly the topics the engine sends and reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from controller.api.homeassistant import discovery
from controller.api.topics import REPLAY_SUFFIX, RoomTopics, is_replay
from controller.config import Room
from controller.drivers.base import commanded_topics
from controller.drivers.registry import make_driver
from controller.drivers.zigbee2mqtt import bridge_state_topic
from controller.sim.catalogue import is_simulated

FRONT_DESK = "frontdesk"
OVERVIEW = "overview"
HOME_ASSISTANT = "homeassistant"


class FacilityError(Exception):
    """The rooms cannot share one broker as given (a clash of ids, users or device topics)."""


@dataclass(frozen=True)
class Login:
    """One user name on the broker and the topics it may publish and receive."""

    username: str
    publish: tuple[str, ...]
    receive: tuple[str, ...]
    bound: bool = False
    """Connects on the listener where the client id is the user name (engines and devices)."""


@dataclass(frozen=True)
class RoomAccess:
    """The logins of one room."""

    room: Room
    engine: Login
    intake: Login
    """The engine's connection for its devices' reports (`controller.bus.bus._Intake`): on
    the room listener one login is one connection."""
    console: Login
    replay: Login
    devices: dict[str, Login]
    zigbee2mqtt: dict[str, Login] = field(default_factory=dict)
    """The room's Zigbee2MQTT by base topic: one login serves all its lights."""
    bridge: Login | None = None
    """The room-local broker's bridge, when the room has one."""

    @property
    def logins(self) -> list[Login]:
        bridge = [] if self.bridge is None else [self.bridge]
        devices = [*self.devices.values(), *self.zigbee2mqtt.values()]
        return [self.engine, self.intake, self.console, self.replay, *devices, *bridge]


@dataclass(frozen=True)
class DeviceTopics:
    """A device's command topics (the engine publishes) and report topics (the device does)."""

    commands: tuple[str, ...]
    reports: tuple[str, ...]
    watched: tuple[str, ...]
    """What the engine subscribes to: the reports and e.g. Zigbee2MQTT's bridge state."""


def device_topics(room: Room, device_id: str) -> DeviceTopics:
    """The topics of one MQTT device of `room`, as its driver names them."""
    driver = make_driver(room.devices[device_id])
    return DeviceTopics(
        commands=_unique(commanded_topics(driver)),
        reports=_unique([driver.availability_topic(), *driver.state_topics()]),
        watched=_unique(driver.subscriptions()),
    )


def zigbee2mqtt_user(room_id: str, base: str) -> str:
    """The user name of the room's Zigbee2MQTT on base topic `base`."""
    return f"zigbee2mqtt.{room_id}.{base}"


def zigbee2mqtt_bridge_topics(base: str) -> tuple[list[str], list[str]]:
    """What a Zigbee2MQTT publishes and receives under `<base>/bridge/`: its state (and will),
    info, devices, events, logging and responses, and it reads requests. Nobody publishes
    those requests (permit_join, device/options, an OTA update, a group's members): they
    would change lights past the engine's gate; Zigbee2MQTT's own frontend does not use MQTT."""
    bridge = f"{base}/bridge"
    return [f"{bridge}/+", f"{bridge}/response/#"], [f"{bridge}/request/#"]


def room_access(room: Room, *, bridged: bool = False) -> RoomAccess:
    """The logins of `room`: engine (and its intake), console, replay, one per MQTT device but
    Zigbee lights, and one per Zigbee2MQTT base topic; with `bridged`, the bridge of the room's
    own broker (it carries `sessionroom/<room>/#` both ways)."""
    topics = RoomTopics(room.room_id)
    replay = RoomTopics(room.room_id + REPLAY_SUFFIX)
    devices: dict[str, Login] = {}
    zigbee: dict[str, tuple[list[str], list[str]]] = {}
    engine_publish = [f"{topics.base}/#"]
    engine_receive = [f"{topics.base}/#"]
    reports: list[str] = []
    for device in room.devices.values():
        if not is_simulated(device):
            continue
        mqtt = device_topics(room, device.id)
        if device.zigbee2mqtt_base is not None:
            base = device.zigbee2mqtt_base
            publish, receive = zigbee.setdefault(base, zigbee2mqtt_bridge_topics(base))
            publish.extend(mqtt.reports)
            receive.extend(mqtt.commands)
        else:
            devices[device.id] = Login(
                f"device.{room.room_id}.{device.id}", mqtt.reports, mqtt.commands, bound=True
            )
        engine_publish.extend(mqtt.commands)
        engine_receive.extend(mqtt.watched)
        reports.extend(mqtt.watched)
    home_assistant = room.settings.home_assistant
    engine_publish.append(discovery(room.room_id, None, home_assistant).topic)
    engine_receive.append(f"{home_assistant.prefix}/status")
    observed = (topics.status, topics.state, topics.events)
    return RoomAccess(
        room=room,
        engine=Login(
            f"engine.{room.room_id}", _unique(engine_publish), _unique(engine_receive), bound=True
        ),
        intake=Login(
            f"intake.{room.room_id}",
            (),
            _unique([*reports, f"{home_assistant.prefix}/status"]),
            bound=True,
        ),
        console=Login(
            f"console.{room.room_id}", (topics.cmd,), (*observed, f"{topics.base}/reply/#")
        ),
        replay=Login(
            f"replay.{room.room_id}", (f"{replay.base}/#",), (*observed, f"{replay.base}/#")
        ),
        devices=devices,
        zigbee2mqtt={
            base: Login(
                zigbee2mqtt_user(room.room_id, base), _unique(pub), _unique(sub), bound=True
            )
            for base, (pub, sub) in zigbee.items()
        },
        bridge=_bridge(room.room_id) if bridged else None,
    )


def _bridge(room_id: str) -> Login:
    room = RoomTopics(room_id).base + "/#"
    return Login(f"bridge.{room_id}", (room,), (room,), bound=True)


def facility_logins(rooms: Sequence[RoomAccess]) -> list[Login]:
    """The logins of the whole facility: the front desk and the overview see every room and
    command none; Home Assistant sees every room and may press each one's emergency (on the
    room listener: one connection, whose client id no other client can take)."""
    every = RoomTopics("+")
    bridges = every.bridge
    prefixes = sorted({access.room.settings.home_assistant.prefix for access in rooms})
    home_assistant = tuple(f"{prefix}/#" for prefix in prefixes)
    return [
        Login(FRONT_DESK, (), (every.status, every.state, every.events, bridges)),
        Login(OVERVIEW, (), (every.status, every.state, bridges)),
        Login(
            HOME_ASSISTANT,
            (every.emergency, *home_assistant),
            (every.status, every.state, *home_assistant),
            bound=True,  # its client id is its user name: no console can take it (and cut it off)
        ),
    ]


def check_rooms(rooms: Sequence[RoomAccess]) -> None:
    """Raise FacilityError when rooms clash: a room id, a user name, a device's topic, a
    Zigbee2MQTT base topic (or a topic under one) or the Home Assistant device (`room-a` and
    `room_a` are both `sessionroom_room_a` there)."""
    problems: list[str] = []
    ids = [access.room.room_id for access in rooms]
    for room_id in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"room id {room_id!r} is used by more than one room")
    for room_id in ids:
        if is_replay(room_id):
            problems.append(
                f"room id {room_id!r} ends with {REPLAY_SUFFIX!r}, which names replays: "
                "the overview would not list it"
            )
    owners: dict[str, str] = {}
    bases: dict[str, str] = {}
    for access in rooms:
        for login in access.logins:
            _claim(owners, f"user {login.username}", access.room.room_id, problems)
            if ":" in login.username or any(c.isspace() for c in login.username):
                problems.append(
                    f"room {access.room.room_id!r}: user name {login.username!r} cannot go in "
                    "a Mosquitto password file (a : or a space)"
                )
            problems += [
                f"room {access.room.room_id!r}: topic {topic!r} cannot go in an ACL file "
                "(a line break, a control character or spaces at an end)"
                for topic in login.publish + login.receive
                if topic != topic.strip() or any(ord(c) < 32 or ord(c) == 127 for c in topic)
            ]
        for device_id, login in access.devices.items():
            for topic in login.publish + login.receive:
                _claim(owners, f"topic {topic} (device {device_id})", access.room.room_id, problems)
        for base, login in access.zigbee2mqtt.items():
            owner = bases.setdefault(base, access.room.room_id)
            if owner != access.room.room_id:
                problems.append(
                    f"Zigbee2MQTT base topic {base!r} is used by room {owner!r} and room "
                    f"{access.room.room_id!r}: give each room's Zigbee2MQTT its own base_topic "
                    "(one bridge/state would speak for both rooms' lights)"
                )
            for topic in login.publish + login.receive:
                if not topic.startswith(f"{base}/bridge/"):  # the base's own: claimed above
                    what = f"topic {topic} (Zigbee2MQTT {base})"
                    _claim(owners, what, access.room.room_id, problems)
        room_id = access.room.room_id
        announcement = discovery(room_id, None, access.room.settings.home_assistant).topic
        _claim(owners, f"topic {announcement} (Home Assistant)", room_id, problems)
    problems += _reaching_other_rooms(rooms) + _home_assistant_reach(rooms)
    problems += _within_zigbee2mqtt_bases(rooms)
    if problems:
        raise FacilityError("; ".join(problems))


def _reaching_other_rooms(rooms: Sequence[RoomAccess]) -> list[str]:
    """A room's wildcard grant (`sessionroom/<room>/#`, `.../reply/#`, the replay's) that
    covers a topic of another room: e.g. a Shelly prefix `sessionroom/room-b/lamp` in room
    A, whose commands room B's engine (and bridge) could then publish."""
    problems = []
    for access in rooms:
        for login in access.logins:
            for granted in filter(_wild, _grants(login)):
                problems += [
                    f"{found} is within {granted!r}, which {login.username} of room "
                    f"{access.room.room_id!r} may use"
                    for other in rooms
                    if other is not access and (found := _first_within(granted, other))
                ]
    return problems


def _home_assistant_reach(rooms: Sequence[RoomAccess]) -> list[str]:
    """A topic of a room under a Home Assistant prefix (its login may publish `<prefix>/#`),
    but the room's discovery message and Home Assistant's status: a prefix `sessionroom` or
    `zigbee2mqtt`, or a device under `homeassistant/`, would let it command a room or a light."""
    prefixes = sorted({access.room.settings.home_assistant.prefix for access in rooms})
    problems = []
    for access in rooms:
        own = access.room.settings.home_assistant
        meant = {discovery(access.room.room_id, None, own).topic, f"{own.prefix}/status"}
        problems += [
            f"{found} is within {prefix + '/#'!r}, which the homeassistant login may publish "
            "(Home Assistant's prefix must be a namespace of its own)"
            for prefix in prefixes
            if (found := _first_within(f"{prefix}/#", access, meant))
        ]
    return problems


def _within_zigbee2mqtt_bases(rooms: Sequence[RoomAccess]) -> list[str]:
    """A topic of any login under a Zigbee2MQTT's base topic but its own lights' and bridge
    state: Zigbee2MQTT acts on all of `<base>/#` (`<name>/set`, `bridge/request/...`) and its
    login may publish there; e.g. base `sessionroom` with a light named `room-a/cmd` would let
    it command room A, a Shelly prefix under a base would let the Shelly's login command it."""
    problems = []
    for access in rooms:
        for base, own in access.zigbee2mqtt.items():
            meant = {*_grants(own), bridge_state_topic(base)}
            problems += [
                f"{found} is within {base + '/#'!r}, the Zigbee2MQTT base topic of room "
                f"{access.room.room_id!r} (Zigbee2MQTT reads and acts on all of it): give "
                "that Zigbee2MQTT a base topic of its own"
                for other in rooms
                if (found := _first_within(f"{base}/#", other, meant))
            ]
    return problems


def _first_within(wildcard: str, access: RoomAccess, meant: Iterable[str] = ()) -> str | None:
    """The first topic of `access`'s logins (but those `meant`) within `wildcard`, named."""
    return next(
        (
            f"room {access.room.room_id!r}: topic {topic!r} ({login.username})"
            for login in access.logins
            for topic in _grants(login)
            if topic not in meant and _overlap(wildcard, topic)
        ),
        None,
    )


def _grants(login: Login) -> tuple[str, ...]:
    return _unique([*login.publish, *login.receive])


def _wild(topic_filter: str) -> bool:
    return "+" in topic_filter or "#" in topic_filter


def _overlap(first: str, second: str) -> bool:
    """Whether some topic matches both MQTT topic filters (`a/#` matches `a` itself)."""
    one, two = first.split("/"), second.split("/")
    for a, b in zip(one, two, strict=False):
        if "#" in (a, b):
            return True
        if a != b and "+" not in (a, b):
            return False
    longer = max(one, two, key=len)
    return len(one) == len(two) or (
        len(longer) == min(len(one), len(two)) + 1 and longer[-1] == "#"
    )


def _claim(owners: dict[str, str], what: str, room_id: str, problems: list[str]) -> None:
    key = what.split(" (")[0]
    owner = owners.setdefault(key, room_id)
    if owner != room_id:
        problems.append(f"{what} of room {room_id!r} is also room {owner!r}'s")


def acl_file(logins: Iterable[Login]) -> str:
    """A Mosquitto ACL file granting each login exactly its topics (all else is refused)."""
    lines = ["# Sessionroom facility ACL, written by `sessionroom facility init`.", ""]
    for login in logins:
        lines.append(f"user {login.username}")
        for topic in _unique([*login.publish, *login.receive]):
            if topic in login.publish and topic in login.receive:
                access = "readwrite"
            else:
                access = "write" if topic in login.publish else "read"
            lines.append(f"topic {access} {topic}")
        lines.append("")
    return "\n".join(lines)


def _unique(topics: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(topics))
