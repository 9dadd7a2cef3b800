"""Drivers read their own command messages back (decode), for gating a replayed session.

Exact examples per driver, round trips over each driver's command space, refusals with their
reasons, and fuzzing: decode answers a command or raises PayloadError, never anything else.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.drivers import (
    BlsCommand,
    CommandDriver,
    LightCommand,
    LightDriver,
    VrCommand,
    make_driver,
)
from controller.drivers.conversions import clamp_kelvin, mired_bounds, to_scale
from controller.drivers.mqtt_vr import MqttVr
from controller.drivers.payloads import MAX_PAYLOAD_BYTES, PayloadError
from controller.drivers.shelly import ShellyLight
from controller.drivers.tasmota import CT_MIREDS, TasmotaLight
from controller.drivers.wled import CCT_KELVIN
from controller.untrusted import MAX_INT_DIGITS
from tests.drivers import strategies
from tests.drivers.devices import device

ROUND_TRIPS = settings(max_examples=150, deadline=None)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

COLOURED: dict[str, dict[str, Any]] = {
    "zigbee2mqtt": {"kelvin_range": (2000, 6500), "rgb": True},
    "tasmota": {"kelvin_range": (2000, 6500), "rgb": True},
    "wled": {"kelvin_range": (2700, 6500), "rgb": True},
    "shelly": {"rgb": True},
}
LIGHTS: list[tuple[str, dict[str, Any]]] = [
    *COLOURED.items(),
    ("zigbee2mqtt", {}),
    ("tasmota", {"kelvin_range": (1000, 20000)}),
    ("wled", {"rgb": True}),
    ("shelly", {}),
]
COMMAND_DRIVERS: list[tuple[str, dict[str, Any]]] = [
    *LIGHTS,
    ("mqtt-vr", {}),
    ("mqtt-bls", {"mode": "tactile"}),
    ("mqtt-bls", {"mode": "visual"}),
]
SCALE_TOP = {"zigbee2mqtt": 254, "tasmota": 100, "wled": 255, "shelly": 100}


def driver(name: str, **fields: Any) -> CommandDriver[Any]:
    made = make_driver(device(name, topic="dev1", **fields))
    assert isinstance(made, CommandDriver)
    return made


def light(name: str, **fields: Any) -> LightDriver:
    made = driver(name, **fields)
    assert isinstance(made, LightDriver)
    return made


def ids(cases: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [f"{name}-{'-'.join(fields) or 'plain'}" for name, fields in cases]


# --------------------------------------------------------------------------- topics


@pytest.mark.parametrize(
    ("name", "topics"),
    [
        ("zigbee2mqtt", ("zigbee2mqtt/dev1/set",)),
        ("tasmota", ("cmnd/dev1/Backlog",)),
        ("wled", ("wled/dev1/api",)),
        ("shelly", ("dev1/rpc",)),
        ("mqtt-vr", ("vr/dev1/set",)),
        ("mqtt-bls", ("bls/dev1/set",)),
    ],
)
def test_command_topics_are_where_command_publishes(name: str, topics: tuple[str, ...]) -> None:
    assert driver(name).command_topics() == topics


# --------------------------------------------------------------------------- exact examples

SHELLY_SRC = '"src":"dev1/sessionroom"'
SO117 = "NoDelay;Fade 1;NoDelay;SetOption117 1"
"""How a Tasmota Backlog that fades begins."""
SHELLY_OK = (
    '{"id":1,' + SHELLY_SRC + ',"method":"Light.Set",'
    '"params":{"id":0,"on":true,"brightness":35,"transition_duration":8.0}}'
)

EXAMPLES: list[tuple[str, dict[str, Any], str, object]] = [
    (
        "zigbee2mqtt",
        {"kelvin_range": (2000, 6500)},
        '{"state":"ON","brightness":89,"color_temp":370,"transition":8.0}',
        LightCommand(level=89 / 254, kelvin=2703, transition_s=8.0),
    ),
    (
        "zigbee2mqtt",
        {},
        '{"state":"OFF","transition":2.5}',
        LightCommand(on=False, transition_s=2.5),
    ),
    ("zigbee2mqtt", {}, '{"state":"ON","transition":0.0}', LightCommand()),
    (
        "zigbee2mqtt",
        {"rgb": True},
        '{"state":"ON","color":{"r":255,"g":160,"b":0},"transition":1.3}',
        LightCommand(rgb=(255, 160, 0), transition_s=1.3),
    ),
    (
        "zigbee2mqtt",
        {},
        '{"state":"ON","brightness":254,"transition":6553.4}',
        LightCommand(level=1.0, transition_s=6553.4),
    ),
    (
        "tasmota",
        {},
        "NoDelay;Fade 1;NoDelay;SetOption117 1;NoDelay;Speed2 4;NoDelay;Dimmer 40",
        LightCommand(level=0.4, transition_s=2.0),
    ),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Power OFF", LightCommand(on=False)),
    (
        "tasmota",
        {},
        "NoDelay;Fade 1;NoDelay;SetOption117 1;NoDelay;Speed2 40;NoDelay;Power OFF",
        LightCommand(on=False, transition_s=20.0),
    ),
    (
        "tasmota",
        {"kelvin_range": (2000, 6500)},
        "NoDelay;Fade 1;NoDelay;SetOption117 1;NoDelay;Speed2 10;NoDelay;CT 370;NoDelay;Dimmer 80",
        LightCommand(level=0.8, kelvin=2703, transition_s=5.0),
    ),
    (
        "tasmota",
        {"rgb": True},
        "NoDelay;Fade 0;NoDelay;Color2 0,0,255;NoDelay;Power ON",
        LightCommand(rgb=(0, 0, 255)),
    ),
    (
        "wled",
        {},
        '{"on":true,"bri":128,"seg":[{"fx":0}],"tt":50}',
        LightCommand(level=128 / 255, transition_s=5.0),
    ),
    ("wled", {}, '{"on":false,"tt":15}', LightCommand(on=False, transition_s=1.5)),
    (
        "wled",
        {"rgb": True},
        '{"on":true,"bri":51,"seg":[{"fx":0,"col":[[255,160,0]]}],"tt":3}',
        LightCommand(level=0.2, rgb=(255, 160, 0), transition_s=0.3),
    ),
    (
        "wled",
        {"kelvin_range": (2000, 6500)},
        '{"on":true,"seg":[{"fx":0,"cct":2700}],"tt":655}',
        LightCommand(kelvin=2700, transition_s=65.5),
    ),
    (
        "shelly",
        {},
        '{"id":1,' + SHELLY_SRC + ',"method":"Light.Set",'
        '"params":{"id":0,"on":true,"brightness":35,"transition_duration":8.0}}',
        LightCommand(level=0.35, transition_s=8.0),
    ),
    (
        "shelly",
        {"rgb": True},
        '{"id":7,' + SHELLY_SRC + ',"method":"RGB.Set",'
        '"params":{"id":0,"on":true,"brightness":50,"rgb":[255,0,128],"transition_duration":2.3}}',
        LightCommand(level=0.5, rgb=(255, 0, 128), transition_s=2.3),
    ),
    (
        "shelly",
        {},
        '{"id":2,' + SHELLY_SRC + ',"method":"Light.Set",'
        '"params":{"id":0,"on":false,"transition_duration":1800.0}}',
        LightCommand(on=False, transition_s=1800.0),
    ),
    (
        "mqtt-vr",
        {},
        '{"action":"play","content":"forest-01","volume":40}',
        VrCommand("play", content="forest-01", volume=0.4),
    ),
    ("mqtt-vr", {}, '{"action":"play","content":"x"}', VrCommand("play", content="x")),
    (
        "mqtt-vr",
        {},
        '{"action":"play","content":"caf\\u00e9","volume":0}',
        VrCommand("play", content="café", volume=0.0),
    ),
    ("mqtt-vr", {}, '{"action":"pause"}', VrCommand("pause")),
    ("mqtt-vr", {}, '{"action":"resume"}', VrCommand("resume")),
    ("mqtt-vr", {}, '{"action":"stop"}', VrCommand("stop")),
    ("mqtt-vr", {}, '{"action":"brightness","level":26}', VrCommand("brightness", level=0.26)),
    (
        "mqtt-bls",
        {"mode": "visual"},
        '{"running":true,"mode":"visual","speed_hz":1.2,"intensity":60,"passes":24,'
        '"duration_s":60.0,"colour":"#3366FF"}',
        BlsCommand(
            running=True,
            mode="visual",
            speed_hz=1.2,
            intensity=0.6,
            passes=24,
            duration_s=60.0,
            colour="#3366FF",
        ),
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","passes":null,"duration_s":null}',
        BlsCommand(running=True, mode="tactile"),
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","speed_hz":1,"passes":null,"duration_s":30}',
        BlsCommand(running=True, mode="tactile", speed_hz=1, duration_s=30),
    ),
    ("mqtt-bls", {}, '{"running":false}', BlsCommand(running=False)),
]


@pytest.mark.parametrize(("name", "fields", "payload", "expected"), EXAMPLES)
def test_each_driver_reads_its_own_message_back(
    name: str, fields: dict[str, Any], payload: str, expected: object
) -> None:
    subject = driver(name, **fields)
    (topic,) = subject.command_topics()
    assert subject.decode(topic, payload) == expected


@pytest.mark.parametrize(("name", "fields", "payload", "expected"), EXAMPLES)
def test_each_example_is_what_the_driver_sends_for_its_command(
    name: str, fields: dict[str, Any], payload: str, expected: Any
) -> None:
    subject = driver(name, **fields)
    if name == "shelly":
        payload = payload.replace(payload[: payload.index(",")], '{"id":1')
    (message,) = subject.command(expected)
    assert message.payload == payload


@pytest.mark.parametrize("content", ["a\udc80b", "a\nb", "x" * 257])
def test_content_that_is_no_printable_name_is_never_sent_nor_read_back(content: str) -> None:
    """docs/robustness.md: VR content is at most 256 printable characters; a lone surrogate
    would break the retained state and the journal wherever it went."""
    subject = driver("mqtt-vr")
    with pytest.raises(ValueError, match="content"):
        VrCommand("play", content=content)
    written = json.dumps({"action": "play", "content": content}, separators=(",", ":"))
    with pytest.raises(PayloadError):
        subject.decode("vr/dev1/set", written)


# --------------------------------------------------------------------------- round trips

transitions = st.one_of(
    st.just(0.0),
    st.floats(0, 30),
    st.floats(0, 100_000),
    st.floats(0, sys.float_info.max),
    st.sampled_from([0.05, 0.25, 0.75, 6553.4, 6553.45, 6553.5, 65.5, 65.55, 20.0, 20.25]),
)
levels = st.none() | st.floats(0, 1) | st.sampled_from([0.0, 0.001, 0.002, 0.004, 0.005, 1.0])
colours = st.tuples(*[st.integers(0, 255)] * 3)


def light_commands(subject: LightDriver) -> st.SearchStrategy[LightCommand]:
    """Every target this light's command() takes."""
    colour_choices: list[st.SearchStrategy[tuple[int | None, tuple[int, int, int] | None]]]
    colour_choices = [st.just((None, None))]
    if subject.device.kelvin_range is not None:
        kelvins = st.integers(1, 100_000) | st.integers(1000, 20000)
        colour_choices.append(st.tuples(kelvins, st.none()))
    if subject.device.rgb:
        colour_choices.append(st.tuples(st.none(), colours))
    return st.builds(
        lambda on, level, colour, transition_s: LightCommand(
            on, level, colour[0], colour[1], transition_s
        ),
        on=st.booleans(),
        level=levels,
        colour=st.one_of(colour_choices),
        transition_s=transitions,
    )


