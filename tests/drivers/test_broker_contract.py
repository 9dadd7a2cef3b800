"""Contract tests against a real broker: what each driver publishes, as an independent
subscriber sees it (topic, payload, retain flag), and real-format device messages read back.

Each runs against Mosquitto and against the embedded amqtt broker. On amqtt (MQTT 3.1.1)
live messages always arrive with retain clear, so only Mosquitto (retain-as-published)
can catch a retained command; the first test shows that check can fail there.

Device messages are copied from each protocol's documentation; the source is named beside
each one.
"""

from __future__ import annotations

from typing import Any

import aiomqtt
import pytest

from controller.drivers import (
    Availability,
    BlsCommand,
    BlsDriver,
    LightCommand,
    LightDriver,
    Outgoing,
    Reception,
    VrCommand,
    VrDriver,
    make_driver,
)
from controller.drivers.zigbee2mqtt import bridge_state_topic
from tests.drivers.broker import (
    Broker,
    clear_retained,
    deliver,
    observe,
    payload_bytes,
    publish,
    retained_on_subscribe,
)
from tests.drivers.devices import device
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.mosquitto

Seen = tuple[str, bytes, bool]

BRIDGE_STATE = bridge_state_topic("zigbee2mqtt")


def light(name: str, **fields: Any) -> LightDriver:
    driver = make_driver(device(name, **fields))
    assert isinstance(driver, LightDriver)
    return driver


def seen(messages: list[aiomqtt.Message]) -> list[Seen]:
    return [(message.topic.value, payload_bytes(message), message.retain) for message in messages]


async def test_the_observer_would_see_a_retained_publish_as_retained(mosquitto: Mosquitto) -> None:
    """The retain checks below can fail: a retained publish is reported with retain set."""
    topic = f"contract/{device('wled').topic}/retained"
    messages = await observe(mosquitto, topic, [Outgoing(topic, "x", retain=True)])
    assert seen(messages) == [(topic, b"x", True)]
    await clear_retained(mosquitto, [topic])


# --------------------------------------------------------------------------- Zigbee2MQTT


async def test_zigbee2mqtt_set_and_get_reach_the_light_as_sent(broker: Broker) -> None:
    driver = light("zigbee2mqtt", kelvin_range=(2000, 6500))
    outgoing = (
        driver.command(LightCommand(level=0.35, kelvin=2700, transition_s=8)) + driver.query()
    )
    messages = await observe(broker, f"zigbee2mqtt/{driver.topic}/+", outgoing)
    assert seen(messages) == [
        (
            f"zigbee2mqtt/{driver.topic}/set",
            b'{"state":"ON","brightness":89,"color_temp":370,"transition":8.0}',
            False,
        ),
        (f"zigbee2mqtt/{driver.topic}/get", b'{"state":""}', False),
    ]


async def test_zigbee2mqtt_state_and_availability_are_read(broker: Broker) -> None:
    driver = make_driver(device("zigbee2mqtt", kelvin_range=(2000, 6500)))
    name = driver.topic
    receptions = await deliver(
        broker,
        driver,
        [
            # device-availability.md: retained {"state":"online"} (2.x), plain offline (1.x).
            (f"zigbee2mqtt/{name}/availability", b'{"state":"online"}', True),
            # mqtt_topics_and_messages.md: the IKEA LED1545G12 example.
            (f"zigbee2mqtt/{name}", b'{"state":"ON","brightness":215,"color_temp":325}', False),
            (f"zigbee2mqtt/{name}/availability", b"offline", True),
        ],
    )
    assert receptions == [
        Reception("availability", {"available": "online"}),
        Reception("state", {"on": True, "level": 215 / 254, "kelvin": 3077}),
        Reception("availability", {"available": "offline"}),
    ]
    await clear_retained(broker, [f"zigbee2mqtt/{name}/availability"])


async def test_a_retained_availability_reaches_a_freshly_started_engine(
    broker: Broker,
) -> None:
    driver = make_driver(device("zigbee2mqtt"))
    topic = f"zigbee2mqtt/{driver.topic}/availability"
    await publish(broker, [Outgoing(topic, '{"state":"online"}', retain=True)])
    assert await retained_on_subscribe(broker, driver, 1) == [
        Reception("availability", {"available": "online"})
    ]
    assert driver.availability is Availability.ONLINE
    await clear_retained(broker, [topic])


async def test_a_bridge_going_offline_takes_its_lights_offline(broker: Broker) -> None:
    driver = make_driver(device("zigbee2mqtt"))
    try:
        receptions = await deliver(
            broker,
            driver,
            [
                (f"zigbee2mqtt/{driver.topic}/availability", b'{"state":"online"}', False),
                (BRIDGE_STATE, b'{"state":"offline"}', True),
            ],
        )
    finally:
        await clear_retained(broker, [BRIDGE_STATE])
    assert receptions[-1] == Reception("availability", {"available": "offline"})


# --------------------------------------------------------------------------- Tasmota


