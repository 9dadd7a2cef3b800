"""`sessionroom facility init`: the files it writes, what it refuses, and the role settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from controller.cli.common import load_broker_file
from controller.config import load_room
from controller.config.settings import BrokerSettings
from controller.facility.access import FacilityError, check_rooms, room_access
from controller.facility.setup import bridged_facility, replace_broker_section
from tests.conftest import REPO
from tests.support.room import copy_room, sessionroom

CREDENTIALS = {
    "engine": {"username": "engine.a", "password_file": "f/engine.password", "port": 8884},
    "devices": {"username": "device.a.{device}", "password_file": "f/{device}.password"},
    "console": {"username": "console.a", "password_file": "f/console.password"},
}


def init(*rooms: Path, output: Path, extra: tuple[str, ...] = ()) -> tuple[int, str]:
    result = sessionroom(
        "facility", "init", "--rooms", ",".join(map(str, rooms)), "-o", str(output), *extra
    )
    return result.returncode, result.stdout + result.stderr


def test_each_role_gets_its_own_login_and_port() -> None:
    settings = BrokerSettings.model_validate(
        {"mode": "external", "host": "h", "port": 8883, "credentials": CREDENTIALS}
    )
    engine = settings.for_role("engine")
    assert (engine.username, engine.password_file, engine.port) == (
        "engine.a", "f/engine.password", 8884,
    )  # fmt: skip
    device = settings.for_role("devices", "strip")
    assert (device.username, device.password_file, device.port) == (
        "device.a.strip", "f/strip.password", 8883,
    )  # fmt: skip
    assert settings.for_role("replay") == settings  # no replay login: the shared settings


def test_the_engine_reads_device_reports_apart_unless_its_own_login_has_no_intake_one() -> None:
    shared = BrokerSettings.model_validate({"mode": "external", "host": "h", "port": 8883})
    assert shared.reports_apart()  # one login may have two connections
    facility = shared.model_copy(update={"credentials": CREDENTIALS})
    assert not facility.reports_apart()  # an engine login is one connection
    intake = {"username": "intake.a", "password_file": "f/intake.password", "port": 8884}
    with_intake = BrokerSettings.model_validate(
        {"mode": "external", "host": "h", "credentials": {**CREDENTIALS, "intake": intake}}
    )
    assert with_intake.reports_apart()


def test_a_device_login_must_name_the_device() -> None:
    wrong = {**CREDENTIALS, "devices": {"username": "device.a", "password_file": "f/x.password"}}
    with pytest.raises(ValidationError, match=r"credentials.devices.username must contain"):
        BrokerSettings.model_validate({"mode": "external", "credentials": wrong})
    zigbee = {"username": "zigbee2mqtt.a.{device}", "password_file": "f/{base}.password"}
    with pytest.raises(ValidationError, match=r"credentials.zigbee2mqtt.username must not"):
        BrokerSettings.model_validate({"mode": "external", "credentials": {"zigbee2mqtt": zigbee}})


def test_init_writes_the_broker_files_and_each_rooms_logins(tmp_path: Path) -> None:
    room = copy_room(tmp_path / "a", "room-a")
    status, output = init(room, output=tmp_path / "facility")
    assert status == 0, output
    written = {p.name for p in (tmp_path / "facility").iterdir()}
    assert {
        "mosquitto.conf",
        "acl",
        "rooms.passwd",
        "clients.passwd",
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "frontdesk.password",
        "overview.password",
    } <= written
    assert (tmp_path / "facility" / "ca.key").stat().st_mode & 0o077 == 0
    logins = room / "facility"
    assert (logins / "ca.pem").read_bytes() == (tmp_path / "facility" / "ca.pem").read_bytes()
    assert (logins / "devices" / "strip.password").stat().st_mode & 0o077 == 0
    assert "password_file: facility/engine.password" in (logins / "broker.yaml").read_text()
    assert "mode: embedded" in (room / "config.yaml").read_text()  # untouched without the flag


def test_running_init_again_keeps_the_ca_and_the_passwords(tmp_path: Path) -> None:
    room = copy_room(tmp_path / "a", "room-a")
    assert init(room, output=tmp_path / "facility")[0] == 0
    ca = (tmp_path / "facility" / "ca.pem").read_bytes()
    password = (room / "facility" / "console.password").read_text()
    other = copy_room(tmp_path / "b", "room-b", topic_prefix="b-")
    assert init(room, other, output=tmp_path / "facility")[0] == 0
    assert (tmp_path / "facility" / "ca.pem").read_bytes() == ca
    assert (room / "facility" / "console.password").read_text() == password
    assert "user console.room-b" in (tmp_path / "facility" / "acl").read_text()


def test_running_init_again_without_a_room_of_the_facility_is_refused(tmp_path: Path) -> None:
    """Adding room C with `--rooms rooms/c` alone would take rooms A's and B's logins away
    (their engines, devices, consoles and emergency buttons) at the broker's next reload."""
    rooms = copy_room(tmp_path / "a", "room-a"), copy_room(tmp_path / "b", "room-b", "b-")
    output = tmp_path / "facility"
    assert init(*rooms, output=output)[0] == 0
    acl = (output / "acl").read_text()
    added = copy_room(tmp_path / "c", "room-c", "c-")
    status, message = init(added, output=output)
    assert status == 2
    assert "the facility has room(s) room-a,room-b that --rooms does not name" in message
    assert (output / "acl").read_text() == acl
    assert init(rooms[1], added, output=output, extra=("--drop", "room-a"))[0] == 0
    users = (output / "acl").read_text()
    assert "user engine.room-a" not in users
    assert {"user engine.room-b", "user engine.room-c"} <= set(users.splitlines())


