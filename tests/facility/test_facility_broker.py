"""The broker `facility init` sets up, run for real: who may log in, publish and receive what.

Every test talks to a Mosquitto started with the generated mosquitto.conf, certificates,
password files and ACL, over TLS on loopback. One behaviour per test.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from controller.api.topics import MAX_STATE_BYTES
from controller.cli.common import load_broker_file
from controller.console.overview import OverviewApp
from controller.facility.setup import MESSAGE_SIZE_LIMIT
from tests.facility.conftest import LoginFactory
from tests.facility.support import (
    ACCEPTED,
    CUT_OFF,
    QUIET_S,
    REFUSED,
    WAIT_S,
    Facility,
    Login,
    eventually_received,
)

pytestmark = pytest.mark.mosquitto


def test_each_role_logs_in_with_its_generated_password(login: LoginFactory) -> None:
    for room, role in [
        ("room-a", "engine"),
        ("room-a", "intake"),
        ("room-a", "console"),
        ("room-a", "replay"),
        ("room-a", "device/strip"),
        ("room-a", "zigbee2mqtt/zigbee2mqtt"),
        ("room-b", "zigbee2mqtt/b-zigbee2mqtt"),
        (None, "frontdesk"),
        (None, "overview"),
    ]:
        assert login(room, role).accepted, f"{role} of {room}"


def test_an_anonymous_client_is_refused_on_both_listeners(facility: Facility) -> None:
    for port in (facility.port, facility.room_port):
        anonymous = Login(facility, None, None, port)
        assert anonymous.open() is not None
        assert not anonymous.accepted
        anonymous.close()


def test_a_wrong_password_is_refused(login: LoginFactory) -> None:
    assert not login("room-a", "console", password="not-the-password").accepted
    assert not login("room-a", "engine", password="not-the-password").accepted


def test_a_plaintext_connection_is_refused(facility: Facility) -> None:
    for port in (facility.port, facility.room_port):
        plaintext = Login(
            facility, "console.room-a", facility.password("room-a", "console.password"), port,
            tls=False,
        )  # fmt: skip
        plaintext.open()
        assert not plaintext.accepted
        plaintext.close()


def test_a_login_works_only_on_its_own_listener(login: LoginFactory) -> None:
    assert not login("room-a", "console", bound=True).accepted
    assert not login("room-a", "engine", bound=False).accepted


def test_a_console_commands_its_own_room(login: LoginFactory) -> None:
    engine = login("room-a", "engine")
    engine.subscribe("sessionroom/room-a/cmd")
    assert (
        login("room-a", "console").publish("sessionroom/room-a/cmd", '{"action":"next"}')
        == ACCEPTED
    )
    assert eventually_received(engine, "sessionroom/room-a/cmd") == ['{"action":"next"}']


def test_a_console_of_room_a_cannot_command_room_b(login: LoginFactory) -> None:
    engine_b = login("room-b", "engine")
    engine_b.subscribe("sessionroom/room-b/cmd")
    console_a = login("room-a", "console")
    assert console_a.publish("sessionroom/room-b/cmd", '{"action":"end"}') == REFUSED
    time.sleep(QUIET_S)
    assert engine_b.received("sessionroom/room-b/cmd") == []


def test_a_console_cannot_pose_as_its_engine_or_its_devices(login: LoginFactory) -> None:
    console = login("room-a", "console")
    for topic in (
        "sessionroom/room-a/status",
        "sessionroom/room-a/state",
        "vitals/oximeter",
        "zigbee2mqtt/ceiling_light/set",
    ):
        assert console.publish(topic, "{}") == REFUSED, topic


def test_a_console_of_room_a_does_not_receive_room_b(login: LoginFactory) -> None:
    login("room-b", "engine").publish("sessionroom/room-b/state", '{"b":1}', retain=True)
    console_a = login("room-a", "console")
    console_a.subscribe("sessionroom/room-b/state")
    console_b = login("room-b", "console")
    console_b.subscribe("sessionroom/room-b/state")
    assert eventually_received(console_b, "sessionroom/room-b/state") == ['{"b":1}']
    time.sleep(QUIET_S)
    assert console_a.received("sessionroom/room-b/state") == []


def test_a_device_cannot_publish_a_command(login: LoginFactory) -> None:
    strip = login("room-a", "device/strip")
    for topic in (
        "wled/wled-strip/api",
        "zigbee2mqtt/ceiling_light/set",
        "bls/tappers/set",
        "sessionroom/room-a/cmd",
    ):
        assert strip.publish(topic, '{"on":true}') == REFUSED, topic


def test_a_device_cannot_publish_another_devices_topic(login: LoginFactory) -> None:
    oximeter = login("room-a", "device/oximeter")
    assert oximeter.publish("vitals/oximeter", '{"spo2":97}') == ACCEPTED
    assert oximeter.publish("vitals/b-oximeter", '{"spo2":99}') == REFUSED
    assert oximeter.publish("vitals/bp-cuff", '{"sys":120}') == REFUSED
    assert oximeter.publish("vitals/oximeter/availability", "offline") == ACCEPTED


def test_a_device_receives_its_commands_and_no_others(login: LoginFactory) -> None:
    strip = login("room-a", "device/strip")
    strip.subscribe("#")
    engine = login("room-a", "engine")
    assert engine.publish("wled/wled-strip/api", '{"on":true}') == ACCEPTED
    assert engine.publish("zigbee2mqtt/ceiling_light/set", '{"state":"ON"}') == ACCEPTED
    assert eventually_received(strip, "wled/wled-strip/api") == ['{"on":true}']
    time.sleep(QUIET_S)
    assert [topic for topic, _ in strip.messages] == ["wled/wled-strip/api"]


def test_the_engines_intake_reads_its_devices_reports_beside_the_engine_and_sends_nothing(
    login: LoginFactory,
) -> None:
    """The engine's second connection, for its devices' reports (docs/robustness.md): a login
    of its own, so both stay connected on the listener where the client id is the user."""
    engine = login("room-a", "engine")
    intake = login("room-a", "intake")
    intake.subscribe("#")
    oximeter = login("room-a", "device/oximeter")
    assert oximeter.publish("vitals/oximeter", '{"spo2":97}') == ACCEPTED
    assert login("room-b", "device/oximeter").publish("vitals/b-oximeter", "{}") == ACCEPTED
    assert engine.publish("sessionroom/room-a/state", '{"a":1}') == ACCEPTED
    assert engine.publish("wled/wled-strip/api", '{"on":true}') == ACCEPTED
    assert eventually_received(intake, "vitals/oximeter") == ['{"spo2":97}']
    time.sleep(QUIET_S)
    assert [topic for topic, _ in intake.messages] == ["vitals/oximeter"]
    for topic in ("wled/wled-strip/api", "sessionroom/room-a/cmd", "vitals/oximeter"):
        assert intake.publish(topic, '{"on":true}') == REFUSED, topic
    assert not engine.disconnected.is_set() and not intake.disconnected.is_set()


def test_an_engine_cannot_command_another_rooms_devices(login: LoginFactory) -> None:
    engine_a = login("room-a", "engine")
    assert engine_a.publish("b-zigbee2mqtt/b-ceiling_light/set", '{"state":"ON"}') == REFUSED
    assert engine_a.publish("sessionroom/room-b/state", "{}") == REFUSED


def test_the_engines_client_id_cannot_be_taken_from_the_other_listener(
    login: LoginFactory,
) -> None:
    engine = login("room-a", "engine")
    intruder = login("room-a", "console", client_id="engine.room-a")
    assert not intruder.accepted  # ids on the tools' listener must start with sessionroom-
    disguised = login("room-a", "console", client_id="sessionroom-engine-room-a")
    assert disguised.accepted  # a different id: the engine's is its user name
    assert not engine.disconnected.wait(QUIET_S)


def test_the_engines_client_id_cannot_be_taken_on_the_room_listener(
    login: LoginFactory,
) -> None:
    engine = login("room-a", "engine")
    assert not login("room-a", "device/strip", client_id="engine.room-a").accepted
    device = login("room-a", "device/strip", client_id="sessionroom-engine-room-a")
    assert device.accepted  # the broker replaced the id by the device's user name
    assert not engine.disconnected.wait(QUIET_S)


def test_the_front_desk_sees_every_room_and_commands_none(login: LoginFactory) -> None:
    login("room-a", "engine").publish("sessionroom/room-a/state", '{"a":1}', retain=True)
    login("room-b", "engine").publish("sessionroom/room-b/state", '{"b":1}', retain=True)
    desk = login(None, "frontdesk")
    desk.subscribe("sessionroom/+/state")
    assert eventually_received(desk, "sessionroom/room-a/state") == ['{"a":1}']
    assert eventually_received(desk, "sessionroom/room-b/state") == ['{"b":1}']
    for room in ("room-a", "room-b"):
        assert desk.publish(f"sessionroom/{room}/cmd", '{"action":"end"}') == REFUSED


def test_the_overview_reads_state_and_status_but_not_device_topics(login: LoginFactory) -> None:
    login("room-a", "device/oximeter").publish("vitals/oximeter", '{"spo2":80}', retain=True)
    overview = login(None, "overview")
    overview.subscribe("vitals/oximeter")
    time.sleep(QUIET_S)
    assert overview.received("vitals/oximeter") == []
    assert overview.publish("sessionroom/room-a/cmd", '{"action":"next"}') == REFUSED


def test_replay_writes_only_its_replay_room(login: LoginFactory) -> None:
    replay = login("room-a", "replay")
    assert replay.publish("sessionroom/room-a-replay/state", "{}") == ACCEPTED
    assert replay.publish("sessionroom/room-a/cmd", '{"action":"end"}') == REFUSED
    assert replay.publish("zigbee2mqtt/ceiling_light/set", '{"state":"ON"}') == REFUSED


async def test_the_overview_login_shows_every_room(facility: Facility, login: LoginFactory) -> None:
    for room in ("room-a", "room-b"):
        state = {"room": room, "engine_version": "0", "updated": "2026-01-01T00:00:00Z"}
        engine = login(room, "engine")
        assert (
            engine.publish(f"sessionroom/{room}/state", json.dumps(state), retain=True) == ACCEPTED
        )
        assert engine.publish(f"sessionroom/{room}/status", "online", retain=True) == ACCEPTED
    overview_file = facility.folder / "overview.yaml"
    app = OverviewApp(load_broker_file(overview_file), root=facility.folder)
    async with app.run_test():
        deadline = time.monotonic() + WAIT_S
        while {r: row.engine for r, row in app.rows.items()} != {
            "room-a": "online", "room-b": "online",
        }:  # fmt: skip
            assert time.monotonic() < deadline, app.rows
            await asyncio.sleep(0.05)


async def test_the_overview_does_not_list_a_replay_as_a_room(
    facility: Facility, login: LoginFactory
) -> None:
    """The replay login may publish its replay room's state, with any emergency in it: the
    overview (and the front desk) must not show that as a room in an emergency."""
    replay, engine = login("room-a", "replay"), login("room-a", "engine")
    fake = {"room": "room-a-replay", "engine_version": "0", "updated": "2026-01-01T00:00:00Z",
            "emergency": {"active": True}}  # fmt: skip
    real = {"room": "room-a", "engine_version": "0", "updated": "2026-01-01T00:00:00Z"}
    replay_topic = "sessionroom/room-a-replay/state"
    assert replay.publish(replay_topic, json.dumps(fake), retain=True) == ACCEPTED
    assert replay.publish("sessionroom/room-a-replay/status", "online", retain=True) == ACCEPTED
    assert engine.publish("sessionroom/room-a/state", json.dumps(real), retain=True) == ACCEPTED
    app = OverviewApp(load_broker_file(facility.folder / "overview.yaml"), root=facility.folder)
    try:
        async with app.run_test():
            deadline = time.monotonic() + WAIT_S
            while "room-a" not in app.rows:
                assert time.monotonic() < deadline, app.rows
                await asyncio.sleep(0.05)
            await asyncio.sleep(QUIET_S)  # the replay's retained state came with room A's
            assert "room-a-replay" not in app.rows
            assert all(row.emergency == "" for row in app.rows.values())
    finally:
        replay.publish(replay_topic, "", retain=True)
        replay.publish("sessionroom/room-a-replay/status", "", retain=True)


def test_home_assistant_may_press_the_emergency_and_nothing_else(login: LoginFactory) -> None:
    home_assistant = login(None, "homeassistant")
    assert home_assistant.publish("sessionroom/room-a/emergency", "PRESS") == ACCEPTED
    assert home_assistant.publish("homeassistant/status", "online") == ACCEPTED
    for topic in ("sessionroom/room-a/cmd", "sessionroom/room-b/state", "bls/tappers/set"):
        assert home_assistant.publish(topic, '{"action":"end"}') == REFUSED, topic


def test_an_engine_announces_its_room_to_home_assistant(login: LoginFactory) -> None:
    engine = login("room-a", "engine")
    config = "homeassistant/device/sessionroom_room_a/config"
    assert engine.publish(config, "{}") == ACCEPTED
    assert engine.publish("homeassistant/device/sessionroom_room_b/config", "{}") == REFUSED


def test_the_engine_may_ask_a_cuff_to_measure_and_only_the_cuff_hears_it(
    login: LoginFactory,
) -> None:
    cuff = login("room-a", "device/bp-cuff")
    cuff.subscribe("vitals/bp-cuff/set")
    oximeter = login("room-a", "device/oximeter")
    oximeter.subscribe("vitals/bp-cuff/set")
    assert login("room-a", "engine").publish("vitals/bp-cuff/set", '{"measure":true}') == ACCEPTED
    assert eventually_received(cuff, "vitals/bp-cuff/set") == ['{"measure":true}']
    assert cuff.publish("vitals/bp-cuff/set", '{"measure":true}') == REFUSED
    assert oximeter.received("vitals/bp-cuff/set") == []


def test_home_assistants_client_id_cannot_be_taken(login: LoginFactory) -> None:
    """Cutting Home Assistant off would take the rooms' emergency buttons with it."""
    home_assistant = login(None, "homeassistant", client_id="sessionroom-homeassistant")
    assert home_assistant.accepted
    for client_id in ("sessionroom-homeassistant", "homeassistant"):
        login("room-b", "console", client_id=client_id)
        login("room-b", "zigbee2mqtt/b-zigbee2mqtt", client_id=client_id)
    assert not home_assistant.disconnected.wait(QUIET_S)


