"""`sessionroom facility retire` of a room with a broker of its own (`facility init --bridge`).

Real Mosquittos run with the files `facility init --bridge` wrote: the facility broker and
room B's own broker, whose bridge carries `sessionroom/room-b/#` to the facility broker and
leaves its `bridge` state there (`0`, its will, once it stops). Retiring room B clears both
brokers, the facility's with room B's engine login at the address its bridge connects to;
room A's messages stay. While room B's bridge is up, its `0` would come back when it stops:
retire says so, and a second run once it has stopped leaves nothing. A room broker gone with
its room PC is reported; the facility broker's copies are cleared all the same, unless they
say the engine was online when the facility broker last heard from the room.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.facility.conftest import LoginFactory
from tests.facility.support import ACCEPTED, Facility, Login, make_facility
from tests.facility.test_retire import (
    DISCOVERY,
    LEFT_BEHIND,
    ROOM_A_STATUS,
    STATE,
    STATUS,
    retained_as_overview,
    retire,
    state,
)
from tests.support.mosquitto import Mosquitto
from tests.support.room import spawn, until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

STILL_BRIDGED = "error: room room-b's broker is still bridged to the facility broker"
NOT_REACHED = "Room room-b's own broker (127.0.0.1:{port}) was not reached"


@pytest.fixture
def facility(tmp_path: Path) -> Iterator[Facility]:
    """Rooms A and B, each with a broker of its own; the facility broker runs."""
    made = make_facility(tmp_path, bridged=True)
    made.broker.start()
    yield made
    made.broker.stop()


@pytest.fixture
def room_b(facility: Facility) -> Iterator[Mosquitto]:
    """Room B's own broker, its bridge up."""
    broker = facility.room_broker("room-b")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def on_room_broker(facility: Facility) -> Login:
    made = Login(facility, None, None, facility.local_port, tls=False)
    made.open()
    return made


def retained_on_room_broker(facility: Facility) -> dict[str, str]:
    """Room B's retained messages on its own broker, its discovery message among them."""
    room = on_room_broker(facility)
    for topic_filter in ("sessionroom/room-b/#", DISCOVERY, "sessionroom/room-b/#"):
        room.subscribe(topic_filter)  # the last SUBACK: the others' retained are in
    room.close()
    return {topic: payload for topic, payload in room.messages if payload}


class FacilityView:
    """Room B's status, state, bridge state and discovery message on the facility broker, as
    the overview and Home Assistant receive them."""

    def __init__(self, login: LoginFactory) -> None:
        self.overview, self.home_assistant = login(None, "overview"), login(None, "homeassistant")
        for topic in (STATUS, STATE, LEFT_BEHIND):
            self.overview.subscribe(topic)
        self.home_assistant.subscribe(DISCOVERY)

    def latest(self) -> dict[str, str]:
        """Each topic's last message, when not empty (a retained message cleared)."""
        last = dict([*self.overview.messages, *self.home_assistant.messages])
        return {topic: payload for topic, payload in last.items() if payload}

    def retained(self, login: LoginFactory) -> dict[str, str]:
        """What a new overview login receives of room B, and the last discovery message."""
        retained = retained_as_overview(login)
        room_b = {topic: payload for topic, payload in retained.items() if "room-b" in topic}
        return room_b | {t: p for t, p in self.latest().items() if t == DISCOVERY}


@pytest.fixture
def view(login: LoginFactory) -> FacilityView:
    return FacilityView(login)


def left_by_room_b(facility: Facility, login: LoginFactory, view: FacilityView) -> None:
    """Room B's engine has stopped, leaving its status and state on its own broker (which
    its bridge carries to the facility broker) and its discovery message there; a discovery
    message from before it had a broker of its own is on the facility broker. Room A's status
    is on the facility broker too. Returns once the facility broker has room B's copies."""
    room = on_room_broker(facility)
    for topic, payload in ((STATUS, "offline"), (STATE, '{"phase": null}'), (DISCOVERY, "{}")):
        assert room.publish(topic, payload, retain=True) == ACCEPTED
    room.close()
    assert login("room-b", "engine").publish(DISCOVERY, "{}", retain=True) == ACCEPTED
    assert login("room-a", "engine").publish(ROOM_A_STATUS, "offline", retain=True) == ACCEPTED
    expected = {STATUS: "offline", STATE: '{"phase": null}', LEFT_BEHIND: "1", DISCOVERY: "{}"}
    until(lambda: view.latest() == expected, "room B's copies on the facility broker")
    assert view.retained(login) == expected


