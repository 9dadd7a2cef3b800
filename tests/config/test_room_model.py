"""The room model: what a valid room contains, and the rules that need the whole room."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ValidationError

from controller.cli import main
from controller.cli.common import (
    BROKER_ENVVAR,
    Overrides,
    apply_overrides,
    load_settings_or_exit,
)
from controller.config import Room, RoomConfigError, load_room
from controller.config.crossref import set_length_problem
from controller.config.durations import format_duration, parse_duration
from controller.config.models import BlsTarget, Device, DeviceIndex, Plan
from controller.config.playlists import read_m3u
from controller.config.settings import (
    MAX_LABEL_CHARS,
    BaselineThresholds,
    BrokerSettings,
    RoomSettings,
    SafetyLimits,
)
from tests.conftest import REPO


@pytest.fixture(scope="module")
def room() -> Room:
    return load_room(REPO / "config.yaml")


def test_the_shipped_room_has_every_kind_of_device(room: Room) -> None:
    drivers = {device.id: device.driver for device in room.devices.values()}
    assert drivers == {
        "ceiling": "zigbee2mqtt",
        "floor-lamp": "tasmota",
        "strip": "wled",
        "music": "vlc",
        "tones": "tones",
        "tappers": "mqtt-bls",
        "lightbar": "mqtt-bls",
        "headset": "mqtt-vr",
        "oximeter": "mqtt-vitals",
        "bp-cuff": "mqtt-vitals",
    }
    assert sorted(room.scenes) == [
        "centering",
        "idle",
        "integration",
        "lights-up",
        "peak",
        "return",
    ]
    assert room.plans["standard"].total_s == 90 * 60
    assert [phase.name for phase in room.plans["rehearsal"].phases] == [
        "centering",
        "peak",
        "return",
        "integration",
    ]


def test_scene_keys_name_a_device_a_group_or_all(room: Room) -> None:
    assert [d.id for d in room.resolve_target("group:ambient", "light")] == ["floor-lamp", "strip"]
    assert [d.id for d in room.resolve_target("all", "light")] == ["ceiling", "floor-lamp", "strip"]
    assert [d.id for d in room.resolve_target("ceiling", "light")] == ["ceiling"]
    assert room.resolve_target("ceiling", "bls") == []


def test_playlists_resolve_tracks_relative_to_their_file(room: Room) -> None:
    centering = room.playlists["centering"]
    assert [track.title for track in centering.tracks] == ["Still Water", "Slow Breath"]
    assert centering.tracks[0].path == REPO / "playlists/audio/centering-1-still-water.wav"
    assert centering.duration_s == 30
    peak = room.playlists["peak"]
    assert [track.gain_db for track in peak.tracks] == [0, -2]


def test_cues_are_seconds_from_the_phase_start_or_before_its_end(room: Room) -> None:
    peak = room.plans["standard"].phases[1]
    assert (peak.cues[0].at, peak.cues[0].do) == (-300, {"action": "volume", "level": 0.3})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("1:30:00", 5400),
        ("-5m", -300),
        ("+10m", 600),
        ("2:30", 150),
        ("1.5m", 90),
    ],
)
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        *("soon", "", "5 minutes", "m", "1x", "nan", "-inf", "infinity", "1e999", "NaN"),
        *("9" * 400 + "s", "9" * 400 + ":00:00"),  # more seconds than a float holds
    ],
)
def test_a_non_duration_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_durations_format_compactly() -> None:
    assert [format_duration(s) for s in (0, 45, 150, 5400, -300)] == [
        "0s",
        "45s",
        "2m30s",
        "1h30m",
        "-5m",
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("embedded", {"mode": "embedded"}),
        (
            "mqtt://broker.lan",
            {"mode": "external", "host": "broker.lan", "port": 1883, "tls": None},
        ),
        ("mqtts://broker.lan", {"mode": "external", "host": "broker.lan", "port": 8883}),
        ("mqtt://10.0.0.5:1884", {"mode": "external", "host": "10.0.0.5", "port": 1884}),
    ],
)
def test_a_broker_is_named_by_url(url: str, expected: dict[str, object]) -> None:
    settings = BrokerSettings.model_validate(url).model_dump()
    assert {key: settings[key] for key in expected} == expected
    assert (settings["tls"] is not None) == url.startswith("mqtts")


def test_command_line_overrides_win_over_config(room: Room, tmp_path: Path) -> None:
    overridden = apply_overrides(
        load_room(REPO / "config.yaml"),
        Overrides(broker="mqtt://127.0.0.1:1999", room_id="room-b", data_dir=tmp_path),
    )
    assert (overridden.settings.broker.host, overridden.settings.broker.port) == ("127.0.0.1", 1999)
    assert overridden.room_id == "room-b"
    assert overridden.data_dir == tmp_path.resolve()


@pytest.mark.parametrize(
    ("config_broker", "host", "port"),
    [
        ("{mode: embedded, port: 18830}", "127.0.0.1", 18830),
        ("{mode: embedded, port: 0}", "127.0.0.1", 0),
        ("{mode: embedded, host: 0.0.0.0, port: 18830}", "0.0.0.0", 18830),
        ("{mode: embedded, host: '::'}", "::", 1883),
        ("mqtt://10.0.0.5:1884", "127.0.0.1", 1884),  # no embedded broker listens on 10.0.0.5
        ("embedded", "127.0.0.1", 1883),
    ],
)
def test_broker_embedded_on_the_command_line_keeps_the_port_and_host_of_config_yaml(
    tmp_path: Path, config_broker: str, host: str, port: int
) -> None:
    """README: the embedded broker is on the configured port. It was on 1883, where a console
    or `ctl` without --broker (on config.yaml's port) never met the engine; and on 127.0.0.1
    when config.yaml had it on 0.0.0.0, where no device of the room reached it."""
    (tmp_path / "config.yaml").write_text(f"room: a\nbroker: {config_broker}\n")
    room = load_settings_or_exit(tmp_path / "config.yaml", Overrides(broker="embedded"))
    assert room.settings.broker == BrokerSettings(mode="embedded", host=host, port=port)


def test_a_bad_broker_url_is_a_usage_error() -> None:
    with pytest.raises(click.BadParameter, match="is not 'embedded', mqtt://HOST:PORT"):
        apply_overrides(load_room(REPO / "config.yaml"), Overrides(broker="http://x"))


NOT_A_BROKER_URL_FORM = "is not 'embedded', mqtt://HOST:PORT or mqtts://HOST:PORT"
NOT_A_BROKER_URL = f"{NOT_A_BROKER_URL_FORM} (PORT: 1 to 65535)"
FREE_PORT_REFUSED = "0 (a free port) is for an embedded broker: give the external one's port"


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("mqtt://broker.lan:0", FREE_PORT_REFUSED),
        ("mqtts://broker.lan:0", FREE_PORT_REFUSED),
        ("mqtt://[::1]:0", FREE_PORT_REFUSED),
        ("mqtt://broker.lan:", f"broker 'mqtt://broker.lan:' {NOT_A_BROKER_URL}"),
        ("mqtt://broker.lan:99999", f"broker 'mqtt://broker.lan:99999' {NOT_A_BROKER_URL}"),
        ("mqtt://broker.lan:abc", f"broker 'mqtt://broker.lan:abc' {NOT_A_BROKER_URL}"),
        ("mqtt://[::1]:", f"broker 'mqtt://[::1]:' {NOT_A_BROKER_URL}"),
    ],
)
def test_a_broker_url_whose_port_no_client_reaches_is_a_usage_error(url: str, refusal: str) -> None:
    """It became port 1883 (8883), some other broker's, without a word."""
    with pytest.raises(click.BadParameter) as refused:
        apply_overrides(load_room(REPO / "config.yaml"), Overrides(broker=url))
    assert refused.value.format_message() == f"Invalid value for --broker: {refusal}"


def ctl_refused(*arguments: str, environment: dict[str, str] | None = None) -> str:
    """What `sessionroom ctl ARGUMENTS state` on the example room says as it exits 2."""
    config = str(REPO / "config.yaml")
    result = CliRunner(env=environment).invoke(
        main, ["ctl", "--config", config, *arguments, "state"]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.stderr


def test_broker_port_0_on_the_command_line_exits_2() -> None:
    stderr = ctl_refused("--broker", "mqtt://127.0.0.1:0")
    assert f"Invalid value for --broker: {FREE_PORT_REFUSED}" in stderr


def test_a_broker_url_with_port_0_in_config_yaml_is_refused_as_a_mapping_is(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.yaml").write_text("room: a\nbroker: mqtt://broker.lan:0\n")
    with pytest.raises(RoomConfigError) as caught:
        load_room(tmp_path / "config.yaml")
    issues = [str(issue) for issue in caught.value.issues]
    assert f"config.yaml:2: broker.port: {FREE_PORT_REFUSED}" in issues


@pytest.mark.parametrize(
    ("url", "rest"),
    [
        ("mqtt://h:1883/x", "/x"),
        ("mqtt://h:1883?y", "?y"),
        ("mqtt://h#z", "#z"),
        ("mqtts://u@h:8883/", "/"),
        ("mqtt://h?", "?"),
    ],
)
def test_a_broker_url_with_anything_after_its_port_is_refused_on_the_command_line(
    url: str, rest: str
) -> None:
    """A path, query or fragment was dropped without a word: `mqtt://h:1883/room-b` is no
    other room, and a trailing `/` alone is refused with them (a URL is HOST and PORT only)."""
    refusal = f"broker {url!r} {NOT_A_BROKER_URL_FORM} (nothing may follow HOST:PORT: {rest!r})"
    assert f"Invalid value for --broker: {refusal}" in ctl_refused("--broker", url)


def test_a_broker_url_with_a_path_in_config_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("room: a\nbroker: mqtt://broker.lan:1883/x\n")
    with pytest.raises(RoomConfigError) as caught:
        load_room(tmp_path / "config.yaml")
    issues = [str(issue) for issue in caught.value.issues]
    url = "'mqtt://broker.lan:1883/x'"
    refusal = f"broker {url} {NOT_A_BROKER_URL_FORM} (nothing may follow HOST:PORT: '/x')"
    assert f"config.yaml:2: broker: {refusal}" in issues


def test_a_broker_url_may_leave_its_port_out() -> None:
    for url, port in (("mqtt://[::1]", 1883), ("mqtts://u@[::1]", 8883), ("mqtt://h:1", 1)):
        assert BrokerSettings.model_validate(url).port == port


def test_a_bad_broker_url_from_the_environment_is_a_usage_error_naming_the_variable() -> None:
    """It said `--broker` to a technician who had given none."""
    url = "mqtt://my host:1883"
    stderr = ctl_refused(environment={BROKER_ENVVAR: url})
    refusal = f"broker {url!r} {NOT_A_BROKER_URL_FORM} (HOST 'my host' has a space in it)"
    assert f"Invalid value for {BROKER_ENVVAR}: {refusal}" in stderr


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mqtt://my host:1883", r"HOST 'my host' has a space in it)"),
        ("mqtts://\xa0broker.lan", r"HOST '\xa0broker.lan' has a space in it ('\xa0'))"),
        ("mqtt://h\x00:1883", r"HOST 'h\x00' has a control character in it ('\x00'))"),
        ("mqtt://h\x7f", r"HOST 'h\x7f' has a control character in it ('\x7f'))"),
        ("mqtt://bro\u200bker:1", r"HOST 'bro\u200bker' has a control character in it ('\u200b'))"),
    ],
)
def test_a_broker_url_whose_host_has_a_space_or_control_character_names_no_broker(
    url: str, problem: str
) -> None:
    """No socket reaches such a host: a console or `ctl` tried it, and the engine retried it
    for ever, with nothing but a name lookup's failure to say why."""
    with pytest.raises(click.BadParameter) as refused:
        apply_overrides(load_room(REPO / "config.yaml"), Overrides(broker=url))
    refusal = f"broker {url!r} {NOT_A_BROKER_URL_FORM} ({problem}"
    assert refused.value.format_message() == f"Invalid value for --broker: {refusal}"


def test_a_broker_host_with_a_space_exits_2_on_the_command_line() -> None:
    url = "mqtt://my host:1883"
    refusal = f"broker {url!r} {NOT_A_BROKER_URL_FORM} (HOST 'my host' has a space in it)"
    assert f"Invalid value for --broker: {refusal}" in ctl_refused("--broker", url)


def test_a_broker_host_with_a_control_character_in_config_yaml_is_refused_with_its_line(
    tmp_path: Path,
) -> None:
    """As a URL and as a mapping's host (YAML writes a NUL or a tab as an escape)."""
    (tmp_path / "config.yaml").write_text('room: a\nbroker: "mqtt://h\\0:1883"\n')
    with pytest.raises(RoomConfigError) as caught:
        load_room(tmp_path / "config.yaml")
    refusal = (
        "text 'mqtt://h\\x00:1883' holds the control character U+0000, which is not allowed "
        "in room files"
    )
    assert f"config.yaml:2: {refusal}" in [str(issue) for issue in caught.value.issues]
    mapping = 'broker:\n  mode: external\n  host: "my\\thost"\n'
    (tmp_path / "config.yaml").write_text(f"room: a\n{mapping}")
    with pytest.raises(RoomConfigError) as caught:
        load_room(tmp_path / "config.yaml")
    refusal = "broker.host: 'my\\thost' has a space in it ('\\t')"
    assert f"config.yaml:4: {refusal}" in [str(issue) for issue in caught.value.issues]


BRACKETS_REFUSED = "(only an IPv6 address goes in [ ], as the whole HOST)"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mqtt://[::1]x:1", "(nothing may come between ']' and ':PORT': 'x')"),
        ("mqtt://[::1]x", "(nothing may come between ']' and ':PORT': 'x')"),
        ("mqtt://[::1]]:1883", "(nothing may come between ']' and ':PORT': ']')"),
        ("mqtt://x[::1]:1", BRACKETS_REFUSED),
        ("mqtt://[::1", BRACKETS_REFUSED),
        ("mqtt://::1]:1883", BRACKETS_REFUSED),
        ("mqtt://[]:1883", BRACKETS_REFUSED),
        ("mqtt://[10.0.0.5]:1883", BRACKETS_REFUSED),
        ("mqtt://[v1.broker]:1883", BRACKETS_REFUSED),
        ("mqtt://[fe80::1%]:1883", BRACKETS_REFUSED),
    ],
)
def test_a_broker_url_with_brackets_around_anything_but_a_whole_ipv6_host_is_refused(
    url: str, problem: str
) -> None:
    """`mqtt://[::1]x:1` was the broker on ::1, port 1, and `mqtt://x[::1]:1` too; a `[`
    left open was refused in `urlsplit`'s words, without the URL."""
    with pytest.raises(click.BadParameter) as refused:
        apply_overrides(load_room(REPO / "config.yaml"), Overrides(broker=url))
    refusal = f"broker {url!r} {NOT_A_BROKER_URL_FORM} {problem}"
    assert refused.value.format_message() == f"Invalid value for --broker: {refusal}"


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("mqtt://[::1]:1883", "::1", 1883),
        ("mqtt://[fe80::1%eth0]:1884", "fe80::1%eth0", 1884),
        ("mqtts://[fe80::1%25eth0]", "fe80::1%eth0", 8883),
        ("mqtt://u@[FE80::1%Wlan0]:1", "fe80::1%Wlan0", 1),
    ],
)
def test_an_ipv6_broker_is_named_in_brackets_with_its_zone_as_written(
    url: str, host: str, port: int
) -> None:
    """A link-local address needs its interface (its zone), in the case of the interface's
    name; RFC 6874 writes the `%` before it as `%25` in a URL."""
    broker = BrokerSettings.model_validate(url)
    assert (broker.host, broker.port) == (host, port)


