"""A facility made by `facility init` from copies of the example room, and MQTT v5 logins to it.

Room A is the shipped example room; room B is the same room with its own id and every device
topic prefixed by `b-`, so the two can share one broker. Logins use MQTT v5, whose PUBACK
carries the broker's verdict: below 128 accepted (16: accepted, nobody subscribed), 135 "not
authorised" (an ACL refusal).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from controller.config import load_room
from controller.facility.setup import FacilityPlan, init_facility
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.requirements import mosquitto_binary
from tests.support.room import copy_room

HOST = "127.0.0.1"
WAIT_S = 15.0
"""How long a test waits for the broker's answer (a CONNACK, a PUBACK, a message), as the
room tests do (tests/support/room.py): every wait ends as soon as the answer comes. Two CI
runs on a busy machine each saw one answer take more than 5 s."""
QUIET_S = 1.0
"""How long a test waits to be sure something does *not* arrive."""
NOT_AUTHORISED = 135
ACCEPTED = "accepted"
REFUSED = "refused"
CUT_OFF = "cut off"


@dataclass
class Facility:
    """The generated files, the rooms' folders and the broker started with them."""

    folder: Path
    rooms: dict[str, Path]
    broker: Mosquitto
    port: int
    room_port: int
    local_port: int = 0
    """With `bridged`: the port every room's own broker listens on (one of them runs at a time)."""

    def password(self, room: str | None, name: str) -> str:
        """A login's password as `facility init` wrote it (room None: a facility login)."""
        path = self.folder / name if room is None else self.rooms[room] / "facility" / name
        return path.read_text().strip()

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    def room_broker(self, room: str) -> Mosquitto:
        """The room's own broker (with `bridged`), bridged to the facility broker."""
        conf = (self.rooms[room] / "facility" / "mosquitto-room.conf").read_text()
        return Mosquitto(mosquitto_binary(), self.folder.parent, self.local_port,
                         config=AS_ROOT + conf)  # fmt: skip


AS_ROOT = "user root\n"
"""Started as root, Mosquitto would switch to the `mosquitto` user, who cannot read the test's
private folder; `user root` keeps it as the invoking user."""


def make_facility(workdir: Path, *, bridged: bool = False) -> Facility:
    """Rooms A and B on a facility broker; with `bridged`, each with a broker of its own."""
    rooms = {
        "room-a": copy_room(workdir / "rooms" / "a", "room-a"),
        "room-b": copy_room(workdir / "rooms" / "b", "room-b", topic_prefix="b-"),
    }
    port, room_port, local_port = free_port(), free_port(), free_port()
    plan = FacilityPlan(
        [load_room(path / "config.yaml") for path in rooms.values()],
        workdir / "facility",
        names=[HOST],
        port=port,
        room_port=room_port,
        bind=HOST,
        bridged=bridged,
        local_port=local_port,
    )
    init_facility(plan, update_configs=True)
    config = AS_ROOT + (plan.output / "mosquitto.conf").read_text()
    broker = Mosquitto(mosquitto_binary(), workdir, port, config=config, other_ports=(room_port,))
    return Facility(plan.output, rooms, broker, port, room_port, local_port)


@dataclass
class Login:
    """One MQTT v5 connection to the facility broker, recording what happens to it."""

    facility: Facility
    username: str | None
    password: str | None
    port: int
    client_id: str = field(default_factory=lambda: f"sessionroom-test-{uuid.uuid4().hex[:8]}")
    tls: bool = True
    will: tuple[str, str] | None = None
    """(topic, payload) the broker publishes, retained, when the connection is lost."""

    def __post_init__(self) -> None:
        self.connack: ReasonCode | None = None
        self.disconnected = threading.Event()
        self.messages: list[tuple[str, str]] = []
        self._acks: dict[int, ReasonCode] = {}
        self._subscribed: set[int] = set()
        self._answered = threading.Condition()
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv5
        )
        if self.tls:
            client.tls_set(ca_certs=str(self.facility.ca), cert_reqs=ssl.CERT_REQUIRED)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.will is not None:
            client.will_set(*self.will, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        self.client = client

    def open(self) -> ReasonCode | None:
        """Connect; the CONNACK's reason code, or None when none came (e.g. no TLS)."""
        try:
            self.client.connect(HOST, self.port, keepalive=30)
        except (OSError, ssl.SSLError):
            return None
        self.client.loop_start()
        self._wait(lambda: self.connack is not None or self.disconnected.is_set())
        return self.connack

    @property
    def accepted(self) -> bool:
        return self.connack is not None and self.connack.value == 0

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """End the connection without DISCONNECT (as a crash does): the broker sends the will."""
        sock = self.client.socket()
        assert isinstance(sock, socket.socket | ssl.SSLSocket), sock
        sock.shutdown(socket.SHUT_RDWR)
        self.client.loop_stop()

    def publish(self, topic: str, payload: str, *, retain: bool = False) -> str:
        """Publish at QoS 1: ACCEPTED or REFUSED (by the ACL), as the PUBACK says, or CUT_OFF
        when the broker disconnects the login instead."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        self._wait(lambda: info.mid in self._acks or self.disconnected.is_set())
        if info.mid not in self._acks:
            assert self.disconnected.is_set(), f"no PUBACK for {topic} within {WAIT_S} s"
            return CUT_OFF
        code = self._acks[info.mid].value
        if code == NOT_AUTHORISED:
            return REFUSED
        assert code < 128, f"PUBACK reason {code} for {topic}"
        return ACCEPTED

    def subscribe(self, topic: str) -> None:
        """Subscribe, and return once the broker has answered (SUBACK): a message published
        after this reaches the subscription, whatever the machine's load."""
        _, mid = self.client.subscribe(topic, qos=1)
        self._wait(lambda: mid in self._subscribed)
        assert mid in self._subscribed, f"no SUBACK for {topic} within {WAIT_S} s"

    def received(self, topic: str) -> list[str]:
        return [payload for t, payload in list(self.messages) if t == topic]

    def _wait(self, done: object, timeout: float = WAIT_S) -> None:
        with self._answered:
            self._answered.wait_for(done, timeout)  # type: ignore[arg-type]

    def _notify(self) -> None:
        with self._answered:
            self._answered.notify_all()

    def _on_connect(
        self, _c: object, _u: object, _f: object, reason: ReasonCode, _p: Properties | None
    ) -> None:
        self.connack = reason
        self._notify()

    def _on_disconnect(self, *_: object) -> None:
        self.disconnected.set()
        self._notify()

    def _on_message(self, _c: object, _u: object, message: paho.MQTTMessage) -> None:
        self.messages.append((message.topic, message.payload.decode("utf-8", "replace")))

    def _on_subscribe(
        self, _c: object, _u: object, mid: int, _r: list[ReasonCode], _p: Properties
    ) -> None:
        self._subscribed.add(mid)
        self._notify()

    def _on_publish(
        self, _c: object, _u: object, mid: int, reason: ReasonCode, _p: Properties
    ) -> None:
        self._acks[mid] = reason
        self._notify()


def eventually_received(login: Login, topic: str, timeout: float = WAIT_S) -> list[str]:
    deadline = time.monotonic() + timeout
    while not login.received(topic) and time.monotonic() < deadline:
        time.sleep(0.02)
    return login.received(topic)