@pytest.mark.parametrize("client_id", ["", "Sessionroom-x", "SESSIONROOM-x", "sessionroom", "x"])
def test_a_client_id_without_the_prefix_is_refused(login: LoginFactory, client_id: str) -> None:
    """An empty id (the broker would make one up), another case, the prefix cut short."""
    assert not login("room-a", "console", client_id=client_id).accepted


def test_only_home_assistant_and_the_engine_may_press_the_emergency(login: LoginFactory) -> None:
    press = "sessionroom/room-a/emergency"
    for room, role in [
        ("room-a", "console"), ("room-a", "replay"), ("room-a", "device/strip"),
        ("room-b", "engine"), ("room-b", "console"), (None, "frontdesk"), (None, "overview"),
    ]:  # fmt: skip
        assert login(room, role).publish(press, "PRESS") == REFUSED, f"{role} of {room}"


def test_only_home_assistant_may_say_it_came_online(login: LoginFactory) -> None:
    """A spoofed `homeassistant/status` would have every engine publish its discovery again."""
    for room, role in [
        ("room-a", "engine"), ("room-a", "console"), ("room-a", "device/strip"),
        ("room-a", "replay"), (None, "frontdesk"), (None, "overview"),
    ]:  # fmt: skip
        assert login(room, role).publish("homeassistant/status", "online") == REFUSED, role