def secrets_readable_by_others(*folders: Path) -> list[str]:
    """The files and folders under `folders` that others may read: all but certificates."""
    found = []
    for folder in folders:
        for path in [folder, *folder.rglob("*")]:
            if path.suffix != ".pem" and path.stat().st_mode & 0o077:
                found.append(f"{path} {oct(path.stat().st_mode & 0o777)}")
    return found


def test_running_init_again_makes_kept_secrets_private_again(tmp_path: Path) -> None:
    """A password or the CA's key copied about (and left 0644) is kept by a second `init`,
    and made private again; nothing it writes or keeps is readable by others."""
    room = copy_room(tmp_path / "a", "room-a")
    output = tmp_path / "facility"
    assert init(room, output=output, extra=("--bridge",))[0] == 0
    assert secrets_readable_by_others(output, room / "facility") == []
    loosened = [
        output / "ca.key",
        output / "server.key",
        output / "frontdesk.password",
        output / "clients.passwd",
        room / "facility" / "engine.password",
        room / "facility" / "bridge.password",
        room / "facility" / "devices" / "strip.password",
    ]
    kept = {path: path.read_bytes() for path in loosened if path.suffix == ".password"}
    kept[output / "ca.key"] = (output / "ca.key").read_bytes()
    for path in loosened:
        path.chmod(0o644)
    (room / "facility").chmod(0o755)
    assert init(room, output=output, extra=("--bridge",))[0] == 0
    assert secrets_readable_by_others(output, room / "facility") == []
    assert {path: path.read_bytes() for path in kept} == kept


def test_a_room_set_up_again_without_a_broker_of_its_own_loses_that_brokers_files(
    tmp_path: Path,
) -> None:
    """A kept mosquitto-room.conf made `facility retire` take the room for a bridged one: it
    logged in as the room's engine on the facility broker, where the engine now ran."""
    room = copy_room(tmp_path / "a", "room-a")
    output = tmp_path / "facility"
    assert init(room, output=output, extra=("--bridge",))[0] == 0
    assert bridged_facility(room, "room-a") is not None
    assert init(room, output=output)[0] == 0
    assert bridged_facility(room, "room-a") is None
    assert not (room / "facility" / "bridge.password").exists()
    assert (room / "facility" / "engine.password").exists()