def test_a_broker_url_with_something_after_its_ipv6_address_exits_2() -> None:
    url = "mqtt://[::1]x:1"
    refusal = f"{NOT_A_BROKER_URL_FORM} (nothing may come between ']' and ':PORT': 'x')"
    assert f"Invalid value for --broker: broker {url!r} {refusal}" in ctl_refused("--broker", url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://10.0.0.5:1884 ", ("external", "10.0.0.5", 1884)),
        ("\tmqtts://broker.lan\xa0\n", ("external", "broker.lan", 8883)),
        (" embedded ", ("embedded", "127.0.0.1", 1883)),
    ],
)
def test_spaces_around_a_broker_url_are_no_part_of_it(
    url: str, expected: tuple[str, str, int], tmp_path: Path
) -> None:
    """A URL pasted with a space after it was refused as a bad PORT, on the command line
    (or in SESSIONROOM_BROKER) and in config.yaml alike."""
    (tmp_path / "config.yaml").write_text(f"room: a\nbroker: {json.dumps(url)}\n")
    from_file = load_settings_or_exit(tmp_path / "config.yaml")
    overridden = apply_overrides(from_file, Overrides(broker=url))
    for broker in (from_file.settings.broker, overridden.settings.broker):
        assert (broker.mode, broker.host, broker.port) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mqtt://my\thost:1883", "(a tab or a line break in it)"),
        ("mqtt://broker.lan\n:1883", "(a tab or a line break in it)"),
        ("mqtt://@broker.lan:1883", "(USER '' is empty)"),
        (
            "mqtt://console%2Ea@broker.lan",
            "(USER 'console%2Ea' has a '%' in it (escapes are not decoded: give it as "
            "broker.username))",
        ),
        ("mqtt://console\x00@broker.lan", "(USER 'console\\x00' has a control character in it)"),
    ],
)
def test_a_broker_url_misread_beside_its_host_is_refused(url: str, problem: str) -> None:
    """`urlsplit` dropped a tab or a line break without a word (`my\\thost` was `myhost`); an
    empty USER (`mqtt://${USER}@host` with USER unset) connected without a login, and
    `%2E` went to the broker as it is written, a URL's escape that no URL decoded."""
    with pytest.raises(click.BadParameter) as refused:
        apply_overrides(load_room(REPO / "config.yaml"), Overrides(broker=url))
    refusal = f"broker {url!r} {NOT_A_BROKER_URL_FORM} {problem}"
    assert refused.value.format_message() == f"Invalid value for --broker: {refusal}"


