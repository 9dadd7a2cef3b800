"""`sessionroom facility retire`: a room about to be dropped clears what it left retained.

Real processes on the facility broker `facility init` set up (tests/facility/conftest.py):
room B's engine runs, stops (leaving its `offline` status and its state retained), and
`retire` clears them with the room's own logins; the overview login then finds nothing of
room B, while room A's retained messages are untouched. An engine that is online is never
cut off: retire refuses and changes nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.facility.conftest import LoginFactory
from tests.facility.support import HOST, QUIET_S, Facility, Login
from tests.support.mosquitto import free_port
from tests.support.room import sessionroom, spawn, until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

STATUS = "sessionroom/room-b/status"
STATE = "sessionroom/room-b/state"
LEFT_BEHIND = "sessionroom/room-b/bridge"
"""Retained by a room broker's bridge (here published by the engine's login in its place)."""
ROOM_A_STATUS = "sessionroom/room-a/status"
DISCOVERY = "homeassistant/device/sessionroom_room_b/config"
"""Room B's Home Assistant device, as its engine announces it with discovery on."""
REPLAY_STATUS = "sessionroom/room-b-replay/status"
REPLAY_STATE = "sessionroom/room-b-replay/state"


def retire(facility: Facility, *extra: str) -> subprocess.CompletedProcess[str]:
    config = str(facility.rooms["room-b"] / "config.yaml")
    return sessionroom("facility", "retire", "--config", config, *extra)


def state(facility: Facility) -> dict[str, object] | None:
    config = str(facility.rooms["room-b"] / "config.yaml")
    result = sessionroom("ctl", "--config", config, "--timeout", "2", "state")
    return json.loads(result.stdout) if result.returncode == 0 else None


def engine_log(facility: Facility) -> Path:
    """Where room B's engine (`engine_b`) writes what it prints."""
    return facility.rooms["room-b"] / "engine.log"


def retained_as_overview(login: LoginFactory) -> dict[str, str]:
    """Every status, state and bridge message retained on the broker, as the overview reads
    them: each SUBACK comes after the retained messages of the subscription before it."""
    overview: Login = login(None, "overview")
    for topic_filter in ("sessionroom/+/status", "sessionroom/+/state", "sessionroom/+/bridge"):
        overview.subscribe(topic_filter)
    overview.subscribe("sessionroom/+/status")  # its SUBACK: the bridge's retained are in
    return {topic: payload for topic, payload in overview.messages if payload}


@pytest.fixture
def engine_b(facility: Facility) -> Iterator[subprocess.Popen[bytes]]:
    config = str(facility.rooms["room-b"] / "config.yaml")
    process = spawn("run", "--config", config, "--time-scale", "1", output=engine_log(facility))
    try:
        until(lambda: state(facility), "room B's engine online")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_retired_room_leaves_nothing_retained_and_other_rooms_keep_theirs(
    facility: Facility, login: LoginFactory, engine_b: subprocess.Popen[bytes]
) -> None:
    engine_b.terminate()
    engine_b.wait(timeout=30)
    left_behind = login("room-b", "engine")
    assert left_behind.publish(LEFT_BEHIND, "0", retain=True) == "accepted"
    assert left_behind.publish(DISCOVERY, '{"device": {}}', retain=True) == "accepted"
    left_behind.close()
    replay = login("room-b", "replay")
    for topic, payload in ((REPLAY_STATUS, "offline"), (REPLAY_STATE, '{"phase": null}')):
        assert replay.publish(topic, payload, retain=True) == "accepted"
    assert login("room-a", "engine").publish(ROOM_A_STATUS, "offline", retain=True) == "accepted"
    before = retained_as_overview(login)
    assert before.get(STATUS) == "offline" and STATE in before and LEFT_BEHIND in before
    assert before.get(REPLAY_STATUS) == "offline" and REPLAY_STATE in before

    result = retire(facility)

    assert result.returncode == 0, result.stderr
    for topic in (STATUS, STATE, LEFT_BEHIND, REPLAY_STATUS, REPLAY_STATE):
        assert f"cleared {topic}" in result.stdout
    after = retained_as_overview(login)
    assert not [topic for topic in after if topic.startswith("sessionroom/room-b")], after
    assert after.get(ROOM_A_STATUS) == "offline"
    home_assistant = login(None, "homeassistant")
    home_assistant.subscribe(DISCOVERY)
    home_assistant.subscribe(DISCOVERY)  # its SUBACK: a retained message would be in
    assert not [payload for payload in home_assistant.received(DISCOVERY) if payload]