def test_a_bridged_rooms_facility_broker_is_read_from_its_bridge(tmp_path: Path) -> None:
    """`facility retire` reaches it where the room's bridge does, with the engine's login."""
    assert bridged_facility(tmp_path, "room-c") is None  # no broker of its own
    conf = tmp_path / "facility" / "mosquitto-room.conf"
    conf.parent.mkdir()
    conf.write_text("connection facility-room-c\naddress broker.clinic.lan:8884\n")
    found = bridged_facility(tmp_path, "room-c")
    assert found is not None and found.tls is not None
    assert (found.host, found.port) == ("broker.clinic.lan", 8884)
    assert found.tls.ca_file == "facility/ca.pem"
    assert (found.username, found.password_file) == ("engine.room-c", "facility/engine.password")
    conf.write_text("connection facility-room-c\naddress a:1 b:2\n")
    with pytest.raises(ValueError, match="no single `address HOST:PORT`"):
        bridged_facility(tmp_path, "room-c")


def test_two_rooms_on_the_same_device_topics_are_refused(tmp_path: Path) -> None:
    rooms = copy_room(tmp_path / "a", "room-a"), copy_room(tmp_path / "b", "room-b")
    status, output = init(*rooms, output=tmp_path / "facility")
    assert status == 2
    assert "topic wled/wled-strip/api (device strip) of room 'room-b'" in output
    assert "topic zigbee2mqtt/ceiling_light/set (Zigbee2MQTT zigbee2mqtt) of room" in output
    assert not (tmp_path / "facility").exists()


def test_two_rooms_on_one_zigbee2mqtt_base_topic_are_refused(tmp_path: Path) -> None:
    """Their lights' own names differ, but one `zigbee2mqtt/bridge/state` would speak for
    both rooms' Zigbee2MQTT: one running would hide the other's crash."""
    rooms = copy_room(tmp_path / "a", "room-a"), copy_room(tmp_path / "b", "room-b", "b-")
    lights = rooms[1] / "devices" / "lights.yaml"
    lights.write_text(lights.read_text().replace("base_topic: b-zigbee2mqtt", "base_topic: z"))
    assert init(*rooms, output=tmp_path / "facility")[0] == 0  # its own base: accepted
    lights.write_text(lights.read_text().replace("base_topic: z", "base_topic: zigbee2mqtt"))
    status, output = init(*rooms, output=tmp_path / "facility")
    assert status == 2
    assert (
        "Zigbee2MQTT base topic 'zigbee2mqtt' is used by room 'room-a' and room 'room-b'"
    ) in output


def test_a_device_of_another_room_under_a_zigbee2mqtt_base_topic_is_refused(
    tmp_path: Path,
) -> None:
    """Room A's Zigbee2MQTT acts on all of `zigbee2mqtt/#`: a Shelly of room B with prefix
    `zigbee2mqtt/ceiling_light/set` would have room B's engine (and the Shelly's login) send
    room A's ceiling `set` messages past room A's gate. No room alone shows it."""
    rooms = copy_room(tmp_path / "a", "room-a"), copy_room(tmp_path / "b", "room-b", "b-")
    shelly = "devices:\n  - {id: relay, kind: light, driver: shelly, topic: %s}\n"
    extra = rooms[1] / "devices" / "zz-extra.yaml"
    extra.write_text(shelly % "b-relay")
    assert init(*rooms, output=tmp_path / "facility")[0] == 0
    extra.write_text(shelly % "zigbee2mqtt/ceiling_light/set")
    status, output = init(*rooms, output=tmp_path / "facility")
    assert status == 2
    assert (
        "room 'room-b': topic 'zigbee2mqtt/ceiling_light/set/rpc' (engine.room-b) is within "
        "'zigbee2mqtt/#', the Zigbee2MQTT base topic of room 'room-a'"
    ) in output
    assert "Traceback" not in output


def test_a_rooms_zigbee2mqtt_gets_one_login_and_its_lights_none(tmp_path: Path) -> None:
    room = copy_room(tmp_path / "a", "room-a")
    assert init(room, output=tmp_path / "facility")[0] == 0
    password = room / "facility" / "zigbee2mqtt" / "zigbee2mqtt.password"
    assert password.stat().st_mode & 0o777 == 0o600
    assert not (room / "facility" / "devices" / "ceiling.password").exists()
    users = [line for line in (tmp_path / "facility" / "acl").read_text().splitlines()]
    assert "user zigbee2mqtt.room-a.zigbee2mqtt" in users
    assert "user device.room-a.ceiling" not in users
    settings = load_room(room / "config.yaml").settings.broker
    section = load_broker_file(room / "facility" / "broker.yaml")
    login = section.for_role("zigbee2mqtt", "zigbee2mqtt")
    assert (login.username, login.password_file, login.port) == (
        "zigbee2mqtt.room-a.zigbee2mqtt", "facility/zigbee2mqtt/zigbee2mqtt.password", 8884,
    )  # fmt: skip
    assert settings.mode == "embedded"  # without --update-configs the room is left as it was
    kept = password.read_text()
    password.chmod(0o644)
    assert init(room, output=tmp_path / "facility")[0] == 0
    assert (password.read_text(), password.stat().st_mode & 0o777) == (kept, 0o600)