def test_a_bridged_room_leaves_nothing_on_either_broker_and_other_rooms_keep_theirs(
    facility: Facility, login: LoginFactory, view: FacilityView, room_b: Mosquitto
) -> None:
    left_by_room_b(facility, login, view)

    first = retire(facility)

    assert first.returncode == 1, first.stderr
    assert STILL_BRIDGED in first.stderr
    for topic in (STATUS, STATE, LEFT_BEHIND):
        assert f"cleared {topic} on the room's broker" in first.stdout
    assert retained_on_room_broker(facility) == {}
    assert view.retained(login) == {}

    room_b.stop()  # as on the room PC: its bridge leaves `0` on the facility broker
    until(lambda: view.latest() == {LEFT_BEHIND: "0"}, "the bridge's will")
    second = retire(facility, "--timeout", "1")

    assert second.returncode == 0, second.stderr
    assert f"cleared {LEFT_BEHIND} on the facility broker" in second.stdout
    assert NOT_REACHED.format(port=facility.local_port) in second.stdout
    assert view.retained(login) == {}
    assert retained_as_overview(login).get(ROOM_A_STATUS) == "offline"


def test_the_facility_broker_is_cleared_when_the_room_broker_is_gone(
    facility: Facility, login: LoginFactory, view: FacilityView, room_b: Mosquitto
) -> None:
    left_by_room_b(facility, login, view)
    room_b.stop()  # the room PC taken away
    until(lambda: view.latest().get(LEFT_BEHIND) == "0", "the bridge's will")

    result = retire(facility, "--timeout", "1")

    assert result.returncode == 0, result.stderr
    for topic in (STATUS, STATE, LEFT_BEHIND):
        assert f"cleared {topic} on the facility broker" in result.stdout
    assert NOT_REACHED.format(port=facility.local_port) in result.stdout
    assert view.retained(login) == {}
    assert retained_as_overview(login).get(ROOM_A_STATUS) == "offline"


@pytest.mark.usefixtures("room_b")
def test_retire_refuses_while_the_bridged_rooms_engine_is_online(
    facility: Facility, login: LoginFactory, view: FacilityView
) -> None:
    config = str(facility.rooms["room-b"] / "config.yaml")
    engine = spawn("run", "--config", config, "--time-scale", "1")
    try:
        until(lambda: state(facility), "room B's engine online on its own broker")
        until(lambda: view.latest().get(STATUS) == "online", "its copy on the facility broker")

        result = retire(facility)

        assert result.returncode == 1
        assert "refused: the engine of room room-b is online: stop it first" in result.stderr
        assert retained_on_room_broker(facility).get(STATUS) == "online"
        assert retained_as_overview(login).get(STATUS) == "online"
        assert state(facility) is not None
    finally:
        engine.terminate()
        engine.wait(timeout=30)


def test_retire_refuses_when_the_facility_broker_last_heard_the_engine_online(
    facility: Facility, login: LoginFactory, view: FacilityView, room_b: Mosquitto
) -> None:
    """A room PC taken away with its engine running (or cut off from the facility in a
    session) leaves `online` on the facility broker: the engine may run on."""
    room = on_room_broker(facility)
    assert room.publish(STATUS, "online", retain=True) == ACCEPTED
    room.close()
    until(lambda: view.latest().get(STATUS) == "online", "its copy on the facility broker")
    room_b.stop()

    result = retire(facility, "--timeout", "1")

    assert result.returncode == 1
    assert "online as the facility broker last heard from the room's broker" in result.stderr
    assert retained_as_overview(login).get(STATUS) == "online"


@pytest.mark.usefixtures("room_b")
def test_retire_without_the_facility_broker_says_so_and_changes_nothing(
    facility: Facility, login: LoginFactory, view: FacilityView
) -> None:
    left_by_room_b(facility, login, view)
    facility.broker.stop()

    result = retire(facility, "--timeout", "1")

    assert result.returncode == 3
    assert f"cannot reach the MQTT broker within 1 s (127.0.0.1:{facility.room_port})" in (
        result.stderr
    )
    assert retained_on_room_broker(facility).get(STATUS) == "offline"