async def test_tasmota_backlog_and_state_query_reach_the_device_as_sent(
    broker: Broker,
) -> None:
    driver = light("tasmota", rgb=True)
    outgoing = driver.command(LightCommand(level=0.4, rgb=(255, 128, 0), transition_s=2))
    outgoing += driver.query()
    messages = await observe(broker, f"cmnd/{driver.topic}/+", outgoing)
    assert seen(messages) == [
        (
            f"cmnd/{driver.topic}/Backlog",
            b"NoDelay;Fade 1;NoDelay;SetOption117 1;NoDelay;Speed2 4;"
            b"NoDelay;Color2 255,128,0;NoDelay;Dimmer 40",
            False,
        ),
        (f"cmnd/{driver.topic}/State", b"", False),
    ]


async def test_tasmota_lwt_result_power_and_telemetry_are_read(broker: Broker) -> None:
    driver = make_driver(device("tasmota", rgb=True, kelvin_range=(2000, 6500)))
    t = driver.topic
    receptions = await deliver(
        broker,
        driver,
        [
            # tasmota/docs Troubleshooting: "tele/MYSONOFF/LWT = Online (retained)".
            (f"tele/{t}/LWT", b"Online", True),
            # tasmota/docs Berry.md, tasmota.cmd("Dimmer 50").
            (
                f"stat/{t}/RESULT",
                b'{"POWER":"ON","Dimmer":50,"Color":"808080","HSBColor":"0,0,50","Channel":[50,50,50]}',
                False,
            ),
            (f"stat/{t}/POWER", b"OFF", False),
            # home-assistant/core tests/components/tasmota/test_light.py.
            (f"tele/{t}/STATE", b'{"POWER":"ON","Dimmer":50, "CT":153, "White":50}', False),
            (f"tele/{t}/LWT", b"Offline", True),
        ],
    )
    assert receptions == [
        Reception("availability", {"available": "online"}),
        Reception("state", {"on": True, "level": 0.5, "rgb": [255, 255, 255]}),
        Reception("state", {"on": False, "level": 0.5, "rgb": [255, 255, 255]}),
        Reception("state", {"on": True, "level": 0.5, "rgb": [255, 255, 255], "kelvin": 6536}),
        Reception("availability", {"available": "offline"}),
    ]
    await clear_retained(broker, [f"tele/{t}/LWT"])


# --------------------------------------------------------------------------- WLED


async def test_wled_json_api_call_reaches_the_strip_as_sent(broker: Broker) -> None:
    driver = light("wled", rgb=True)
    outgoing = driver.command(LightCommand(level=0.5, rgb=(255, 160, 0), transition_s=5))
    outgoing += driver.command(LightCommand(on=False, transition_s=3))
    messages = await observe(broker, f"wled/{driver.topic}/api", outgoing)
    assert seen(messages) == [
        (
            f"wled/{driver.topic}/api",
            b'{"on":true,"bri":128,"seg":[{"fx":0,"col":[[255,160,0]]}],"tt":50}',
            False,
        ),
        (f"wled/{driver.topic}/api", b'{"on":false,"tt":30}', False),
    ]


async def test_wled_status_brightness_and_colour_are_read(broker: Broker) -> None:
    driver = make_driver(device("wled", rgb=True))
    base = f"wled/{driver.topic}"
    receptions = await deliver(
        broker,
        driver,
        [
            # interfaces/mqtt.md: /g "current brightness as ASCII number 0-255",
            # /c "current color as HEX (#RRGGBB if white is 0, else #WWRRGGBB)".
            (f"{base}/status", b"online", True),
            (f"{base}/g", b"128", False),
            (f"{base}/c", b"#FFA000", False),
            (f"{base}/g", b"0", False),
        ],
    )
    assert receptions == [
        Reception("availability", {"available": "online"}),
        Reception("state", {"on": True, "level": 128 / 255}),
        Reception("state", {"on": True, "level": 128 / 255, "rgb": [255, 160, 0]}),
        Reception("state", {"on": False, "level": 128 / 255, "rgb": [255, 160, 0]}),
    ]
    await clear_retained(broker, [f"{base}/status"])


# --------------------------------------------------------------------------- Shelly


async def test_shelly_rpc_requests_reach_the_device_as_sent(broker: Broker) -> None:
    driver = light("shelly")
    prefix = driver.topic
    outgoing = driver.command(LightCommand(level=0.35, transition_s=8)) + driver.query()
    messages = await observe(broker, f"{prefix}/rpc", outgoing)
    assert seen(messages) == [
        (
            f"{prefix}/rpc",
            (
                f'{{"id":1,"src":"{prefix}/sessionroom","method":"Light.Set",'
                '"params":{"id":0,"on":true,"brightness":35,"transition_duration":8.0}}'
            ).encode(),
            False,
        ),
        (
            f"{prefix}/rpc",
            (
                f'{{"id":2,"src":"{prefix}/sessionroom","method":"Light.GetStatus",'
                '"params":{"id":0}}'
            ).encode(),
            False,
        ),
    ]


