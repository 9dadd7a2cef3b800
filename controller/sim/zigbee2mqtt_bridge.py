"""One Zigbee2MQTT process: every Zigbee light of one base topic on one MQTT connection.

A Zigbee bulb is no MQTT client. Zigbee2MQTT (one process per coordinator) connects with
`<base>/bridge/state` `{"state":"offline"}` (retained) as its will, publishes
`{"state":"online"}` there once connected, and then, for every light paired to it, the
light's retained `<base>/<friendly_name>/availability` and its state; it takes every light's
`/set` and `/get`. So the whole process going away (a crash: the broker sends the will)
takes every light of it offline at once, while one light going unreachable (its power cut)
says so on its own availability topic and the bridge stays online.

`Zigbee2MqttBridge` is that process as a device model (run on one `VirtualDevice`, named
`<base>/bridge` in faults); `BridgedLight` is one of its lights, with the faults of a device
of its own: offline (unreachable), drop, delay, garbage on its state topic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from controller.bus.topics import topic_matches
from controller.sim.device import CommandFaults, VirtualDevice
from controller.sim.faults import CommandGate
from controller.sim.model import Availability, DeviceModel, Publication, shorten
from controller.sim.zigbee2mqtt import Zigbee2MqttLight

ONLINE = '{"state":"online"}'
OFFLINE = '{"state":"offline"}'

log = logging.getLogger("controller.sim.zigbee2mqtt")


def bridge_name(base: str) -> str:
    """How faults and logins name the Zigbee2MQTT of base topic `base`."""
    return f"{base}/bridge"


class Zigbee2MqttBridge(DeviceModel):
    """Zigbee2MQTT with `lights` paired, under base topic `base`."""

    protocol = "zigbee2mqtt"

    def __init__(self, base: str, lights: Sequence[Zigbee2MqttLight]) -> None:
        if not lights:
            raise ValueError(f"a Zigbee2MQTT on {base!r} with no light")
        # The first light's device and clock offset; what the lights ignore, they log themselves.
        super().__init__(lights[0].device, unix_offset=lights[0].unix_offset)
        self.base = base
        self.lights = {light.device.id: light for light in lights}
        self.gates = {light_id: CommandGate(light_id) for light_id in self.lights}
        """Each light's own drop and delay faults."""
        self.unreachable: set[str] = set()
        """Lights taken offline by a fault: Zigbee2MQTT says so, and they answer nothing."""

    @property
    def name(self) -> str:
        return bridge_name(self.base)

    @property
    def availability(self) -> Availability:
        return Availability(f"{self.base}/bridge/state", ONLINE, OFFLINE)

    @property
    def state_topic(self) -> str:
        return self.availability.topic

    def subscriptions(self) -> list[str]:
        return [topic for light in self.lights.values() for topic in light.subscriptions()]

    def connected(self, now: float) -> list[Publication]:
        publications: list[Publication] = []
        for light_id, light in self.lights.items():
            if light_id in self.unreachable:
                publications.append(light.availability.announce_offline())
            else:
                publications += [light.availability.announce_online(), *light.connected(now)]
        return publications

    def handle(self, topic: str, payload: bytes, now: float) -> list[Publication]:
        light_id = next(
            (
                light_id
                for light_id, light in self.lights.items()
                if any(topic_matches(f, topic) for f in light.subscriptions())
            ),
            None,
        )
        if light_id is None:
            return self.ignore(f"a message on {topic}", payload)
        publications: list[Publication] = []
        for admitted, admitted_payload in self.gates[light_id].admit(topic, payload, now):
            publications += self._to_light(light_id, admitted, admitted_payload, now)
        return publications

    def tick(self, now: float) -> list[Publication]:
        publications: list[Publication] = []
        for light_id, light in self.lights.items():
            for topic, payload in self.gates[light_id].release(now):
                publications += self._to_light(light_id, topic, payload, now)
            publications += light.tick(now)
        return publications

    def switched_off(self) -> list[Publication]:
        """Switched off with its lights: each light offline, and the bridge."""
        lights = [light.availability.announce_offline() for light in self.lights.values()]
        return [*lights, self.availability.announce_offline()]

    def _to_light(self, light_id: str, topic: str, payload: bytes, now: float) -> list[Publication]:
        if light_id in self.unreachable:
            log.info("%s is unreachable: %s %s is lost", light_id, topic, shorten(payload))
            return []
        return self.lights[light_id].handle(topic, payload, now)


class BridgedLight(CommandFaults):
    """One light of a simulated Zigbee2MQTT (`process` runs `bridge`), faulted on its own."""

    def __init__(self, light_id: str, process: VirtualDevice, bridge: Zigbee2MqttBridge) -> None:
        self._id = light_id
        self.process = process
        self.bridge = bridge
        self.model = bridge.lights[light_id]
        self.gate = bridge.gates[light_id]

    @property
    def id(self) -> str:
        return self._id

    @property
    def client_id(self) -> str:
        """The connection's: Zigbee2MQTT's own."""
        return self.process.client_id

    @property
    def online(self) -> bool:
        """Its Zigbee2MQTT is online and it is reachable."""
        return self.process.online and self.id not in self.bridge.unreachable

    async def wait_online(self, timeout: float) -> bool:
        return await self.process.wait_online(timeout) and self.online

    def go_offline(self) -> None:
        """Become unreachable: Zigbee2MQTT says the light is offline; the bridge stays online."""
        log.info("%s goes unreachable (fault)", self.id)
        self.bridge.unreachable.add(self.id)
        self.send([self.model.availability.announce_offline()])

    def come_online(self) -> None:
        """Reachable again: online, and its state, as Zigbee2MQTT publishes them."""
        if self.id in self.bridge.unreachable:
            log.info("%s is reachable again (fault ends)", self.id)
        self.bridge.unreachable.discard(self.id)
        now = self.process.clock()
        self.send([self.model.availability.announce_online(), *self.model.connected(now)])

    def send(self, publications: list[Publication]) -> None:
        """Publish on its Zigbee2MQTT's connection."""
        self.process.send(publications)