@pytest.mark.usefixtures("engine_b")
def test_retire_refuses_while_the_engine_is_online_and_does_not_cut_it_off(
    facility: Facility, login: LoginFactory
) -> None:
    result = retire(facility)

    assert result.returncode == 1
    assert "refused: the engine of room room-b is online: stop it first" in result.stderr
    assert retained_as_overview(login).get(STATUS) == "online"
    assert state(facility) is not None  # still answering: its connection was not taken over


@pytest.mark.usefixtures("engine_b")
def test_a_room_broker_conf_left_from_a_bridged_set_up_never_cuts_the_running_engine_off(
    facility: Facility, login: LoginFactory
) -> None:
    """Room B ran with a broker of its own, then was set up again without (its engine now on
    the facility broker's room listener, where a login's client id is its user name); its
    mosquitto-room.conf stayed. Retiring it while its engine runs is refused before anything
    logs in as its engine there: that would take the engine's connection over."""
    conf = facility.rooms["room-b"] / "facility" / "mosquitto-room.conf"
    conf.write_text(f"connection facility\naddress {HOST}:{facility.room_port}\n")
    watcher = login(None, "overview")
    watcher.subscribe(STATUS)
    until(lambda: watcher.received(STATUS)[-1:] == ["online"], "room B's engine online")
    before = len(watcher.received(STATUS))
    try:
        result = retire(facility)
    finally:
        conf.unlink()

    assert result.returncode == 1
    assert "refused: the engine of room room-b is online: stop it first" in result.stderr
    time.sleep(QUIET_S)  # an offline of the engine cut off would have come by now
    since = watcher.received(STATUS)[before:]
    assert since == [], (
        f"{since} after retire; the engine said:\n{engine_log(facility).read_text()}"
    )


def test_retire_refuses_while_a_replay_of_the_room_is_online(
    facility: Facility, login: LoginFactory
) -> None:
    replay = login("room-b", "replay")
    assert replay.publish(REPLAY_STATUS, "online", retain=True) == "accepted"
    try:
        result = retire(facility)
    finally:
        replay.publish(REPLAY_STATUS, "offline", retain=True)

    assert result.returncode == 1
    assert "refused: a replay of room room-b is running (room-b-replay)" in result.stderr


def test_retire_without_a_broker_says_so(facility: Facility) -> None:
    result = retire(facility, "--broker", f"mqtts://127.0.0.1:{free_port()}", "--timeout", "1")

    assert result.returncode == 3
    assert "error: cannot reach the MQTT broker within 1 s" in result.stderr


def test_a_room_copied_with_another_rooms_logins_never_cuts_that_rooms_engine_off(
    facility: Facility, login: LoginFactory, tmp_path: Path
) -> None:
    """Room C made as a copy of room A's folder, before `facility init` gave it logins of its
    own, has room A's: they may not read room C's status, which is then no proof that room
    C's engine is offline. Room A's engine login (its client id) is never taken over."""
    copy = tmp_path / "c"
    shutil.copytree(facility.rooms["room-a"], copy)
    config = copy / "config.yaml"
    config.write_text(config.read_text().replace("room: room-a", "room: room-c", 1))
    engine_a = login("room-a", "engine")
    assert engine_a.accepted

    result = sessionroom("facility", "retire", "--config", str(config), "--timeout", "2")

    assert result.returncode == 3, result.stderr
    assert "sessionroom/room-c-replay/#" in result.stderr
    assert not engine_a.disconnected.wait(QUIET_S), "room A's engine login was taken over"


def test_a_room_that_left_more_messages_retained_than_a_bus_queues_is_cleared_whole(
    facility: Facility, login: LoginFactory
) -> None:
    """Every clear goes out: a queue of 1000 dropped the oldest, which stayed retained."""
    engine = login("room-b", "engine")
    for number in range(1200):
        assert engine.publish(f"{LEFT_BEHIND}/{number}", "x", retain=True) == "accepted"
    engine.close()

    result = retire(facility)

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count(f"cleared {LEFT_BEHIND}/") == 1200