def assert_light_round_trip(
    name: str, subject: LightDriver, sent: LightCommand, got: LightCommand
) -> None:
    """`got` is `sent` at the light's resolution."""
    top = SCALE_TOP[name]
    off = not sent.on or (sent.level is not None and to_scale(sent.level, top) == 0)
    assert got.on is not off
    if off:
        assert (got.level, got.kelvin, got.rgb) == (None, None, None)
    else:
        if sent.level is None:
            assert got.level is None
        else:
            assert got.level is not None
            assert abs(got.level - sent.level) <= 0.5 / top + 1e-12
        assert got.rgb == sent.rgb
        if sent.kelvin is None:
            assert got.kelvin is None
        else:
            assert got.kelvin is not None
            kelvin_range = subject.device.kelvin_range
            assert kelvin_range is not None
            if name == "wled":
                assert got.kelvin == clamp_kelvin(sent.kelvin, kelvin_range, CCT_KELVIN)
            else:
                hard = CT_MIREDS if name == "tasmota" else None
                low, high = mired_bounds(kelvin_range, hard)
                wanted = min(max(1e6 / sent.kelvin, low), high)
                assert abs(1e6 / got.kelvin - wanted) <= 1.0
    wanted_s = sent.transition_s
    if name == "zigbee2mqtt":
        assert abs(got.transition_s - min(wanted_s, 6553.4)) <= 0.05 + 1e-9
    elif name == "wled":
        assert abs(got.transition_s - min(wanted_s, 65.5)) <= 0.05 + 1e-9
    elif name == "shelly":
        assert abs(got.transition_s - wanted_s) <= 0.05 + wanted_s * 1e-15
    elif wanted_s == 0:
        assert got.transition_s == 0
    else:  # Tasmota: Speed2 in half seconds, 1–40
        assert abs(got.transition_s - min(max(wanted_s, 0.5), 20.0)) <= 0.25 + 1e-9