def test_a_facility_written_before_zigbee2mqtt_had_its_login_loses_its_lights_logins(
    tmp_path: Path,
) -> None:
    """The previous version gave each Zigbee light a `device.<room>.<id>` login that could
    publish the light's state: written again, the facility has none left, on the broker or
    in the room's folder, and the room's broker section gets its zigbee2mqtt login."""
    room = copy_room(tmp_path / "a", "room-a")
    assert init(room, output=tmp_path / "facility")[0] == 0
    old = room / "facility" / "devices" / "ceiling.password"
    old.write_text("old-secret\n")
    for name in ("rooms.passwd", "acl"):  # as the previous version wrote them
        path = tmp_path / "facility" / name
        path.write_text(path.read_text() + "device.room-a.ceiling:$7$old\n")
    status, output = init(room, output=tmp_path / "facility", extra=("--update-configs",))
    assert status == 0, output
    assert not old.exists()
    assert (room / "facility" / "devices" / "strip.password").exists()
    for name in ("rooms.passwd", "acl"):
        assert "device.room-a.ceiling" not in (tmp_path / "facility" / name).read_text()
    login = load_room(room / "config.yaml").settings.broker.for_role("zigbee2mqtt", "zigbee2mqtt")
    assert login.username == "zigbee2mqtt.room-a.zigbee2mqtt"


def with_base_topic(room: Path, base: str) -> Path:
    """`room` with its Zigbee light on Zigbee2MQTT base topic `base` (as YAML)."""
    lights = room / "devices" / "lights.yaml"
    zigbee = "driver: zigbee2mqtt"
    lights.write_text(lights.read_text().replace(zigbee, f"{zigbee}\n    base_topic: {base}"))
    return room


def test_a_zigbee2mqtt_base_topic_that_cannot_be_a_user_name_is_refused(tmp_path: Path) -> None:
    """A base topic may hold a space or a colon; a Mosquitto user name may not."""
    room = with_base_topic(copy_room(tmp_path / "a", "room-a"), '"z 2:m"')
    status, output = init(room, output=tmp_path / "facility")
    assert status == 2
    assert "user name 'zigbee2mqtt.room-a.z 2:m' cannot go in a Mosquitto password file" in output
    assert "Traceback" not in output
    assert not (tmp_path / "facility").exists()


def test_a_bad_zigbee2mqtt_base_topic_is_refused_with_its_file_and_line(tmp_path: Path) -> None:
    room = with_base_topic(copy_room(tmp_path / "a", "room-a"), "z/b")
    status, output = init(room, output=tmp_path / "facility")
    assert status == 2
    assert "devices/lights.yaml:7: devices[0].base_topic: base_topic 'z/b' holds a /" in output
    assert not (tmp_path / "facility").exists()


def test_two_room_folders_with_one_id_are_a_usage_error_naming_both(tmp_path: Path) -> None:
    """It was refused with the clash of every login and topic the two rooms share, and not
    a word of which folders they were. The same folder given twice is one room."""
    rooms = copy_room(tmp_path / "a", "room-a"), copy_room(tmp_path / "b", "room-a", "b-")
    status, output = init(*rooms, output=tmp_path / "facility")
    assert status == 2, output
    assert (
        f"Invalid value for --rooms: {rooms[0]} and {rooms[1]} are both room 'room-a' "
        "(the `room:` of their config.yaml): give each room once"
    ) in output
    assert "Traceback" not in output and "is used by more than one room" not in output
    assert not (tmp_path / "facility").exists()
    status, output = init(rooms[0], rooms[0] / "config.yaml", output=tmp_path / "facility")
    assert status == 0, output
    assert "Facility broker for 1 room(s)" in output


