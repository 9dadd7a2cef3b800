"""Publishing straight to the socket on the event loop's thread, then awaiting the broker's word.

aiomqtt's `publish` is a coroutine per message: started as a task, it runs a turn of the
event loop later; paho then queues the packet and asks (through `call_soon_threadsafe`, a
wake-up of the loop by its self-pipe) for the socket to be watched for writing; the packet
leaves once the loop has added the watch and the next poll has found the socket writable.
Each of those turns also runs whatever else is ready (the command's events, its reply), so
a device message waited about half a millisecond between the bus taking it and the wire
(measured stage by stage by `bench.stages`). `Sender` hands the packets to paho and writes
them to the socket at once; what the socket cannot take yet is written when it is writable,
as before. Like the bus's other adjustments of aiomqtt (`controller.bus.bus`), this reaches
paho's client through aiomqtt's `_client`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import aiomqtt
from paho.mqtt.client import Client as PahoClient
from paho.mqtt.client import MQTTMessageInfo
from paho.mqtt.enums import MQTTErrorCode

from controller.bus.outbox import Pending


class Sender:
    """Publishes one connection's messages without waiting for turns of the event loop.

    Made on the event loop's thread once the client is connected; its client is used for
    one connection only (the bus makes a fresh one for every attempt).
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client
        self._paho = client._client
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._acknowledgements: dict[int, asyncio.Future[None]] = {}
        self._on_acknowledged: dict[int, Callable[[], None]] = {}
        self._register_elsewhere = self._paho.on_socket_register_write
        self._unregister_elsewhere = self._paho.on_socket_unregister_write
        self._watched = True
        """Whether the socket may be watched for writing (by `_watch`, or through aiomqtt). At
        first it may: aiomqtt watches it for a write paho queued before this took over (the
        acknowledgement of a message read with the CONNACK); that write ends the watch, or
        `_settle` does."""
        self._aiomqtt_published: Any = self._paho.on_publish
        self._paho.on_socket_register_write = self._register_write
        self._paho.on_socket_unregister_write = self._unregister_write
        self._paho.on_publish = self._published
        self._loop.call_soon(self._settle)

    def publish(
        self, message: Pending, on_acknowledged: Callable[[], None] | None = None
    ) -> asyncio.Future[None]:
        """Queue `message` in paho; the future is done when the broker acknowledged it (QoS 1
        and 2) or it was written (QoS 0), and `on_acknowledged` is called then, as the
        acknowledgement is read: before anything else runs on the event loop. Call `write`
        after queueing a batch."""
        info: MQTTMessageInfo = self._paho.publish(
            message.topic, message.payload, qos=message.qos, retain=message.retain
        )
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, f"could not publish to {message.topic}")
        done = self._loop.create_future()
        self._acknowledgements[info.mid] = done
        if on_acknowledged is not None:
            self._on_acknowledged[info.mid] = on_acknowledged
        return done

    def waiting(self) -> bool:
        """Whether paho has something queued that is not written yet."""
        return self._paho.want_write()

    def write(self) -> None:
        """Write what paho has queued to the socket now; the rest once it is writable."""
        self._paho.loop_write()

    def write_in_callback(self) -> bool:
        """Write what paho has queued, in one of paho's callbacks; whether all of it went.

        Not `write`: when the socket fails, paho's `loop_write` tells the disconnection under
        the lock its callback holds, and would wait for itself for ever. What did not go (the
        socket full, or failed) is for `write` once the callback has returned."""
        written = self._paho._packet_write()  # writes until done, blocked or failed
        if written != MQTTErrorCode.MQTT_ERR_SUCCESS or self._paho.want_write():
            return False
        self._paho._call_socket_unregister_write()  # as `loop_write` ends: paho asks again
        return True

    def forget(self, waiting: set[asyncio.Future[None]]) -> None:
        """Stop waiting for these acknowledgements (they did not come in time)."""
        self._acknowledgements = {
            mid: done for mid, done in self._acknowledgements.items() if done not in waiting
        }
        kept = self._acknowledgements
        self._on_acknowledged = {m: hook for m, hook in self._on_acknowledged.items() if m in kept}

    def _published(
        self, client: PahoClient, userdata: Any, mid: int, reason: Any, properties: Any
    ) -> None:
        if self._aiomqtt_published is not None:  # the subscriptions' and birth's publishes
            self._aiomqtt_published(client, userdata, mid, reason, properties)
        done = self._acknowledgements.pop(mid, None)
        on_acknowledged = self._on_acknowledged.pop(mid, None)
        if done is not None and not done.done():
            done.set_result(None)
            if on_acknowledged is not None:
                on_acknowledged()

    def _register_write(self, client: PahoClient, userdata: Any, sock: Any) -> None:
        """Watch the socket for writing once this turn of the loop is over, if paho still has
        something to write then (a `write` usually came first: no system call to add and
        remove the watch, no wake-up of the loop); through aiomqtt from any other thread
        (paho's connect runs in one)."""
        if threading.get_ident() != self._thread:
            self._watched = True
            self._register_elsewhere(client, userdata, sock)  # type: ignore[misc]
            return
        self._loop.call_soon(self._watch, sock)

    def _watch(self, sock: Any) -> None:
        if sock.fileno() != -1 and self._paho.want_write():  # not closed since it was asked
            self._watched = True
            self._loop.add_writer(sock.fileno(), self._writable)

    def _settle(self) -> None:
        """Stop watching the socket for writing if paho has nothing to write.

        aiomqtt adds its watch a turn of the event loop after paho asked for it: when the
        write it was for went out at once meanwhile (an acknowledgement written right after
        the read, `controller.bus.bus._read_in_batches`), paho's request to end the watch came
        first, and nothing would end it: a watch on a writable socket runs the event loop flat
        out. Scheduled as this takes over, this runs after any watch aiomqtt still had to add.
        """
        sock = self._paho.socket()
        if sock is not None and not self._paho.want_write():
            self._watched = False
            self._loop.remove_writer(sock.fileno())

    def _unregister_write(self, client: PahoClient, userdata: Any, sock: Any) -> None:
        """Stop watching the socket for writing, if it was: paho asks after every write that
        emptied its queue, and most were written at once, unwatched (the event loop's removal
        of a watch that is not there still walks its selector: about fifteen calls a write)."""
        if self._watched:
            self._watched = False
            self._unregister_elsewhere(client, userdata, sock)  # type: ignore[misc]

    def _writable(self) -> None:
        try:
            self._paho.loop_write()
        except Exception as error:  # a broken connection, as aiomqtt handles it
            disconnected = self._client._disconnected
            if not disconnected.done():
                disconnected.set_exception(error)