@pytest.mark.parametrize(
    "url",
    [
        "mqtts://console.room-a:s3cret@broker.lan:8883/",
        "mqtts://console.room-a:s3cret@[::1",
        "mqtts://console.room-a:s3cret@broker\t.lan",
        "mqtts://console.room-a:s3cret@my broker.lan",
    ],
)
def test_no_refusal_of_a_broker_url_shows_its_password(url: str) -> None:
    """`mqtts://u:s3cret@broker.lan:8883/` was refused for its `/`, the password shown."""
    with pytest.raises(click.BadParameter) as refused:
        apply_overrides(load_room(REPO / "config.yaml"), Overrides(broker=url))
    assert "s3cret" not in refused.value.format_message()


NO_NAME = "is no host name or address (a name has letters, digits, '-' and '.')"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mqtt://%62roker.lan:1883", f"(HOST '%62roker.lan' {NO_NAME})"),
        ("mqtt://broker\\lan", f"(HOST 'broker\\\\lan' {NO_NAME})"),
        ("mqtt://broker!.lan", f"(HOST 'broker!.lan' {NO_NAME})"),
        (
            "mqtt://" + "a." * 127 + "lan",
            f"(HOST '{'a.' * 127}lan' is no host name: longer than 253 characters)",
        ),
        ("mqtt://:1883", "(no HOST)"),
        ("mqtt:///broker.lan", "(no HOST)"),
        ("mqtt://::1:1883", "(one ':' ends HOST: an IPv6 address goes in [ ], mqtt://[::1]:1883)"),
    ],
)
def test_a_broker_url_whose_host_is_no_name_or_address_says_what_is_wrong_with_it(
    url: str, problem: str
) -> None:
    """`%62roker.lan` is no escape of `broker.lan` (the name went to the resolver as it is
    written), and a name over 253 characters reaches nothing: both were taken."""
    with pytest.raises(click.BadParameter) as refused:
        apply_overrides(load_room(REPO / "config.yaml"), Overrides(broker=url))
    refusal = f"broker {url!r} {NOT_A_BROKER_URL_FORM} {problem}"
    assert refused.value.format_message() == f"Invalid value for --broker: {refusal}"


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("mqtt://" + "a" * 100_000, "HOST"),
        ("mqtt://broker.lan:1883/" + "x" * 100_000, "nothing may follow HOST:PORT"),
        ("mqtt://" + "u" * 100_000 + "%@broker.lan", "USER"),
        ("mqtt://[::1]" + "y" * 100_000 + ":1883", "between ']' and ':PORT'"),
        ("ftp://" + "z" * 100_000, NOT_A_BROKER_URL_FORM),
    ],
    ids=["host", "path", "user", "after-ipv6", "scheme"],
)
def test_a_huge_broker_url_is_refused_without_being_echoed_whole(url: str, part: str) -> None:
    """A 100 KB URL pasted into `--broker` made a 100 KB refusal (twice over: the URL and its
    HOST); a refusal quotes the start of what it refuses and says how long it is."""
    with pytest.raises(click.BadParameter) as refused:
        apply_overrides(load_room(REPO / "config.yaml"), Overrides(broker=url))
    message = refused.value.format_message()
    assert len(message) < 1_500
    assert part in message
    assert "characters)" in message


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("mqtt://broker_1.clinic.lan", "broker_1.clinic.lan"),
        ("mqtt://Broker.Clinic.LAN.", "broker.clinic.lan."),
        ("mqtt://bücher.lan", "bücher.lan"),
        ("MQTT://10.0.0.5", "10.0.0.5"),
    ],
)
def test_a_broker_host_may_be_any_name_a_resolver_takes(url: str, host: str) -> None:
    assert BrokerSettings.model_validate(url).host == host