@pytest.mark.parametrize(
    "topic",
    [
        "sessionroom/room-a-replay/cmd",  # a room whose id starts with this one's
        "sessionroom/room-a/cmd/x",  # below the command topic
        "sessionroom/room-a/state",
        "sessionroom/%u/cmd",  # ACL patterns are not topics here
        "sessionroom/console.room-a/cmd",
        "sessionroom/room\u2010a/cmd",  # a look-alike hyphen
        "$SYS/broker/x",
    ],
)
def test_a_console_publishes_only_its_rooms_cmd(login: LoginFactory, topic: str) -> None:
    assert login("room-a", "console").publish(topic, '{"action":"end"}') == REFUSED


def test_wildcard_subscriptions_receive_only_what_the_login_may_read(
    login: LoginFactory,
) -> None:
    """`#`, `+/#` and `$SYS/#` are accepted as subscriptions but deliver only the login's
    topics: room A's console hears room A's state, not room B's, nor a device, nor `$SYS`."""
    console = login("room-a", "console")
    for topic_filter in ("#", "+/#", "sessionroom/#", "$SYS/#"):
        console.subscribe(topic_filter)
    login("room-b", "engine").publish("sessionroom/room-b/state", '{"b":2}')
    assert login("room-a", "device/strip").publish("wled/wled-strip/g", "128") == ACCEPTED
    login("room-a", "engine").publish("sessionroom/room-a/state", '{"a":2}')
    deadline = time.monotonic() + WAIT_S
    while '{"a":2}' not in console.received("sessionroom/room-a/state"):  # after any retained
        assert time.monotonic() < deadline, "room A's state never came"
        time.sleep(0.02)
    time.sleep(QUIET_S)
    heard = {topic for topic, _ in console.messages}
    assert heard <= {"sessionroom/room-a/state", "sessionroom/room-a/status"}, heard


