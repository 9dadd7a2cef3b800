"""A loopback TCP relay between a client and a real broker, for the tests that need the
broker's packets changed on their way (held back, cut off, or joined by another)."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.mosquitto import Mosquitto


def packet_length(data: bytes | bytearray) -> int | None:
    """The length of the MQTT packet at the start of `data`, or None while it is incomplete."""
    multiplier, remaining = 1, 0
    for index in range(1, min(len(data), 5)):
        remaining += (data[index] & 0x7F) * multiplier
        if not data[index] & 0x80:
            total = index + 1 + remaining
            return total if len(data) >= total else None
        multiplier *= 128
    return None


class BrokerRelay:
    """Relays each connection to `broker`: the client's bytes pass unchanged; the broker's
    whole packets go through `forward`, which writes what the client is to get."""

    def __init__(self, broker: Mosquitto) -> None:
        self._broker = broker
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def __aenter__(self) -> BrokerRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def cut(self) -> None:
        """Close the connections (the client sees a lost broker)."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def forward(self, packet: bytes, client: asyncio.StreamWriter) -> bool:
        """Write the broker's `packet` to the client; False holds back it and all after it."""
        client.write(packet)
        return True

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection(self._broker.host, self._broker.port)
        self._writers += [client_w, broker_w]
        upstream = asyncio.create_task(self._upstream(client_r, broker_w, client_w))
        try:
            await self._downstream(broker_r, client_w)
        finally:
            upstream.cancel()
            for writer in (client_w, broker_w):
                writer.transport.abort()

    def passes_up(self, client: asyncio.StreamWriter) -> bool:
        """Whether what the client sends now reaches the broker (False drops it)."""
        return True

    async def _upstream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if self.passes_up(client):
                    writer.write(data)

    async def _downstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                buffer += data
                while (length := packet_length(buffer)) is not None:
                    if not self.forward(bytes(buffer[:length]), writer):
                        break
                    del buffer[:length]