async def test_shelly_online_status_and_replies_are_read(broker: Broker) -> None:
    driver = make_driver(device("shelly"))
    prefix = driver.topic
    receptions = await deliver(
        broker,
        driver,
        [
            # gen2 Mqtt: <topic_prefix>/online is true/false.
            (f"{prefix}/online", b"true", True),
            # gen2 Light status: output, brightness (with source and more).
            (
                f"{prefix}/status/light:0",
                b'{"id":0,"source":"MQTT","output":true,"brightness":35}',
                False,
            ),
            # gen2 RPC protocol: an error frame answering our request 1.
            (
                f"{prefix}/sessionroom/rpc",
                f'{{"id":1,"src":"{prefix}","dst":"{prefix}/sessionroom",'
                '"error":{"code":-103,"message":"Invalid argument"}}'.encode(),
                False,
            ),
            (f"{prefix}/online", b"false", True),
        ],
    )
    refused = f"{prefix}/sessionroom/rpc: the device refused request 1: 'Invalid argument'"
    assert receptions == [
        Reception("availability", {"available": "online"}),
        Reception("state", {"on": True, "level": 0.35}),
        Reception("error", {"error": refused}),
        Reception("availability", {"available": "offline"}),
    ]
    await clear_retained(broker, [f"{prefix}/online"])


# --------------------------------------------------------------------------- our conventions


async def test_vr_commands_reach_the_headset_as_sent(broker: Broker) -> None:
    driver = make_driver(device("mqtt-vr"))
    assert isinstance(driver, VrDriver)
    outgoing = driver.command(VrCommand("play", content="forest-01", volume=0.4))
    outgoing += driver.command(VrCommand("stop"))
    messages = await observe(broker, f"vr/{driver.topic}/set", outgoing)
    assert seen(messages) == [
        (f"vr/{driver.topic}/set", b'{"action":"play","content":"forest-01","volume":40}', False),
        (f"vr/{driver.topic}/set", b'{"action":"stop"}', False),
    ]


async def test_vr_state_and_availability_are_read(broker: Broker) -> None:
    driver = make_driver(device("mqtt-vr"))
    base = f"vr/{driver.topic}"
    receptions = await deliver(
        broker,
        driver,
        [
            # DEVICE_PROTOCOLS.md, our VR convention.
            (f"{base}/availability", b"online", True),
            (
                f"{base}/state",
                b'{"status":"playing","content":"forest-01","position_s":42.5}',
                False,
            ),
        ],
    )
    assert receptions == [
        Reception("availability", {"available": "online"}),
        Reception("state", {"status": "playing", "content": "forest-01", "position_s": 42.5}),
    ]
    await clear_retained(broker, [f"{base}/availability"])


async def test_bls_start_and_stop_reach_the_device_as_sent(broker: Broker) -> None:
    driver = make_driver(device("mqtt-bls", mode="visual"))
    assert isinstance(driver, BlsDriver)
    outgoing = driver.command(
        BlsCommand(running=True, speed_hz=1.0, intensity=0.5, passes=24, colour="#3366FF")
    )
    outgoing += driver.command(BlsCommand(running=False))
    messages = await observe(broker, f"bls/{driver.topic}/set", outgoing)
    assert seen(messages) == [
        (
            f"bls/{driver.topic}/set",
            b'{"running":true,"mode":"visual","speed_hz":1.0,"intensity":50,"passes":24,'
            b'"duration_s":null,"colour":"#3366FF"}',
            False,
        ),
        (f"bls/{driver.topic}/set", b'{"running":false}', False),
    ]


async def test_bls_state_and_availability_are_read(broker: Broker) -> None:
    driver = make_driver(device("mqtt-bls"))
    base = f"bls/{driver.topic}"
    receptions = await deliver(
        broker,
        driver,
        [
            # DEVICE_PROTOCOLS.md, our BLS convention.
            (f"{base}/availability", b"online", True),
            (f"{base}/state", b'{"running":true,"pass":3,"speed_hz":1.0}', False),
        ],
    )
    assert receptions == [
        Reception("availability", {"available": "online"}),
        Reception("state", {"running": True, "pass": 3, "speed_hz": 1.0}),
    ]
    await clear_retained(broker, [f"{base}/availability"])


async def test_vitals_readings_and_availability_are_read(broker: Broker) -> None:
    driver = make_driver(device("mqtt-vitals"))
    base = f"vitals/{driver.topic}"
    receptions = await deliver(
        broker,
        driver,
        [
            # DEVICE_PROTOCOLS.md, our vitals convention (any subset of the keys).
            (f"{base}/availability", b"online", True),
            (base, b'{"hr":72,"spo2":97,"ts":1718000000}', False),
            (base, b'{"hr":"fast"}', False),
        ],
    )
    assert receptions == [
        Reception("availability", {"available": "online"}),
        Reception("state", {"hr": 72.0, "spo2": 97.0, "ts": 1718000000.0}),
        Reception("error", {"error": f"{base}: hr is a string, not a number"}),
    ]
    assert driver.state == {"hr": 72.0, "spo2": 97.0, "ts": 1718000000.0}
    await clear_retained(broker, [f"{base}/availability"])