@pytest.mark.parametrize(("name", "fields"), LIGHTS, ids=ids(LIGHTS))
@ROUND_TRIPS
@given(data=st.data())
def test_a_light_reads_back_each_command_it_sends(
    name: str, fields: dict[str, Any], data: st.DataObject
) -> None:
    subject = light(name, **fields)
    target = data.draw(light_commands(subject))
    messages = light(name, **fields).command(target)
    assert messages
    for message in messages:
        assert message.topic in subject.command_topics()
        got = subject.decode(message.topic, message.payload)
        assert_light_round_trip(name, subject, target, got)
        # What decode gives is a command the light sends in exactly that form.
        assert light(name, **fields).command(got) == [message]


@pytest.mark.parametrize(("name", "fields"), COLOURED.items(), ids=ids([*COLOURED.items()]))
@ROUND_TRIPS
@given(data=st.data())
def test_a_light_in_use_reads_back_each_command_of_a_sequence(
    name: str, fields: dict[str, Any], data: st.DataObject
) -> None:
    subject = light(name, **fields)
    targets = data.draw(st.lists(light_commands(subject), min_size=1, max_size=6))
    for target in targets:
        (message,) = subject.command(target)
        before = copy.deepcopy(vars(subject))
        got = subject.decode(message.topic, message.payload)
        assert vars(subject) == before  # decode is pure
        assert_light_round_trip(name, subject, target, got)


vr_contents = st.text(
    st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=30,
).filter(str.isprintable)
vr_commands = st.one_of(
    st.builds(
        VrCommand,
        action=st.just("play"),
        content=vr_contents,
        volume=st.none() | st.floats(0, 1),
    ),
    st.builds(VrCommand, action=st.sampled_from(["pause", "resume", "stop"])),
    st.builds(VrCommand, action=st.just("brightness"), level=st.floats(0, 1)),
)


@ROUND_TRIPS
@given(target=vr_commands)
def test_a_headset_reads_back_each_command_it_sends(target: VrCommand) -> None:
    subject = driver("mqtt-vr")
    (message,) = subject.command(target)
    got = subject.decode(message.topic, message.payload)
    assert isinstance(got, VrCommand)
    assert (got.action, got.content) == (target.action, target.content)
    for wanted, read in ((target.volume, got.volume), (target.level, got.level)):
        assert (read is None) is (wanted is None)
    if target.volume is not None and got.volume is not None:  # rounded down: never louder
        assert -1e-6 <= target.volume - got.volume < 0.01
    if target.level is not None and got.level is not None:
        assert abs(got.level - target.level) <= 0.005 + 1e-12
    assert subject.command(got) == [message]


positive = st.floats(min_value=0, exclude_min=True, allow_infinity=False) | st.integers(1, 10**6)