def test_the_acl_grants_topics_only_never_patterns(facility: Facility) -> None:
    """A `pattern` line would expand `%u`/`%c` from whatever a client calls itself."""
    lines = (facility.folder / "acl").read_text().splitlines()
    assert not [line for line in lines if line.startswith("pattern")]
    granted = [line.split(" ", 2)[2] for line in lines if line.startswith("topic ")]
    assert not [t for t in granted if "%" in t or t.startswith("$") or t in ("#", "+/#")]


def test_no_login_makes_the_shared_broker_take_a_huge_message(login: LoginFactory) -> None:
    """MQTT allows 256 MB a message: one room's tablet must not make the broker every room
    relies on hold that. A state as large as a console reads still goes through."""
    engine = login("room-a", "engine")
    engine.subscribe("sessionroom/room-a/cmd")
    state = json.dumps({"padding": "x" * (MAX_STATE_BYTES - 20)})
    assert engine.publish("sessionroom/room-a/state", state) == ACCEPTED
    huge = "x" * (MESSAGE_SIZE_LIMIT + 1)
    assert login("room-a", "console").publish("sessionroom/room-a/cmd", huge) == CUT_OFF
    time.sleep(QUIET_S)
    assert engine.received("sessionroom/room-a/cmd") == []


@pytest.mark.parametrize(
    "topic",
    [
        "zigbee2mqtt/bridge/state",  # every room's Zigbee lights offline (or online)
        "zigbee2mqtt/bridge/request/permit_join",  # the coordinator's own requests
        "zigbee2mqtt/bridge/request/device/remove",
        "zigbee2mqtt/bridge/request/device/options",  # e.g. a light's transition or limits
        "zigbee2mqtt/bridge/request/group/members/add",
        "zigbee2mqtt/bridge/request/device/ota_update/update",
        "cmnd/tasmotas/Power",  # Tasmota's default group topic: every Tasmota
        "wled/all/api",  # WLED's group topic: every WLED
    ],
)
def test_no_room_login_reaches_a_shared_or_group_topic(login: LoginFactory, topic: str) -> None:
    """Topics every device of a kind listens to, or a Zigbee2MQTT's own (room A's base topic
    is `zigbee2mqtt`): no other login of a room (nor Home Assistant) may publish there, and no
    device hears it. Zigbee2MQTT's requests change lights past the engine's gate: not even
    Zigbee2MQTT's own login may send them."""
    strip = login("room-b", "device/strip")
    strip.subscribe(topic)
    roles = [
        ("room-a", "engine"), ("room-a", "console"), ("room-a", "replay"),
        ("room-a", "device/strip"), ("room-a", "device/floor-lamp"),
        ("room-b", "engine"), ("room-b", "zigbee2mqtt/b-zigbee2mqtt"), (None, "homeassistant"),
    ]  # fmt: skip
    if topic != "zigbee2mqtt/bridge/state":
        roles.append(("room-a", "zigbee2mqtt/zigbee2mqtt"))
    for room, role in roles:
        assert login(room, role).publish(topic, '{"state":"offline"}') == REFUSED, role
    time.sleep(QUIET_S)
    assert strip.received(topic) == []