NOT_DOTTED = "is no IPv4 address as a.b.c.d writes it, 0 to 255 each, no leading zero"


@pytest.mark.parametrize(
    ("host", "reached"),
    [
        ("010.000.000.005", "8.0.0.5"),
        ("10.0.15", "10.0.0.15"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("167772165", "10.0.0.5"),
        ("０１０.０.０.５", "8.0.0.5"),
    ],
)
def test_a_broker_host_a_socket_reads_as_another_ipv4_address_is_refused(
    host: str, reached: str
) -> None:
    """The resolver reads these as `inet_aton` does (a leading 0 is octal, a missing part is
    zeros), full-width digits once IDNA-encoded: `010.000.000.005` connected to 8.0.0.5, a
    machine on the internet, and sent it the login."""
    assert socket.inet_ntoa(socket.inet_aton(host.encode("idna").decode())) == reached
    url = f"mqtt://{host}:1883"
    with pytest.raises(click.BadParameter) as refused:
        apply_overrides(load_room(REPO / "config.yaml"), Overrides(broker=url))
    refusal = f"broker {url!r} {NOT_A_BROKER_URL_FORM} (HOST {host!r} {NOT_DOTTED})"
    assert refused.value.format_message() == f"Invalid value for --broker: {refusal}"
    with pytest.raises(ValidationError, match=re.escape(f"{host!r} {NOT_DOTTED}")):
        BrokerSettings(mode="external", host=host)


def test_a_broker_mappings_host_with_a_character_no_name_has_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"'\[::1\]' is no host name or address"):
        BrokerSettings(mode="external", host="[::1]")