@pytest.mark.parametrize("mode", ["tactile", "visual"])
@ROUND_TRIPS
@given(data=st.data())
def test_a_bls_device_reads_back_each_command_it_sends(mode: str, data: st.DataObject) -> None:
    subject = driver("mqtt-bls", mode=mode)
    target = data.draw(
        st.builds(
            BlsCommand,
            running=st.booleans(),
            mode=st.sampled_from([None, mode]),
            speed_hz=st.none() | positive,
            intensity=st.none() | st.floats(0, 1),
            passes=st.none() | st.integers(1, 10**MAX_INT_DIGITS - 1),  # longer: untrusted
            duration_s=st.none() | positive,
            colour=st.none() | st.from_regex(r"#[0-9a-fA-F]{6}", fullmatch=True),
        )
    )
    (message,) = subject.command(target)
    got = subject.decode(message.topic, message.payload)
    assert isinstance(got, BlsCommand)
    if not target.running:
        assert got == BlsCommand(running=False)
        return
    assert got.mode == mode  # the device's own, named
    assert (got.speed_hz, got.passes, got.duration_s, got.colour) == (
        target.speed_hz,
        target.passes,
        target.duration_s,
        target.colour,
    )
    if target.intensity is None:
        assert got.intensity is None
    else:
        assert got.intensity is not None
        assert -1e-6 <= target.intensity - got.intensity < 0.01  # rounded down: never more
    assert subject.command(got) == [message]


def test_decoding_leaves_the_next_request_id_alone() -> None:
    shelly = light("shelly")
    assert isinstance(shelly, ShellyLight)
    shelly.decode("dev1/rpc", SHELLY_OK.replace('"id":1', '"id":9'))
    (message,) = shelly.command(LightCommand(level=0.5))
    assert message.payload.startswith('{"id":1,')


# --------------------------------------------------------------------------- refusals


REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    # Zigbee2MQTT
    ("zigbee2mqtt", {}, '{"state":"ON","effect":"blink","transition":0.0}', "effect 'blink'"),
    ("zigbee2mqtt", {}, '{"state":"ON","effect":"colorloop"}', "it may flash"),
    ("zigbee2mqtt", {}, '{"state":"ON","brightness":127}', '"transition" is missing'),
    ("zigbee2mqtt", {}, '{"state":"ON","brightness":0,"transition":0.0}', "brightness 0"),
    ("zigbee2mqtt", {}, '{"state":"ON","brightness":255,"transition":0.0}', "outside 1–254"),
    ("zigbee2mqtt", {}, '{"state":"ON","brightness":12.5,"transition":0.0}', "not a whole"),
    ("zigbee2mqtt", {}, '{"state":"ON","brightness":"50","transition":0.0}', "a string"),
    ("zigbee2mqtt", {}, '{"state":"ON","brightness":NaN,"transition":0.0}', "NaN"),
    ("zigbee2mqtt", {}, '{"state":"ON","transition":1e999}', "too large to be finite"),
    ("zigbee2mqtt", {}, '{"state":"ON","transition":6553.5}', "outside 0–6553.4"),
    ("zigbee2mqtt", {}, '{"state":"ON","transition":-0.1}', "outside"),
    ("zigbee2mqtt", {}, '{"state":"ON","transition":1.25}', "not in tenths of a second"),
    ("zigbee2mqtt", {}, '{"state":"ON","transition":0}', "not written as the driver"),
    ("zigbee2mqtt", {}, '{"transition":0.0,"state":"ON"}', "not written as the driver"),
    ("zigbee2mqtt", {}, '{"state":"ON", "transition":0.0}', "not written as the driver"),
    ("zigbee2mqtt", {}, '{"state":"on","transition":0.0}', "not written as the driver"),
    (
        "zigbee2mqtt",
        {},
        '{"state":"OFF","state":"ON","transition":0.0}',
        "not written as the driver",
    ),
    ("zigbee2mqtt", {}, '{"state":"OFF","brightness":3,"transition":0.0}', "in an OFF command"),
    ("zigbee2mqtt", {}, '{"state":"TOGGLE","transition":0.0}', "not ON or OFF"),
    ("zigbee2mqtt", {}, '{"state":"ON","color_temp":370,"transition":0.0}', "colour temperature"),
    (
        "zigbee2mqtt",
        {"kelvin_range": (2000, 6500)},
        '{"state":"ON","color_temp":600,"transition":0.0}',
        "color_temp 600 is outside 154–500",
    ),
    ("zigbee2mqtt", {}, '{"state":"ON","color":{"r":1,"g":2,"b":3},"transition":0.0}', "RGB"),
    (
        "zigbee2mqtt",
        {"rgb": True},
        '{"state":"ON","color":{"x":0.3,"y":0.3},"transition":0.0}',
        "key 'x' in color",
    ),
    (
        "zigbee2mqtt",
        {"rgb": True, "kelvin_range": (2000, 6500)},
        '{"state":"ON","color_temp":370,"color":{"r":1,"g":2,"b":3},"transition":0.0}',
        "give kelvin or rgb, not both",
    ),
    ("zigbee2mqtt", {}, '{"state":"ON","linkquality":3,"transition":0.0}', "key 'linkquality'"),
    ("zigbee2mqtt", {}, "[1,2]", "expected a JSON object, got an array"),
    ("zigbee2mqtt", {}, '{"state":"ON"', "not valid JSON"),
    ("zigbee2mqtt", {}, "", "not valid JSON"),
    # Tasmota
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Scheme 2", "Backlog command 'Scheme'"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Power BLINK", "Power 'BLINK' is not ON or OFF"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Power TOGGLE", "not ON or OFF"),
    ("tasmota", {}, "Fade 0;NoDelay;Dimmer 40", "not NoDelay;<command> pairs"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Dimmer 40;", "not NoDelay;<command> pairs"),
    ("tasmota", {}, "NoDelay;Dimmer 40", "sets no Fade"),
    ("tasmota", {}, "NoDelay;Fade 1;NoDelay;Dimmer 40", "Fade 1 without a Speed2"),
    ("tasmota", {}, "NoDelay;Fade 2;NoDelay;Dimmer 40", "Fade '2' is not a number 0–1"),
    ("tasmota", {}, "NoDelay;Fade 1;NoDelay;Speed2 4;NoDelay;Dimmer 4", "without SetOption117 1"),
    ("tasmota", {}, f"{SO117};NoDelay;Speed2 41;NoDelay;Dimmer 4", "Speed2 '41'"),
    ("tasmota", {}, f"{SO117};NoDelay;Speed2 0;NoDelay;Dimmer 4", "Speed2 '0' is below 1"),
    ("tasmota", {}, f"{SO117.replace('117 1', '117 0')};NoDelay;Speed2 4", "without SetOption117"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Speed2 4;NoDelay;Dimmer 4", "not written as"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;SetOption117 1;NoDelay;Dimmer 4", "not written as"),
    (
        "tasmota",
        {},
        "NoDelay;SetOption117 1;NoDelay;Fade 1;NoDelay;Speed2 4;NoDelay;Dimmer 4",
        "not written as",
    ),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Dimmer 0", "Dimmer '0' is below 1"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Dimmer 101", "Dimmer '101' is not a number 1–100"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Dimmer -5", "not a number"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Dimmer 040", "not written as"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Dimmer 4;NoDelay;Dimmer 5", "sends Dimmer twice"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Dimmer 40;NoDelay;Power ON", "not written as"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Power OFF;NoDelay;Dimmer 40", "not written as"),
    ("tasmota", {}, "NoDelay;Fade 0", "not written as"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;dimmer 40", "Backlog command 'dimmer'"),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;CT 300;NoDelay;Power ON", "colour temperature"),
    (
        "tasmota",
        {"kelvin_range": (2000, 6500)},
        "NoDelay;Fade 0;NoDelay;CT 153;NoDelay;Power ON",
        "CT 153 is outside 154–500",
    ),
    (
        "tasmota",
        {"kelvin_range": (1000, 20000)},
        "NoDelay;Fade 0;NoDelay;CT 600;NoDelay;Power ON",
        "CT '600' is not a number 153–500",
    ),
    ("tasmota", {}, "NoDelay;Fade 0;NoDelay;Color2 1,2,3;NoDelay;Power ON", "RGB"),
    (
        "tasmota",
        {"rgb": True},
        "NoDelay;Fade 0;NoDelay;Color2 1,2;NoDelay;Power ON",
        "Color2 '1,2' is not r,g,b",
    ),
    (
        "tasmota",
        {"rgb": True},
        "NoDelay;Fade 0;NoDelay;Color2 1,2,256;NoDelay;Power ON",
        "Color2 '256'",
    ),
    (
        "tasmota",
        {"rgb": True},
        "NoDelay;Fade 0;NoDelay;Color2 #FF0000;NoDelay;Power ON",
        "is not r,g,b",
    ),
    ("tasmota", {}, "", "not NoDelay;<command> pairs"),
    # WLED
    ("wled", {}, '{"on":true,"bri":128,"seg":[{"fx":1}],"tt":0}', "effect fx 1 is not Solid"),
    ("wled", {}, '{"on":true,"seg":[{"fx":"strobe"}],"tt":0}', "effects may flash"),
    ("wled", {}, '{"on":true,"bri":128,"seg":[{"fx":0,"sx":200}],"tt":0}', "key 'sx'"),
    ("wled", {}, '{"on":true,"bri":128,"seg":[{"fx":0}],"tt":0,"ps":3}', "key 'ps'"),
    ("wled", {}, '{"on":true,"bri":128,"seg":[{"fx":0},{"fx":0}],"tt":0}', "one segment"),
    ("wled", {}, '{"on":true,"bri":128,"tt":0}', '"seg" is missing'),
    ("wled", {}, '{"on":true,"bri":128,"seg":[{}],"tt":0}', '"fx" is missing'),
    ("wled", {}, '{"on":true,"bri":0,"seg":[{"fx":0}],"tt":0}', "bri 0 is outside 1–255"),
    ("wled", {}, '{"on":true,"bri":256,"seg":[{"fx":0}],"tt":0}', "bri 256 is outside"),
    ("wled", {}, '{"on":true,"seg":[{"fx":0}],"tt":656}', "tt 656 is outside 0–655"),
    ("wled", {}, '{"on":true,"seg":[{"fx":0}],"tt":0.5}', "tt 0.5 is not a whole number"),
    ("wled", {}, '{"on":"yes","tt":0}', "on is a string, not true or false"),
    ("wled", {}, '{"on":false,"bri":3,"tt":0}', 'in an "on":false command'),
    ("wled", {}, '{"on":true,"seg":[{"fx":0,"cct":2700}],"tt":0}', "colour temperature"),
    (
        "wled",
        {"kelvin_range": (2700, 6500)},
        '{"on":true,"seg":[{"fx":0,"cct":2000}],"tt":0}',
        "cct 2000 is outside 2700–6500",
    ),
    ("wled", {}, '{"on":true,"seg":[{"fx":0,"col":[[1,2,3]]}],"tt":0}', "RGB"),
    (
        "wled",
        {"rgb": True},
        '{"on":true,"seg":[{"fx":0,"col":[[1,2,3],[4,5,6]]}],"tt":0}',
        "col is not a list of one colour",
    ),
    ("wled", {"rgb": True}, '{"on":true,"seg":[{"fx":0,"col":[[1,2]]}],"tt":0}', "three"),
    ("wled", {}, '{"on":true,"bri":128,"seg":[{"fx":0}],"tt":0,"tt":0}', "not written as"),
    # Shelly
    ("shelly", {}, SHELLY_OK.replace("Light.Set", "Light.GetStatus"), "not Light.Set"),
    ("shelly", {}, SHELLY_OK.replace("Light.Set", "Light.Toggle"), "method 'Light.Toggle'"),
    ("shelly", {"rgb": True}, SHELLY_OK, "method 'Light.Set' is not RGB.Set"),
    ("shelly", {}, SHELLY_OK.replace("dev1/sessionroom", "other/app"), "src 'other/app'"),
    ("shelly", {}, SHELLY_OK.replace('"id":1', '"id":0'), "id 0 is outside"),
    ("shelly", {}, SHELLY_OK.replace('"id":1', '"id":1.5'), "id 1.5 is not a whole"),
    ("shelly", {}, SHELLY_OK.replace('"id":1', '"id":1.0'), "not written as"),
    ("shelly", {}, SHELLY_OK.replace('"id":0', '"id":1'), "params.id 1 is outside 0–0"),
    ("shelly", {}, SHELLY_OK.replace(":35", ":101"), "brightness 101 is outside 1–100"),
    ("shelly", {}, SHELLY_OK.replace(":8.0", ":8.05"), "not in tenths of a second"),
    ("shelly", {}, SHELLY_OK.replace(":8.0", ':"8"'), "a string, not a number"),
    ("shelly", {}, SHELLY_OK.replace(":8.0", ":Infinity"), "Infinity is not a number"),
    ("shelly", {}, SHELLY_OK.replace(":35", ':35,"rgb":[1,2,3]'), "RGB"),
    ("shelly", {}, SHELLY_OK.replace('"on":true', '"on":1'), "on is a number"),
    ("shelly", {}, SHELLY_OK.replace('"on":true', '"on":false'), 'in an "on":false request'),
    ("shelly", {}, SHELLY_OK.replace('"params":{', '"params":[{').replace("}}", "}]}"), "params"),
    ("shelly", {}, SHELLY_OK.replace('"method"', '"meth"'), "key 'meth'"),
    ("shelly", {}, SHELLY_OK.replace(',"transition_duration":8.0', ""), "missing in params"),
    # VR
    ("mqtt-vr", {}, '{"action":"dance"}', "action 'dance' is not play"),
    ("mqtt-vr", {}, '{"content":"x"}', '"action" is missing'),
    ("mqtt-vr", {}, '{"action":3}', "action is a number, not a string"),
    ("mqtt-vr", {}, '{"action":"play"}', '"content" is missing in a play command'),
    ("mqtt-vr", {}, '{"action":"play","content":""}', "a VR play command needs content"),
    ("mqtt-vr", {}, '{"action":"play","content":7}', "content is a number"),
    ("mqtt-vr", {}, '{"action":"play","content":"x","volume":101}', "volume 101 is outside"),
    ("mqtt-vr", {}, '{"action":"play","content":"x","volume":0.5}', "not a whole number"),
    ("mqtt-vr", {}, '{"action":"play","content":"x","level":5}', "key 'level' in a play"),
    ("mqtt-vr", {}, '{"action":"stop","content":"x"}', "key 'content' in a stop command"),
    ("mqtt-vr", {}, '{"action":"brightness"}', '"level" is missing'),
    ("mqtt-vr", {}, '{"action":"brightness","level":-1}', "level -1 is outside 0–100"),
    ("mqtt-vr", {}, '{"action":"play","content":"x","volume":null}', "not written as"),
    ("mqtt-vr", {}, '{"action":"play","content":"a\\/b"}', "not written as"),
    # BLS
    ("mqtt-bls", {}, '{"running":"yes"}', "running is a string, not true or false"),
    ("mqtt-bls", {}, '{"mode":"tactile"}', '"running" is missing'),
    ("mqtt-bls", {}, '{"running":false,"speed_hz":1}', "key 'speed_hz' in a stop command"),
    ("mqtt-bls", {}, '{"running":true,"mode":"tactile"}', '"passes" is missing'),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"visual","passes":null,"duration_s":null}',
        "mode 'visual' is not tactile",
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","speed_hz":0,"passes":null,"duration_s":null}',
        "speed_hz 0 is not above 0",
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","speed_hz":-1.5,"passes":null,"duration_s":null}',
        "speed_hz -1.5 is not above 0",
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","speed_hz":1e999,"passes":null,"duration_s":null}',
        "a number too large to be finite",
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","intensity":101,"passes":null,"duration_s":null}',
        "intensity 101 is outside 0–100",
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","passes":0,"duration_s":null}',
        "passes 0 is below 1",
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","passes":2.0,"duration_s":null}',
        "passes 2.0 is not a whole number",
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","passes":null,"duration_s":"60s"}',
        "duration_s is a string",
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","passes":null,"duration_s":null,"colour":"red"}',
        "colour 'red' is not #RRGGBB",
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","passes":null,"duration_s":null,"tone_hz":400}',
        "key 'tone_hz'",
    ),
    (
        "mqtt-bls",
        {},
        '{"running":true,"mode":"tactile","passes":null,"duration_s":null,"speed_hz":1}',
        "not written as",
    ),
]