# --------------------------------------------------------------------------- Zigbee2MQTT
# Room A's Zigbee2MQTT has the default base topic `zigbee2mqtt`, room B's `b-zigbee2mqtt`.

ONLINE, OFFLINE = '{"state":"online"}', '{"state":"offline"}'


def test_zigbee2mqtt_reports_its_bridge_and_every_light_to_the_engine(login: LoginFactory) -> None:
    engine = login("room-a", "engine")
    for topic in ("zigbee2mqtt/bridge/state", "zigbee2mqtt/ceiling_light/#"):
        engine.subscribe(topic)
    zigbee2mqtt = login("room-a", "zigbee2mqtt/zigbee2mqtt")
    reports = [
        ("zigbee2mqtt/bridge/state", ONLINE),
        ("zigbee2mqtt/ceiling_light/availability", ONLINE),
        ("zigbee2mqtt/ceiling_light", '{"state":"ON","brightness":80}'),
    ]
    for topic, payload in reports:
        assert zigbee2mqtt.publish(topic, payload) == ACCEPTED, topic
    for topic, payload in reports:
        assert eventually_received(engine, topic) == [payload], topic
    for topic in ("zigbee2mqtt/bridge/info", "zigbee2mqtt/bridge/response/device/options"):
        assert zigbee2mqtt.publish(topic, '{"status":"ok"}') == ACCEPTED, topic  # nobody reads


