"""The MQTT bus: one connection per process; reconnects, queues while away, routes by filter."""

from controller.bus.bus import Bus
from controller.bus.credentials import BusConfigError
from controller.bus.messages import ConnectionChange, Handler, Message, ReportsChange, Will

__all__ = [
    "Bus",
    "BusConfigError",
    "ConnectionChange",
    "Handler",
    "Message",
    "ReportsChange",
    "Will",
]