@pytest.mark.parametrize(("name", "fields", "payload", "reason"), REFUSALS)
def test_a_message_the_driver_would_not_send_is_refused_with_a_reason(
    name: str, fields: dict[str, Any], payload: str, reason: str
) -> None:
    subject = driver(name, **fields)
    (topic,) = subject.command_topics()
    with pytest.raises(PayloadError) as refusal:
        subject.decode(topic, payload)
    assert reason in str(refusal.value)


WRONG_TOPICS: list[tuple[str, str]] = [
    ("zigbee2mqtt", "zigbee2mqtt/dev1"),
    ("zigbee2mqtt", "zigbee2mqtt/dev1/get"),
    ("zigbee2mqtt", "zigbee2mqtt/other/set"),
    ("tasmota", "cmnd/dev1/Dimmer"),
    ("tasmota", "cmnd/dev1/backlog"),
    ("wled", "wled/dev1"),
    ("shelly", "dev1/sessionroom/rpc"),
    ("mqtt-vr", "vr/dev1/state"),
    ("mqtt-bls", "bls/dev1/set/"),
]


@pytest.mark.parametrize(("name", "topic"), WRONG_TOPICS)
def test_a_message_on_a_topic_the_driver_does_not_command_is_refused(name: str, topic: str) -> None:
    subject = driver(name)
    good = next(payload for driver_name, _, payload, _ in EXAMPLES if driver_name == name)
    with pytest.raises(PayloadError, match="is not one this device's commands go to"):
        subject.decode(topic, good)