def test_rooms_with_one_id_are_refused_with_the_clash_named() -> None:
    """`check_rooms` itself, whatever gives it the rooms."""
    room = load_room(REPO / "config.yaml")
    with pytest.raises(FacilityError, match="room id 'room-a' is used by more than one room"):
        check_rooms([room_access(room), room_access(room)])


def test_a_room_named_like_a_replay_is_refused(tmp_path: Path) -> None:
    """The overview does not list `<room>-replay` (a replay's room), so no room may be one."""
    room = copy_room(tmp_path / "a", "lab-replay")
    status, output = init(room, output=tmp_path / "facility")
    assert status == 2
    assert "room id 'lab-replay' ends with '-replay', which names replays" in output
    assert not (tmp_path / "facility").exists()


def test_two_rooms_that_are_one_home_assistant_device_are_refused(tmp_path: Path) -> None:
    """`room-a` and `room_a` are both Home Assistant's `sessionroom_room_a`: each engine
    could publish (replace) the other's discovery message."""
    rooms = copy_room(tmp_path / "a", "room-a"), copy_room(tmp_path / "b", "room_a", "b-")
    status, output = init(*rooms, output=tmp_path / "facility")
    assert status == 2
    topic = "homeassistant/device/sessionroom_room_a/config"
    assert f"topic {topic} (Home Assistant) of room 'room_a' is also room 'room-a'" in output


def test_a_missing_room_folder_is_a_clear_error(tmp_path: Path) -> None:
    status, output = init(tmp_path / "nowhere", output=tmp_path / "facility")
    assert status == 2
    assert "Traceback" not in output
    assert f"{tmp_path / 'nowhere'}: no room's config.yaml there" in output


def test_update_configs_replaces_only_the_broker_section() -> None:
    config = "room: a\n# where\nbroker:\n  mode: embedded\n  port: 1\n\n# data\ndata_dir: d\n"
    section = "broker:\n  mode: external\n"
    assert replace_broker_section(config, section) == (
        "room: a\n# where\nbroker:\n  mode: external\n\n# data\ndata_dir: d\n"
    )
    assert replace_broker_section("room: a\n", section) == "room: a\n\nbroker:\n  mode: external\n"


def test_a_broken_room_is_named_by_its_folder(tmp_path: Path) -> None:
    """With ten rooms, `config.yaml:2` alone leaves the technician guessing which one."""
    good, broken = copy_room(tmp_path / "a", "room-a"), copy_room(tmp_path / "b", "room-b")
    config = broken / "config.yaml"
    config.write_text(config.read_text() + "lighting: dim\n")
    line = len(config.read_text().splitlines())
    status, output = init(good, broken, output=tmp_path / "facility")
    assert status == 2, output
    assert f"{config}:{line}: unknown key 'lighting'" in output


def test_the_overview_needs_a_broker_section(tmp_path: Path) -> None:
    file = tmp_path / "overview.yaml"
    file.write_text("nothing: here\n")
    result = sessionroom("console", "--facility", str(file))
    assert result.returncode == 2
    assert f"{file}: no `broker:` section" in result.stderr


def test_an_overview_login_file_that_cannot_be_read_is_a_usage_error(tmp_path: Path) -> None:
    file = tmp_path / "overview.yaml"
    file.write_text("broker: {mode: external, username: overview, password_file: missing}\n")
    result = sessionroom("console", "--facility", str(file))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{file}: broker password_file {tmp_path / 'missing'}: No such file" in result.stderr


def test_init_writes_the_overview_and_front_desk_logins(tmp_path: Path) -> None:
    room = copy_room(tmp_path / "a", "room-a")
    assert init(room, output=tmp_path / "facility", extra=("--name", "10.0.0.5"))[0] == 0
    for login in ("overview", "frontdesk"):
        settings = load_broker_file(tmp_path / "facility" / f"{login}.yaml")
        assert (settings.host, settings.port, settings.username) == ("10.0.0.5", 8883, login)
        assert settings.password_file == f"{login}.password"


