"""The simulated room: one virtual device per MQTT device of the room, ticked in real time.

Each device has its own connection, but Zigbee lights: those of one base topic are paired to
one simulated Zigbee2MQTT, whose one connection carries them all (`<base>/bridge` in faults).

```python
async with SimulatedRoom(room.devices.values(), address, room_id="room-a") as sim:
    await sim.wait_online(timeout=5)
    sim.devices["strip"].go_offline()
```
Faults given up front run on the room's clock, counted from the moment it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import TracebackType

from controller.config.models import Device
from controller.sim.catalogue import is_simulated, make_model
from controller.sim.device import BrokerAddress, VirtualDevice
from controller.sim.faults import EVERY_DEVICE, Fault, FaultKind
from controller.sim.model import DeviceModel
from controller.sim.zigbee2mqtt import Zigbee2MqttLight
from controller.sim.zigbee2mqtt_bridge import BridgedLight, Zigbee2MqttBridge, bridge_name

TICK_INTERVAL_S = 0.1
"""The devices' clock resolution: fades and timers advance ten times a second."""


@dataclass(frozen=True)
class ScheduledAction:
    at_s: float
    action: Callable[[], None]


SimulatedDevice = VirtualDevice | BridgedLight
"""A simulated device: on a connection of its own, or a light of a simulated Zigbee2MQTT."""


def connection_name(device: Device) -> str:
    """The connection `device` is simulated on: its own (its id), or its Zigbee2MQTT's."""
    base = device.zigbee2mqtt_base
    return device.id if base is None else bridge_name(base)


class SimulatedRoom:
    """Every MQTT device of a room on one clock: each on its own connection, but the Zigbee
    lights of one base topic, which share their Zigbee2MQTT's."""

    def __init__(
        self,
        devices: Iterable[Device],
        broker: BrokerAddress | Mapping[str, BrokerAddress],
        *,
        room_id: str,
        faults: Sequence[Fault] = (),
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        time_scale: float = 1.0,
    ) -> None:
        """`broker` is where every device connects, or each connection's own login by
        `connection_name` (a device's id, or `<base>/bridge` for a Zigbee2MQTT);
        `time_scale` is the room's rehearsal speed: a cuff measures that much faster."""
        self.clock = clock
        devices = list(devices)
        self.local_devices = [device for device in devices if not is_simulated(device)]
        """Devices played on the room PC itself (vlc, tones): not simulated."""
        unix_offset = time.time() - clock()

        def connect(model: DeviceModel) -> VirtualDevice:
            name = model.name
            return VirtualDevice(
                model,
                broker if isinstance(broker, BrokerAddress) else broker[name],
                client_id=f"sessionroom-sim-{room_id}-{name.replace('/', '-')}",
                clock=clock,
            )

        simulated = [device for device in devices if is_simulated(device)]
        made: dict[str, SimulatedDevice] = {}
        self.connections: dict[str, VirtualDevice] = {}
        """Every MQTT connection, by `connection_name`."""
        zigbee: dict[str, list[Zigbee2MqttLight]] = {}
        for device in simulated:
            model = make_model(device, unix_offset=unix_offset, rng=rng, time_scale=time_scale)
            if isinstance(model, Zigbee2MqttLight):
                zigbee.setdefault(model.bridge_base, []).append(model)
            else:
                made[device.id] = self.connections[device.id] = connect(model)
        for base, lights in zigbee.items():
            bridge = Zigbee2MqttBridge(base, lights)
            process = self.connections[bridge.name] = connect(bridge)
            for light in lights:
                made[light.device.id] = BridgedLight(light.device.id, process, bridge)
        self.devices = {device.id: made[device.id] for device in simulated}
        self.faults = list(faults)
        self._schedule = self._plan(self.faults)
        self._started_at = 0.0
        self._ticker: asyncio.Task[None] | None = None

    def _plan(self, faults: Sequence[Fault]) -> list[ScheduledAction]:
        """Each fault as the actions it takes on each device it concerns, in time order."""
        schedule: list[ScheduledAction] = []
        named: dict[str, SimulatedDevice] = {**self.devices, **self.connections}
        for fault in faults:
            if fault.device != EVERY_DEVICE and fault.device not in named:
                known = ", ".join(sorted(named)) or "none"
                raise ValueError(
                    f"fault for {fault.device!r}: no such simulated device (simulated: {known})"
                )
            targets = (
                self.devices.values() if fault.device == EVERY_DEVICE else [named[fault.device]]
            )
            for device in targets:
                start, end = fault_actions(fault, device)
                schedule.append(ScheduledAction(fault.at_s, start))
                if end is not None and fault.for_s is not None:
                    schedule.append(ScheduledAction(fault.at_s + fault.for_s, end))
        return sorted(schedule, key=lambda action: action.at_s)

    async def __aenter__(self) -> SimulatedRoom:
        self._started_at = self.clock()
        for connection in self.connections.values():
            connection.start()
        self._ticker = asyncio.create_task(self._tick_forever(), name="sim-ticker")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_online(self, timeout: float) -> bool:
        """Whether every device got online within `timeout` seconds."""
        results = await asyncio.gather(
            *(connection.wait_online(timeout) for connection in self.connections.values())
        )
        return all(results)

    def tick(self, now: float) -> None:
        """Run the faults that are due and advance every device to `now`."""
        elapsed = now - self._started_at
        while self._schedule and self._schedule[0].at_s <= elapsed:
            self._schedule.pop(0).action()
        for connection in self.connections.values():
            connection.tick(now)

    async def stop(self) -> None:
        """Stop ticking and switch every device off (each publishes its offline availability)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await asyncio.gather(*(connection.stop() for connection in self.connections.values()))

    async def _tick_forever(self) -> None:
        while True:
            self.tick(self.clock())
            await asyncio.sleep(TICK_INTERVAL_S)


def fault_actions(
    fault: Fault, device: SimulatedDevice
) -> tuple[Callable[[], None], Callable[[], None] | None]:
    """What starts a fault on a device, and what ends it (None for one-off faults)."""
    actions: dict[FaultKind, tuple[Callable[[], None], Callable[[], None] | None]] = {
        FaultKind.OFFLINE: (device.go_offline, device.come_online),
        FaultKind.ONLINE: (device.come_online, None),
        FaultKind.DROP: (partial(device.drop_commands, True), partial(device.drop_commands, False)),
        FaultKind.DELAY: (
            partial(device.delay_commands, fault.delay_s),
            partial(device.delay_commands, 0.0),
        ),
        FaultKind.GARBAGE: (device.send_garbage, None),
    }
    return actions[fault.kind]