def test_a_password_in_a_broker_url_is_refused_not_dropped() -> None:
    """It would be visible in /proc/*/cmdline, and go on every web console's command line."""
    with pytest.raises(click.BadParameter, match="give it in a password_file") as refused:
        apply_overrides(
            load_room(REPO / "config.yaml"),
            Overrides(broker="mqtts://console.room-a:s3cret@broker.lan:8883"),
        )
    assert "s3cret" not in str(refused.value)


def test_a_long_bls_set_needs_confirmation_and_never_passes_the_hard_bound() -> None:
    limits = SafetyLimits()
    assert set_length_problem(BlsTarget(speed_hz=1.0, passes=24), limits) is None
    assert "confirm_long_set" in (
        set_length_problem(BlsTarget(speed_hz=1.0, passes=40), limits) or ""
    )
    assert (
        set_length_problem(BlsTarget(speed_hz=1.0, passes=40, confirm_long_set=True), limits)
        is None
    )
    assert "hard limit 120 s" in (
        set_length_problem(BlsTarget(speed_hz=0.5, passes=80, confirm_long_set=True), limits) or ""
    )


def test_a_room_may_tighten_limits_but_not_invert_them() -> None:
    with pytest.raises(ValueError, match="bls_speed_min_hz is above bls_speed_max_hz"):
        SafetyLimits(bls_speed_min_hz=1.5, bls_speed_max_hz=1.0)