SHELLY_OFF = (
    '{"id":1,' + SHELLY_SRC + ',"method":"Light.Set",'
    '"params":{"id":0,"on":false,"transition_duration":0.0}}'
)
HOSTILE = [
    "[" * 5000,
    "{" * 5000,
    '{"a":' * 5000,
    "9" * 5000,
    '{"state":"ON","brightness":' + "9" * 5000 + ',"transition":0.0}',
    '{"action":"play","content":"x","volume":' + "9" * 4000 + "}",
    '{"running":true,"mode":"tactile","passes":' + "9" * 5000 + ',"duration_s":null}',
    '{"running":true,"mode":"tactile","passes":null,"duration_s":null,"colour":"'
    + "x" * 9000
    + '"}',
    '{"running":true,"mode":"tactile","speed_hz":'
    + "9" * 400
    + ',"passes":null,"duration_s":null}',
    "\ud800",
    '{"state":"ON","transition":0.0}\udfff',
    '{"action":"play","content":"\ud83d"}',
    '{"state":"ON","transition":' + "9" * 400 + "}",
    '{"on":true,"seg":[{"fx":0}],"tt":' + "9" * 400 + "}",
    SHELLY_OFF.replace("0.0}", "9" * 400 + "}"),
    SHELLY_OFF.replace("0.0}", "1" + "0" * 308 + ".0}"),
    "NoDelay;Fade 0;NoDelay;Dimmer " + "9" * 5000,
    "NoDelay;Fade 1;NoDelay;SetOption117 1;NoDelay;Speed2 " + "9" * 5000 + ";NoDelay;Power OFF",
    "NoDelay;" * 10_000,
    " " * (MAX_PAYLOAD_BYTES + 1),
    "NaN",
    "-Infinity",
    "1e999",
    "null",
    "\x00",
]


@pytest.mark.parametrize(("name", "fields"), COMMAND_DRIVERS, ids=ids(COMMAND_DRIVERS))
@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_is_refused_with_a_payload_error(
    name: str, fields: dict[str, Any], payload: str
) -> None:
    subject = driver(name, **fields)
    with pytest.raises(PayloadError) as refusal:
        subject.decode(subject.command_topics()[0], payload)
    assert len(str(refusal.value)) < 200


def test_an_oversized_or_non_ascii_payload_says_so() -> None:
    subject = driver("zigbee2mqtt")
    with pytest.raises(PayloadError, match="payload of 65537 characters is larger than 64 KiB"):
        subject.decode("zigbee2mqtt/dev1/set", " " * (MAX_PAYLOAD_BYTES + 1))
    with pytest.raises(PayloadError, match=r"character outside ASCII \(at 10\)"):
        subject.decode("zigbee2mqtt/dev1/set", '{"state":"\ud800"}')


# --------------------------------------------------------------------------- fuzzing

VOCABULARY = [
    "state", "brightness", "color_temp", "color", "r", "g", "b", "transition", "effect",
    "on", "bri", "seg", "fx", "cct", "col", "tt", "ps",
    "id", "src", "method", "params", "rgb", "transition_duration",
    "action", "content", "volume", "level",
    "running", "mode", "speed_hz", "intensity", "passes", "duration_s", "colour",
]  # fmt: skip
WORDS = [
    "ON", "OFF", "Light.Set", "RGB.Set", "dev1/sessionroom", "play", "brightness", "stop",
    "tactile", "visual", "#3366FF", "NoDelay", "Fade", "SetOption117", "Speed2", "Power",
    "Dimmer", "CT", "Color2", "Scheme",
]  # fmt: skip
json_values = strategies.json_values(
    strategies.scalars(
        st.sampled_from(WORDS), st.text(st.characters(exclude_categories=()), max_size=8)
    ),
    VOCABULARY,
)


def as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


backlog_items = st.one_of(
    st.builds(
        lambda name, value: f"{name} {value}",
        st.sampled_from(
            ["Fade", "SetOption117", "Speed2", "Power", "Dimmer", "CT", "Color2", "Scheme"]
        ),
        st.sampled_from(["0", "1", "40", "100", "ON", "OFF", "1,2,3", "370", "", "-1", "1e3"])
        | st.text(max_size=6),
    ),
    st.text(max_size=10),
)
backlogs = st.lists(backlog_items, max_size=8).map(
    lambda items: ";".join(f"NoDelay;{item}" for item in items)
)
any_text = st.one_of(
    st.text(st.characters(exclude_categories=())),
    st.binary(max_size=120).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
    json_values.map(as_json),
    st.dictionaries(st.sampled_from(VOCABULARY), json_values, max_size=7).map(as_json),
    backlogs,
    st.sampled_from(HOSTILE),
)


