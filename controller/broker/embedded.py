"""An MQTT broker inside the engine's process (amqtt), for a room without a facility broker.

amqtt speaks MQTT 3.1.1 only. It listens on one TCP address, accepts anonymous clients
and keeps retained messages in memory for as long as it runs.
"""

from __future__ import annotations

import logging
import socket
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from amqtt.broker import Broker

log = logging.getLogger(__name__)

LISTENER = "default"


class EmbeddedBrokerError(Exception):
    """The embedded broker could not start (address in use, bad address...)."""


class EmbeddedBroker:
    """`async with EmbeddedBroker(host=..., port=...) as broker:` serves MQTT until the block ends.

    `port=0` picks a free port; `broker.port` and `broker.url` give the one in use. A bus
    reaches it with `settings.model_copy(update={"host": broker.host, "port": broker.port})`.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        """`mqtt://host:port` of the running broker."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{host}:{self.port}"

    async def __aenter__(self) -> EmbeddedBroker:
        if self._broker is not None:
            raise RuntimeError("this embedded broker is already running")
        if self.port:
            _check_free(self.host, self.port)
        # amqtt is imported when a room uses it, not by every engine that imports this module.
        from amqtt.broker import Broker
        from amqtt.errors import BrokerError

        broker = Broker(_config(self.host, self.port))
        try:
            await broker.start()
        except BrokerError as error:
            raise EmbeddedBrokerError(
                f"the embedded broker cannot listen on {self.host}:{self.port}: {error}"
            ) from None
        self._broker = broker
        self.port = _bound_port(broker)
        log.info("embedded MQTT broker listening on %s", self.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()
            log.info("embedded MQTT broker on %s stopped", self.url)


def _config(host: str, port: int) -> dict[str, Any]:
    bind_host = f"[{host}]" if ":" in host else host
    return {
        "listeners": {LISTENER: {"type": "tcp", "bind": f"{bind_host}:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


def _check_free(host: str, port: int) -> None:
    """Fail with a plain message (amqtt would log a traceback) when the address is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise EmbeddedBrokerError(
            f"the embedded broker cannot listen on {host}:{port}: {error.strerror}"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise EmbeddedBrokerError(
                f"the embedded broker cannot listen on {host}:{port}: {error.strerror}"
            ) from None


def _bound_port(broker: Broker) -> int:
    # amqtt does not report the port it bound (port 0 means any); its listener's server does.
    server = broker._servers[LISTENER].instance
    return int(server.sockets[0].getsockname()[1])