def test_loading_reports_every_problem_not_just_the_first(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("room: Room A\nbroker: ftp://x\n")
    with pytest.raises(RoomConfigError) as caught:
        load_room(tmp_path / "config.yaml")
    assert [str(issue) for issue in caught.value.issues] == [
        "config.yaml:1: room 'Room A' is not a valid id (lower-case letters, digits, . _ -)",
        "config.yaml:2: broker: broker 'ftp://x' is not 'embedded', mqtt://HOST:PORT or mqtts://HOST:PORT",
        "devices: folder not found",
        "playlists: folder not found",
        "scenes: folder not found",
        "scenes/plans: folder not found",
    ]


def test_every_command_explains_itself_with_an_example() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0 and "Example:" in top.output
    for name in main.list_commands(click.Context(main)):
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.output, f"sessionroom {name} --help has no example"


@pytest.mark.parametrize("age", [0, 5, "9s", 4 * 3600 + 1, "5h"])
def test_a_baseline_age_outside_10_s_to_4_h_is_refused(age: float | str) -> None:
    """docs/safety.md#limits-and-hard-bounds: `max_age_s` 10 s–4 h (it took 0 to 24 h)."""
    with pytest.raises(ValidationError, match="max_age_s"):
        BaselineThresholds(max_age_s=age)
    assert BaselineThresholds(max_age_s="10s").max_age_s == 10


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (SafetyLimits, {"volume_cap": True}),
        (SafetyLimits, {"max_flashes_per_s": True}),
        (SafetyLimits, {"bls_set_max_passes": True}),
        (RoomSettings, {"room": "r", "time_scale": True}),
        (BlsTarget, {"speed_hz": True, "passes": 10}),
    ],
)
def test_a_yes_or_no_where_a_number_belongs_is_refused(
    model: type[BaseModel], data: dict[str, object]
) -> None:
    """YAML reads `on`/`yes` as true, which pydantic would take as 1 (a volume cap of 1 %)."""
    with pytest.raises(ValidationError, match=r"true \(yes/no\) is not a number") as caught:
        model.model_validate(data)
    assert caught.value.error_count() == 1


@pytest.mark.parametrize("length", ["1e400", "inf", "nan", "-1"])
def test_an_m3u_length_that_is_no_length_is_left_unknown(length: str, tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "list.m3u").write_text(f"#EXTINF:{length},A\na.wav\n")
    playlist, issues = read_m3u(tmp_path / "list.m3u", "list.m3u")
    assert issues == [] and playlist is not None
    assert playlist.tracks[0].duration_s is None


@pytest.mark.parametrize(
    ("model", "data"),
    [
        # the gate divided by the ramp: 5e-324 % / s / 100 is 0.0, a ZeroDivisionError mid-session
        (SafetyLimits, {"volume_ramp_per_s": 5e-324}),
        (SafetyLimits, {"volume_ramp_per_s": 0.09}),
        # the engine divides its update rate by the scale: inf, and it would not start
        (RoomSettings, {"room": "r", "time_scale": 5e-324}),
        (RoomSettings, {"room": "r", "time_scale": 0.009}),
    ],
)
def test_a_rate_so_small_the_engine_divides_by_nothing_is_refused(
    model: type[BaseModel], data: dict[str, object]
) -> None:
    with pytest.raises(ValidationError, match="type=greater_than_equal"):
        model.model_validate(data)


def test_a_rate_is_named_in_its_unit(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "room: r\nsafety:\n  volume_ramp_per_s: 0.05\n  max_flashes_per_s: 4\n"
    )
    with pytest.raises(RoomConfigError) as caught:
        load_room(tmp_path / "config.yaml")
    assert [str(issue) for issue in caught.value.issues[:2]] == [
        "config.yaml:3: safety.volume_ramp_per_s 0.05 is too low: it must be at least 0.1 % per s",
        "config.yaml:4: safety.max_flashes_per_s 4 is above the hard limit 3 per s",
    ]


@pytest.mark.parametrize("topic", ["a\x01b", "lamp\x7f", "lamp\u0085", "lamp\u2028", "x" * 201])
def test_a_device_topic_a_broker_would_refuse_is_refused(topic: str) -> None:
    """Mosquitto drops the connection of a client that publishes to a topic holding a control
    character ("malformed packet"), and paho refuses a topic over 64 KiB: the engine's every
    command (an emergency's lights-up included) would go nowhere while it reconnected."""
    with pytest.raises(ValidationError, match="topic"):
        Device(id="lamp", kind="light", driver="zigbee2mqtt", topic=topic)
    assert Device(id="lamp", kind="light", driver="zigbee2mqtt", topic="Living room/Lamp 1")


