"""The simulated room: virtual devices speaking each real protocol over their own MQTT connections.

Each model in this package is written from the device's own documentation and source,
independently of `controller.drivers`, so that driver tests can trust what it says.
"""

from controller.sim.catalogue import SIMULATED_MODELS, is_simulated, make_model
from controller.sim.device import BrokerAddress, VirtualDevice
from controller.sim.faults import FAULT_SYNTAX, Fault, FaultKind, parse_fault
from controller.sim.model import Availability, DeviceModel, Publication
from controller.sim.room import SimulatedDevice, SimulatedRoom, connection_name

__all__ = [
    "FAULT_SYNTAX",
    "SIMULATED_MODELS",
    "Availability",
    "BrokerAddress",
    "DeviceModel",
    "Fault",
    "FaultKind",
    "Publication",
    "SimulatedDevice",
    "SimulatedRoom",
    "VirtualDevice",
    "connection_name",
    "is_simulated",
    "make_model",
    "parse_fault",
]
