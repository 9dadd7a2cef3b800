"""The MQTT bus: one connection per process; reconnects, queues while away, routes by filter.

`controller.bus.bus.Bus` is the bus itself; this package names only the messages it hands
over, so that what needs no connection (the console's login settings,
`controller.bus.credentials`) is read without loading the bus and its MQTT client.
"""

from controller.bus.messages import ConnectionChange, Handler, Message, ReportsChange, Will

__all__ = [
    "ConnectionChange",
    "Handler",
    "Message",
    "ReportsChange",
    "Will",
]
