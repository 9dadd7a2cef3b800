"""`sessionroom sim` on the command line, and as a process against a real Mosquitto."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from controller.cli import main
from tests.sim.support import Recorder
from tests.support.mosquitto import Mosquitto

EXAMPLE_AVAILABILITY = {
    # The ceiling light is a Zigbee light: its Zigbee2MQTT's will says it is gone.
    "zigbee2mqtt/bridge/state": ('{"state":"online"}', '{"state":"offline"}'),
    "tele/floorlamp/LWT": ("Online", "Offline"),
    "wled/wled-strip/status": ("online", "offline"),
    "vr/headset/availability": ("online", "offline"),
    "bls/tappers/availability": ("online", "offline"),
    "bls/lightbar/availability": ("online", "offline"),
    "vitals/oximeter/availability": ("online", "offline"),
    "vitals/bp-cuff/availability": ("online", "offline"),
}
"""The example room's MQTT connections: availability topic → (online, offline) payloads."""

SESSIONROOM = Path(sys.executable).with_name("sessionroom")


def write_room(tmp_path: Path, example_config: Path, broker: str) -> Path:
    """A config.yaml using the example room's files, with its own broker line."""
    example = example_config.parent
    config = tmp_path / "config.yaml"
    config.write_text(
        f"room: room-a\nbroker: {broker}\npaths:\n"
        f"  devices: {example / 'devices'}\n"
        f"  scenes: {example / 'scenes'}\n"
        f"  playlists: {example / 'playlists'}\n"
    )
    return config