@pytest.mark.parametrize(
    "base", ["z2m\x01", "z2m\u2028", "x" * 65, "a/b", "z2m/", "+", "$share", "sessionroom"]
)
def test_a_zigbee2mqtt_base_topic_is_one_plain_level(base: str) -> None:
    with pytest.raises(ValidationError, match="base_topic"):
        Device(id="lamp", kind="light", driver="zigbee2mqtt", topic="lamp", base_topic=base)
    lamp = Device(id="lamp", kind="light", driver="zigbee2mqtt", topic="lamp", base_topic="z_2")
    assert lamp.zigbee2mqtt_base == "z_2"


def copy_example(folder: Path) -> None:
    """The example room's files in `folder`."""
    for part in ("devices", "scenes", "playlists"):
        shutil.copytree(REPO / part, folder / part)
    (folder / "config.yaml").write_text((REPO / "config.yaml").read_text())


def with_extra_light(folder: Path, light: str) -> tuple[Path, list[str]]:
    """The example room in `folder` with one more device (a YAML flow mapping): its extra
    device file, and the issues loading it raises."""
    copy_example(folder)
    extra = folder / "devices" / "zz-extra.yaml"
    extra.write_text(f"devices:\n  - {light}\n")
    with pytest.raises(RoomConfigError) as caught:
        load_room(folder / "config.yaml")
    return extra, [str(issue) for issue in caught.value.issues]


def test_one_friendly_name_under_two_base_topics_is_two_lights(tmp_path: Path) -> None:
    """Two Zigbee2MQTT instances may each have a `lamp`; one instance may not have two."""
    copy_example(tmp_path)
    lamp = "  - {{id: {}, kind: light, driver: zigbee2mqtt, topic: lamp, base_topic: {}}}\n"
    extra = tmp_path / "devices" / "zz-extra.yaml"
    extra.write_text("devices:\n" + lamp.format("lamp-a", "z2m-a") + lamp.format("lamp-b", "z2m-b"))
    room = load_room(tmp_path / "config.yaml")
    assert (room.devices["lamp-a"].zigbee2mqtt_base, room.devices["ceiling"].zigbee2mqtt_base) == (
        "z2m-a",
        "zigbee2mqtt",
    )
    extra.write_text(extra.read_text() + lamp.format("lamp-c", "z2m-a"))
    with pytest.raises(RoomConfigError) as caught:
        load_room(tmp_path / "config.yaml")
    assert [str(issue) for issue in caught.value.issues] == [
        "devices/zz-extra.yaml:4: topic 'lamp' is also used by device 'lamp-a'"
    ]


@pytest.mark.parametrize(
    ("base", "line", "device", "topic"),
    [
        ("cmnd", 16, "floor-lamp", "cmnd/floorlamp/Backlog"),  # a light's state on its command
        ("stat", 16, "floor-lamp", "stat/floorlamp/RESULT"),  # on its report
        ("wled", 25, "strip", "wled/wled-strip/api"),
        ("vitals", 7, "oximeter", "vitals/oximeter/availability"),
    ],
)
def test_no_other_device_lives_under_a_zigbee2mqtt_base_topic(
    tmp_path: Path, base: str, line: int, device: str, topic: str
) -> None:
    """Zigbee2MQTT reads and acts on all of `<base>/#` and publishes its lights' state there:
    under base `cmnd`, a light named `floorlamp/Power` would switch the Tasmota, and the
    Tasmota's commands would reach Zigbee2MQTT."""
    light = f"{{id: x, kind: light, driver: zigbee2mqtt, topic: l, base_topic: {base}}}"
    extra, issues = with_extra_light(tmp_path, light)
    file = "vitals" if device == "oximeter" else "lights"
    assert issues[0] == (
        f"devices/{file}.yaml:{line}: device {device!r} uses {topic!r}, under {base!r}: the base "
        "topic of Zigbee2MQTT light 'x' (Zigbee2MQTT reads and acts on all of it): give one of "
        "them another topic"
    )
    extra.write_text(extra.read_text().replace(base, "z2m-lab"))
    assert load_room(tmp_path / "config.yaml").devices["x"].zigbee2mqtt_base == "z2m-lab"


def test_two_base_topics_that_differ_in_case_only_are_refused(tmp_path: Path) -> None:
    """Most likely one Zigbee2MQTT mistyped: the lights of the other base would never be
    online; and their password files are one file on a case-insensitive disk."""
    light = "{id: x, kind: light, driver: zigbee2mqtt, topic: l, base_topic: Zigbee2MQTT}"
    assert with_extra_light(tmp_path, light)[1] == [
        "devices/zz-extra.yaml:2: base_topic 'Zigbee2MQTT' differs from 'zigbee2mqtt' (light "
        "'ceiling') in case only: MQTT topics tell them apart, so they are two Zigbee2MQTT (and "
        "one password file on a disk that does not)"
    ]


