"""`sessionroom sim`: run the room's MQTT devices as simulated devices until stopped."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from controller.cli.common import (
    FiniteRange,
    Overrides,
    connection_options,
    device_broker_address,
    load_room_or_exit,
    log_to_stderr,
)
from controller.config import Room, limits
from controller.sim import (
    FAULT_SYNTAX,
    BrokerAddress,
    Fault,
    SimulatedRoom,
    connection_name,
    parse_fault,
)
from controller.sim.catalogue import is_simulated

EPILOG = """\b
Examples:
  sessionroom sim --config config.yaml
  sessionroom sim --broker mqtt://10.0.0.5:1883 --fault strip:offline@30+10
  sessionroom sim --fault 'ceiling:delay=2@1m' --fault '*:garbage@90s'
"""


@click.command(epilog=EPILOG)
@connection_options
@click.option(
    "--fault",
    "fault_specs",
    multiple=True,
    metavar=FAULT_SYNTAX,
    help="Make a device misbehave (see FAULTS above); repeatable.",
)
@click.option(
    "--skip-displays",
    is_flag=True,
    help="Leave the devices with a `display:` to `sessionroom display` (real screens).",
)
@click.option(
    "--time-scale",
    type=FiniteRange(min=limits.TIME_SCALE_MIN, max=limits.TIME_SCALE_MAX),
    default=None,
    help="The engine's rehearsal speed: a cuff measures that much faster (default: config).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every message devices receive and send.")
def sim(
    config_path: Path,
    broker: str | None,
    room_id: str | None,
    data_dir: Path | None,
    fault_specs: tuple[str, ...],
    skip_displays: bool,
    time_scale: float | None,
    verbose: bool,
) -> None:
    """Simulate every MQTT device of the room until Ctrl-C or SIGTERM.

    Each light, headset, BLS device and vitals sensor of devices/ gets its own MQTT
    connection, speaks its real protocol (Zigbee2MQTT, Tasmota, WLED, Shelly Gen2, our
    vr/bls/vitals convention), fades and counts on its own clock, and announces itself
    online (retained) with its offline availability as its will. Zigbee lights are no MQTT
    clients: those of one base topic share one simulated Zigbee2MQTT (one connection, will
    `{"state":"offline"}` on BASE/bridge/state), named BASE/bridge in faults. Local devices (vlc,
    tones) play on the room PC and are not simulated; with --skip-displays, neither are
    the devices shown on a screen by `sessionroom display`. With the embedded broker and no
    --broker, it connects to 127.0.0.1 on the configured port.

    A clean stop switches every device off: each publishes its offline availability
    before disconnecting. If the simulator is killed, the broker publishes the same
    through each device's will.

    \b
    FAULTS: --fault DEVICE:KIND[=SECONDS][@AT][+FOR]
      DEVICE  a device id, * for every simulated device, or BASE/bridge for a Zigbee2MQTT
      AT      when it starts, after the simulator starts (30, 90s, 2m; default now)
      FOR     how long it lasts (default: for good)
      KIND    offline    drop the connection without DISCONNECT (the broker sends the will)
              online     reconnect after an offline
              drop       ignore every command
              delay=S    apply every command S seconds late
              garbage    publish one unreadable payload on the state topic
    e.g. strip:offline@30+10  tappers:drop@1m+20s  ceiling:delay=2.5  '*:garbage@5'
         zigbee2mqtt/bridge:offline@1m (every light of that Zigbee2MQTT goes offline)
    """
    room = load_room_or_exit(
        config_path, Overrides(broker=broker, room_id=room_id, data_dir=data_dir), role="devices"
    )
    faults = [_fault(spec) for spec in fault_specs]
    devices = [d for d in room.devices.values() if not (skip_displays and d.display)]
    logins: dict[str, BrokerAddress] = {}
    for device in filter(is_simulated, devices):
        if connection_name(device) not in logins:
            logins[connection_name(device)] = device_broker_address(room, device)
    address = next(iter(logins.values()), None) or device_broker_address(room)
    try:
        simulated = SimulatedRoom(
            devices,
            logins,
            room_id=room.room_id,
            faults=faults,
            time_scale=time_scale or room.settings.time_scale,
        )
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--fault") from None
    log_to_stderr("controller.sim", verbose)  # connections, faults, ignored commands
    click.echo(_summary(room, simulated, address))
    asyncio.run(_serve(simulated))
    click.echo("Stopped: every simulated device has reported itself offline.")


def _fault(spec: str) -> Fault:
    try:
        return parse_fault(spec)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--fault") from None


def _summary(room: Room, simulated: SimulatedRoom, address: BrokerAddress) -> str:
    count = len(simulated.devices)
    lines = [
        f"Simulating room {room.room_id} on {address.url}: "
        f"{count} device{'s' if count != 1 else ''}, each on its own connection "
        "(Zigbee lights on their Zigbee2MQTT's)."
    ]
    for device in simulated.devices.values():
        model = device.model
        lines.append(f"  {device.id:<14} {model.protocol:<12} {model.state_topic}")
    for name, connection in simulated.connections.items():
        if name not in simulated.devices:
            state = connection.model.availability.topic
            lines.append(f"  {name:<14} {connection.model.protocol:<12} {state}")
    if simulated.local_devices:
        local = ", ".join(f"{d.id} ({d.driver})" for d in simulated.local_devices)
        lines.append(f"Not simulated (played on the room PC): {local}")
    shown = [d.id for d in room.devices.values() if d.display and d.id not in simulated.devices]
    if shown:
        lines.append(f"Not simulated (shown by sessionroom display): {', '.join(shown)}")
    for fault in simulated.faults:
        lines.append(f"Fault: {fault.describe()}")
    lines.append("Ctrl-C stops; every device then reports itself offline.")
    return "\n".join(lines)


async def _serve(simulated: SimulatedRoom) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    async with simulated:
        await stop.wait()