@asynccontextmanager
async def simulator(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`sessionroom sim ARGS` as a process of its own; killed if still running at the end."""
    process = await asyncio.create_subprocess_exec(
        str(SESSIONROOM),
        "sim",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def every_device_is(recorder: Recorder, state: str) -> None:
    """Until every example device's availability says `state` (online or offline)."""
    which = ("online", "offline").index(state)
    for topic, payloads in EXAMPLE_AVAILABILITY.items():
        await recorder.wait_for(topic, payloads[which], timeout=10)


def test_help_documents_the_fault_format_with_examples() -> None:
    result = CliRunner().invoke(main, ["sim", "--help"])
    assert result.exit_code == 0
    assert "--fault DEVICE:KIND[=SECONDS][@AT][+FOR]" in result.output
    assert "strip:offline@30+10" in result.output
    assert "not simulated" in result.output


@pytest.mark.parametrize(
    ("fault", "complaint"),
    [
        ("strip:explode", "unknown fault 'explode'"),
        ("lamp:offline", "no such simulated device"),
        ("music:offline", "no such simulated device"),
    ],
)
def test_a_bad_fault_is_a_usage_error(example_config: Path, fault: str, complaint: str) -> None:
    result = CliRunner().invoke(
        main,
        [
            "sim",
            "--config",
            str(example_config),
            "--broker",
            "mqtt://127.0.0.1:9",
            "--fault",
            fault,
        ],
    )
    assert result.exit_code == 2
    assert "--fault" in result.output and complaint in result.output


def test_an_embedded_broker_on_a_port_chosen_at_start_cannot_be_found(
    tmp_path: Path, example_config: Path
) -> None:
    config = write_room(tmp_path, example_config, "{mode: embedded, port: 0}")
    result = CliRunner().invoke(main, ["sim", "--config", str(config)])
    assert result.exit_code == 2
    assert "give --broker mqtt://127.0.0.1:PORT" in result.output


def test_a_broker_section_without_a_zigbee2mqtt_login_is_named(
    tmp_path: Path, example_config: Path
) -> None:
    """A facility's broker.yaml written before Zigbee2MQTT had its own login: the ceiling
    would connect as nobody (to the consoles' port) and be refused again and again."""
    devices = '{username: "device.a.{device}", password_file: "f/{device}.password"}'
    broker = f"{{mode: external, port: 8883, credentials: {{devices: {devices}}}}}"
    (tmp_path / "f").mkdir()  # the headset's (after the ceiling) left out: no endless retries
    for device in ("tappers", "lightbar", "floor-lamp", "strip", "oximeter", "bp-cuff"):
        (tmp_path / "f" / f"{device}.password").write_text("secret\n")
    result = CliRunner().invoke(
        main, ["sim", "--config", str(write_room(tmp_path, example_config, broker))]
    )
    assert result.exit_code == 2
    assert (
        "broker.credentials has a devices login but no zigbee2mqtt one, which Zigbee light "
        "'ceiling' connects with (its Zigbee2MQTT of base topic 'zigbee2mqtt')"
    ) in result.output
    assert "facility init --update-configs" in result.output


@pytest.mark.mosquitto
async def test_a_killed_simulator_leaves_every_device_offline_through_its_will(
    private_mosquitto: Mosquitto, example_config: Path
) -> None:
    broker = private_mosquitto
    async with (
        Recorder(broker.host, broker.port, list(EXAMPLE_AVAILABILITY)) as recorder,
        simulator("--config", str(example_config), "--broker", broker.url) as process,
    ):
        await every_device_is(recorder, "online")
        process.kill()
        await process.wait()
        await every_device_is(recorder, "offline")
        assert process.stdout is not None
        printed = (await process.stdout.read()).decode()
    assert f"Simulating room room-a on {broker.url}: 8 devices" in printed
    for device in ("ceiling", "floor-lamp", "strip", "headset", "tappers", "lightbar", "oximeter"):
        assert f"  {device} " in printed
    assert "Not simulated (played on the room PC): music (vlc), tones (tones)" in printed


@pytest.mark.mosquitto
async def test_devices_shown_on_a_screen_can_be_left_to_their_display(
    private_mosquitto: Mosquitto, example_config: Path
) -> None:
    broker = private_mosquitto
    shown = ["vr/headset/availability", "bls/lightbar/availability"]
    async with (
        Recorder(broker.host, broker.port, list(EXAMPLE_AVAILABILITY)) as recorder,
        simulator(
            "--config", str(example_config), "--broker", broker.url, "--skip-displays"
        ) as sim,
    ):
        for topic, (online, _) in EXAMPLE_AVAILABILITY.items():
            if topic not in shown:
                await recorder.wait_for(topic, online, timeout=10)
        sim.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(sim.wait(), timeout=10) == 0
        assert sim.stdout is not None
        printed = (await sim.stdout.read()).decode()
    assert f"Simulating room room-a on {broker.url}: 6 devices" in printed
    assert "Not simulated (shown by sessionroom display): lightbar, headset" in printed
    assert not [t for t in shown if recorder.payloads(t)]


@pytest.mark.mosquitto
async def test_sigterm_stops_cleanly_and_every_device_says_it_is_offline(
    private_mosquitto: Mosquitto, example_config: Path
) -> None:
    broker = private_mosquitto
    async with (
        Recorder(broker.host, broker.port, list(EXAMPLE_AVAILABILITY)) as recorder,
        simulator("--config", str(example_config), "--broker", broker.url) as process,
    ):
        await every_device_is(recorder, "online")
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
        await every_device_is(recorder, "offline")
        assert process.stdout is not None
        assert "Stopped" in (await process.stdout.read()).decode()


@pytest.mark.mosquitto
async def test_sigterm_stops_it_while_the_broker_is_gone_and_devices_keep_reconnecting(
    private_mosquitto: Mosquitto, example_config: Path
) -> None:
    broker = private_mosquitto
    broker.stop()  # every device loops: connect, refused, wait, again
    try:
        async with simulator("--config", str(example_config), "--broker", broker.url) as process:
            assert process.stderr is not None
            complaint = await asyncio.wait_for(process.stderr.readline(), timeout=10)
            assert b"no connection" in complaint
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), timeout=10) == 0
    finally:
        broker.start()


@pytest.mark.mosquitto
async def test_with_the_embedded_broker_it_connects_to_the_configured_port_on_localhost(
    private_mosquitto: Mosquitto, example_config: Path, tmp_path: Path
) -> None:
    broker = private_mosquitto
    config = write_room(tmp_path, example_config, f"{{mode: embedded, port: {broker.port}}}")
    async with (
        Recorder(broker.host, broker.port, list(EXAMPLE_AVAILABILITY)) as recorder,
        simulator("--config", str(config)),
    ):
        await every_device_is(recorder, "online")


@pytest.mark.mosquitto
async def test_a_fault_flag_takes_a_device_offline_and_back(
    private_mosquitto: Mosquitto, example_config: Path
) -> None:
    broker = private_mosquitto
    topic = "wled/wled-strip/status"
    args = ("--config", str(example_config), "--broker", broker.url)
    async with (
        Recorder(broker.host, broker.port, [topic]) as recorder,
        simulator(*args, "--fault", "strip:offline@0.5+0.5") as process,
    ):
        await recorder.wait_for(topic, "online", timeout=10)
        await recorder.wait_for(topic, "offline")
        await recorder.wait_for(topic, "online")
        process.send_signal(signal.SIGTERM)
        await process.wait()
        assert process.stdout is not None
        printed = (await process.stdout.read()).decode()
    assert recorder.payloads(topic)[:3] == [b"online", b"offline", b"online"]
    assert "Fault: strip goes offline abruptly at 0.5 s for 0.5 s" in printed