def test_zigbee2mqtt_hears_its_lights_commands_and_sends_none(login: LoginFactory) -> None:
    zigbee2mqtt = login("room-a", "zigbee2mqtt/zigbee2mqtt")
    zigbee2mqtt.subscribe("zigbee2mqtt/#")  # as Zigbee2MQTT does
    engine = login("room-a", "engine")
    for topic in ("zigbee2mqtt/ceiling_light/set", "zigbee2mqtt/ceiling_light/get"):
        assert engine.publish(topic, '{"state":""}') == ACCEPTED
        assert eventually_received(zigbee2mqtt, topic) == ['{"state":""}']
    for topic in (
        "zigbee2mqtt/ceiling_light/set",  # its own light's command: the engine's to send
        "zigbee2mqtt/other_light/set",
        "b-zigbee2mqtt/b-ceiling_light",  # room B's light and bridge
        "b-zigbee2mqtt/b-ceiling_light/availability",
        "b-zigbee2mqtt/bridge/state",
        "sessionroom/room-a/state",
        "sessionroom/room-a/cmd",
        "wled/wled-strip/status",
    ):
        assert zigbee2mqtt.publish(topic, '{"state":"ON"}') == REFUSED, topic


def test_another_rooms_zigbee2mqtt_cannot_speak_for_this_rooms_bridge(
    login: LoginFactory,
) -> None:
    engine_a = login("room-a", "engine")
    engine_a.subscribe("zigbee2mqtt/#")
    other = login("room-b", "zigbee2mqtt/b-zigbee2mqtt")
    for topic in ("zigbee2mqtt/bridge/state", "zigbee2mqtt/ceiling_light/availability"):
        assert other.publish(topic, ONLINE) == REFUSED, topic
    time.sleep(QUIET_S)
    assert engine_a.messages == []


def test_a_crashed_zigbee2mqtts_will_reaches_the_engine_as_offline(
    facility: Facility, login: LoginFactory
) -> None:
    """Its will is Zigbee2MQTT's way of saying every light of it is gone: the broker must
    let it through to the engine (an ACL refusal would leave the lights shown online)."""
    engine = login("room-a", "engine")
    engine.subscribe("zigbee2mqtt/bridge/state")
    zigbee2mqtt = Login(
        facility,
        "zigbee2mqtt.room-a.zigbee2mqtt",
        facility.password("room-a", "zigbee2mqtt/zigbee2mqtt.password"),
        facility.room_port,
        will=("zigbee2mqtt/bridge/state", OFFLINE),
    )
    zigbee2mqtt.open()
    assert zigbee2mqtt.accepted
    assert zigbee2mqtt.publish("zigbee2mqtt/bridge/state", ONLINE, retain=True) == ACCEPTED
    assert eventually_received(engine, "zigbee2mqtt/bridge/state")[-1] == ONLINE
    try:
        zigbee2mqtt.drop()
        deadline = time.monotonic() + WAIT_S
        while engine.received("zigbee2mqtt/bridge/state")[-1] != OFFLINE:
            assert time.monotonic() < deadline, engine.received("zigbee2mqtt/bridge/state")
            time.sleep(0.02)
    finally:  # no retained bridge state left for the other tests
        login("room-a", "zigbee2mqtt/zigbee2mqtt").publish(
            "zigbee2mqtt/bridge/state", "", retain=True
        )