@pytest.mark.parametrize(
    ("light", "topic"),
    [
        ("{id: x, kind: light, driver: zigbee2mqtt, topic: l, base_topic: homeassistant}", "l/set"),
        ("{id: x, kind: light, driver: shelly, topic: homeassistant/lamp}", "lamp/rpc"),
    ],
    ids=["zigbee2mqtt-base", "shelly"],
)
def test_no_device_lives_under_home_assistants_prefix(
    tmp_path: Path, light: str, topic: str
) -> None:
    """In a facility Home Assistant's login may publish all of `<prefix>/#` (its discovery,
    its status, a room's emergency button): a light under it would take its commands from
    Home Assistant. `facility init` refuses it for a facility; `check` for one room."""
    issues = with_extra_light(tmp_path, light)[1]
    assert issues == [
        f"devices/zz-extra.yaml:2: device 'x' uses 'homeassistant/{topic}', under Home "
        "Assistant's prefix 'homeassistant' (home_assistant.prefix), which Home Assistant may "
        "publish all of: give the device another topic, or Home Assistant another prefix"
    ]
    config = tmp_path / "config.yaml"
    config.write_text(config.read_text().replace("discovery: false", "prefix: ha-lab"))
    assert load_room(config).devices["x"].kind == "light"


def test_a_base_topic_under_home_assistants_prefix_is_named_on_its_own_line(
    tmp_path: Path,
) -> None:
    """The issue points at the line that puts the light under the prefix: its base topic,
    not its friendly name (`topic: lamp` is no fault of its own)."""
    copy_example(tmp_path)
    extra = tmp_path / "devices" / "zz-extra.yaml"
    extra.write_text(
        "devices:\n  - id: x\n    kind: light\n    driver: zigbee2mqtt\n    topic: lamp\n"
        "    base_topic: homeassistant\n"
    )
    with pytest.raises(RoomConfigError) as caught:
        load_room(tmp_path / "config.yaml")
    assert [str(issue).split(": device")[0] for issue in caught.value.issues] == [
        "devices/zz-extra.yaml:6"
    ]


def test_a_friendly_name_whose_state_is_another_lights_availability_is_refused(
    tmp_path: Path,
) -> None:
    """`ceiling_light/availability` reports its state on the ceiling's availability topic:
    the engine would read a light's state as the other's availability."""
    light = "{id: x, kind: light, driver: zigbee2mqtt, topic: ceiling_light/availability}"
    extra, issues = with_extra_light(tmp_path, light)
    assert issues == [
        "devices/zz-extra.yaml:2: device 'x' reports on 'zigbee2mqtt/ceiling_light/availability', "
        "as device 'ceiling' does: give one of them another topic"
    ]
    extra.write_text(extra.read_text().replace("availability", "reading"))  # its own topics
    assert load_room(tmp_path / "config.yaml").devices["x"].topic == "ceiling_light/reading"


def test_names_that_travel_in_the_retained_state_are_short(tmp_path: Path) -> None:
    """Device labels, plan titles and track titles go into the retained state, which a console
    reads up to 1 MiB: a few room files of 900 KB titles left every console without a state."""
    long = "x" * (MAX_LABEL_CHARS + 1)
    with pytest.raises(ValidationError, match="string_too_long"):
        Device(id="lamp", kind="light", driver="zigbee2mqtt", topic="lamp", label=long)
    with pytest.raises(ValidationError, match="string_too_long"):
        Plan.model_validate(
            {"title": long, "phases": [{"name": "peak", "scene": "s", "duration": 1}]}
        )
    (tmp_path / "a.wav").write_bytes(b"")
    (tmp_path / "list.m3u").write_text(f"#EXTINF:10,{long}\na.wav\n")
    playlist, issues = read_m3u(tmp_path / "list.m3u", "list.m3u")
    assert playlist is None
    assert [str(issue) for issue in issues] == [
        f"list.m3u:1: a title of {MAX_LABEL_CHARS + 1} characters is longer than {MAX_LABEL_CHARS}"
    ]


def test_a_device_index_names_devices_as_scene_keys_do() -> None:
    lamps = [
        Device(id="all", kind="light", driver="zigbee2mqtt", topic="a", groups=["g"]),
        Device(id="b", kind="light", driver="zigbee2mqtt", topic="b", groups=["g", "g"]),
        Device(id="c", kind="vr", driver="mqtt-vr", topic="c", groups=["g"]),
    ]
    index = DeviceIndex(lamps)
    assert [d.id for d in index.select("all", "light")] == ["all", "b"]
    assert [d.id for d in index.select("group:g", "light")] == ["all", "b"]
    assert [d.id for d in index.select("b", "light")] == ["b"]
    assert [d.id for d in index.select("group:g", "vr")] == ["c"]
    assert index.select("c", "light") == [] and index.select("g", "light") == []