@pytest.mark.parametrize("name", ["broker clinic", "x\nlistener 1883", "-x", "::1"])
def test_a_name_that_is_no_host_is_refused(tmp_path: Path, name: str) -> None:
    room = copy_room(tmp_path / "a", "room-a")
    status, output = init(room, output=tmp_path / "facility", extra=("--name", name))
    assert status == 2
    assert "is not a host name or address" in output
    assert not (tmp_path / "facility").exists()


def test_a_device_topic_that_would_break_the_acl_file_is_refused(tmp_path: Path) -> None:
    """The room's own check refuses the topic first (tests/config); the facility refuses it
    again as it writes the ACL, whatever room it is given."""
    folder = copy_room(tmp_path / "a", "room-a")
    lights = folder / "devices" / "lights.yaml"
    lights.write_text(
        lights.read_text().replace("topic: ceiling_light", 'topic: "ceiling_light "')
    )  # fmt: skip
    status, output = init(folder, output=tmp_path / "facility")
    assert status == 2
    assert "topic 'ceiling_light ' begins or ends with a space" in output
    assert not (tmp_path / "facility").exists()

    room = load_room(copy_room(tmp_path / "b", "room-b") / "config.yaml")
    unchecked = room.devices["ceiling"].model_copy(update={"topic": "ceiling_light "})
    room.devices["ceiling"] = unchecked  # model_copy checks nothing: as a room built in code
    with pytest.raises(FacilityError, match="cannot go in an ACL file"):
        check_rooms([room_access(room)])


@pytest.mark.parametrize(
    ("prefix", "refused"),
    [
        ("sessionroom", "is within 'sessionroom/#', which the homeassistant login may publish"),
        ("zigbee2mqtt", "is within 'zigbee2mqtt/#', which the homeassistant login may publish"),
        # Room B's own vitals devices are under it: its own check refuses it first.
        ("vitals", "device 'oximeter' uses 'vitals/b-oximeter/availability', under Home "),
    ],
)
def test_a_home_assistant_prefix_over_the_rooms_topics_is_refused(
    tmp_path: Path, prefix: str, refused: str
) -> None:
    """The homeassistant login may publish `<prefix>/#`: one room's prefix `sessionroom`
    would let it command every room (and read the notes on their `cmd`), `zigbee2mqtt` drive
    every room's lights past the safety gate, `vitals` read every participant's vitals."""
    rooms = copy_room(tmp_path / "a", "room-a"), copy_room(tmp_path / "b", "room-b", "b-")
    config = rooms[1] / "config.yaml"
    config.write_text(config.read_text().replace("discovery: false", f"prefix: {prefix}"))
    status, output = init(*rooms, output=tmp_path / "facility")
    assert status == 2, output
    assert refused in output
    assert not (tmp_path / "facility").exists()


@pytest.mark.parametrize(
    ("topic", "reached_by"),
    [
        ("sessionroom/room-b/strip", "engine.room-b"),  # room B's engine commands room A's light
        ("sessionroom/room-b-replay/strip", "replay.room-b"),
        ("homeassistant/strip", "homeassistant"),
    ],
)
def test_a_device_topic_within_another_logins_wildcard_is_refused(
    tmp_path: Path, topic: str, reached_by: str
) -> None:
    """A Shelly's prefix is any topic: under another room's `sessionroom/<room>/#` that room's
    engine (and its bridge) could command this room's light; under `homeassistant/` (room B's
    Home Assistant prefix: room A's own check refuses its own prefix) Home Assistant's login
    could."""
    rooms = copy_room(tmp_path / "a", "room-a"), copy_room(tmp_path / "b", "room-b", "b-")
    config = rooms[0] / "config.yaml"
    config.write_text(config.read_text().replace("discovery: false", "prefix: ha-room-a"))
    lights = rooms[0] / "devices" / "lights.yaml"
    wled = "driver: wled\n    topic: wled-strip"
    assert wled in lights.read_text()
    lights.write_text(lights.read_text().replace(wled, f"driver: shelly\n    topic: {topic}"))
    status, output = init(*rooms, output=tmp_path / "facility")
    assert status == 2, output
    assert f"topic '{topic}/rpc' (engine.room-a) is within" in output
    assert reached_by in output
    assert not (tmp_path / "facility").exists()