def sent_payloads(subject: CommandDriver[Any]) -> st.SearchStrategy[str]:
    """Payloads this driver sends, for mutating."""
    if isinstance(subject, LightDriver):
        targets: st.SearchStrategy[Any] = light_commands(subject)
    elif isinstance(subject, MqttVr):
        targets = vr_commands
    else:
        targets = st.builds(
            BlsCommand,
            running=st.booleans(),
            speed_hz=st.none() | positive,
            intensity=st.none() | st.floats(0, 1),
            passes=st.none() | st.integers(1, 100),
        )
    fresh = copy.deepcopy(subject)
    return targets.map(lambda target: fresh.command(target)[0].payload)


@st.composite
def mutated(draw: st.DrawFn, subject: CommandDriver[Any]) -> str:
    text = draw(sent_payloads(subject))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        piece = draw(
            st.sampled_from(['"', ",", ":", "{", "}", "[", "]", ";", " ", "0", "-", ".", "e9"])
            | st.sampled_from(WORDS)
            | st.text(st.characters(exclude_categories=()), max_size=3)
        )
        text = text[:at] + piece + text[at + cut :]
    return text


backlog_values = (
    st.sampled_from(["0", "1", "40", "41", "100", "ON", "OFF", "BLINK", "1,2,3"])
    | (st.integers(-(10**400), 10**400).map(str))
    | st.text(st.characters(exclude_categories=()), max_size=6)
)


def places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path to every value inside a JSON value, itself first."""
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += places(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += places(inner, (*path, index))
    return found


def near(value: Any) -> st.SearchStrategy[Any]:
    """Values like `value` but not quite: another type, a step off, another case, or anything."""
    options: list[Any] = [None, True, False, 0, 1, -1, 0.0, 0.5, "", 10**400, 1e308, [], {}]
    if isinstance(value, bool):
        options += [not value, int(value), str(value).lower()]
    elif isinstance(value, int):
        options += [value + 1, value - 1, -value, float(value), str(value), value * 1000]
    elif isinstance(value, float):
        options += [value + 0.1, value + 0.05, value - 0.1, -value, value * 10, str(value)]
        options += [int(value)] if value.is_integer() else []
    elif isinstance(value, str):
        options += [value.lower(), value.upper(), f" {value}", value[:-1], value * 2, "blink"]
    elif isinstance(value, list):
        options += [value * 2, value[:-1], [value], value[::-1]]
    elif isinstance(value, dict):
        options += [[value], {**value, "effect": "blink"}, {**value, "fx": 1}]
    return st.sampled_from(options) | json_values


@st.composite
def substituted(draw: st.DrawFn, subject: CommandDriver[Any]) -> str:
    """A message the driver sends with one value made near, a key dropped or one added."""
    text = draw(sent_payloads(subject))
    if isinstance(subject, TasmotaLight):
        parts = text.split(";")
        at = draw(st.sampled_from(range(1, len(parts), 2)))
        name, _, value = parts[at].partition(" ")
        parts[at] = draw(
            st.sampled_from([name, *WORDS]).map(lambda other: f"{other} {value}")
            | st.sampled_from([f"{name} {other}" for other in (f"0{value}", f" {value}", "")])
            | backlog_values.map(lambda other: f"{name} {other}")
        )
        return ";".join(parts)
    message = json.loads(text)
    path = draw(st.sampled_from(places(message)))
    if not path:
        return as_json(draw(near(message)))
    holder = message
    for step in path[:-1]:
        holder = holder[step]
    change = draw(st.sampled_from(["near", "drop", "add"]))
    if change == "drop" and isinstance(holder, dict):
        del holder[path[-1]]
    elif change == "add" and isinstance(holder, dict):
        holder[draw(st.sampled_from(VOCABULARY))] = draw(near(holder[path[-1]]))
    else:
        holder[path[-1]] = draw(near(holder[path[-1]]))
    return json.dumps(message, separators=(",", ":"))


def assert_sent_in_that_form(subject: CommandDriver[Any], got: Any, payload: str) -> None:
    """What decode took is a command this driver sends in exactly that form."""
    if isinstance(subject, ShellyLight):  # its request id depends on how many went before
        request_id = json.loads(payload)["id"]
        assert subject._frame(request_id, subject._set_method, subject._set_params(got)) == payload
    else:
        assert copy.deepcopy(subject).command(got)[0].payload == payload


@pytest.mark.parametrize(("name", "fields"), COMMAND_DRIVERS, ids=ids(COMMAND_DRIVERS))
@FUZZ
@given(data=st.data())
def test_decode_answers_a_command_or_a_payload_error_and_nothing_else(
    name: str, fields: dict[str, Any], data: st.DataObject
) -> None:
    subject = driver(name, **fields)
    before = copy.deepcopy(vars(subject))
    topic = data.draw(
        st.sampled_from([*subject.command_topics(), *subject.state_topics()])
        | st.text(st.characters(exclude_categories=()), max_size=20)
    )
    kind = data.draw(st.sampled_from(["any text", "mutated", "substituted"]))
    payload = data.draw(
        {"any text": any_text, "mutated": mutated(subject), "substituted": substituted(subject)}[
            kind
        ]
    )
    try:
        got = subject.decode(topic, payload)
    except PayloadError as refusal:
        assert 0 < len(str(refusal)) < 200  # a reason, never the payload echoed back
        got = None
    assert vars(subject) == before
    if got is not None:
        assert isinstance(got, LightCommand | VrCommand | BlsCommand)
        assert topic in subject.command_topics()
        assert_sent_in_that_form(subject, got, payload)
