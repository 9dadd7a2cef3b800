"""Connection parameters from the room's broker settings: password and TLS files read from disk."""

from __future__ import annotations

import io
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path

from controller.config.settings import BrokerSettings, TlsSettings
from controller.config.yamlsource import RoomFileTooLargeError, plain_file, read_room_file

MAX_PASSWORD_BYTES = 4096
"""A password file is read no further (a link to `/dev/zero` is not read until memory ends)."""


def unique_client_id(name: str) -> str:
    """`name` with a random suffix: a client id no other client can know, hence take over
    (taking it would cut this connection off and publish its will)."""
    return f"{name}-{uuid.uuid4().hex[:12]}"


class BusConfigError(Exception):
    """The broker settings name a file that cannot be used (missing, unreadable, not PEM...)."""


@dataclass(frozen=True)
class ConnectionParameters:
    """Everything needed to open a connection to the broker."""

    host: str
    port: int
    keepalive_s: int
    username: str | None
    password: str | None
    tls_context: ssl.SSLContext | None


def client_settings(settings: BrokerSettings) -> BrokerSettings:
    """Where a client (ctl, sim, console) connects: an embedded broker is on 127.0.0.1:port.

    Raises BusConfigError for an embedded broker on port 0: it picks a free port when the
    engine starts, so a client cannot know it and needs --broker.
    """
    if settings.mode == "external":
        return settings
    if settings.port == 0:
        raise BusConfigError(
            "the room's embedded broker picks a free port (port 0 in config.yaml): "
            "give --broker mqtt://127.0.0.1:PORT"
        )
    return settings.model_copy(update={"mode": "external", "host": "127.0.0.1"})


def connection_parameters(settings: BrokerSettings, root: Path) -> ConnectionParameters:
    """Read the password file and TLS files named by `settings`; relative paths start at `root`."""
    if settings.password_file is not None and settings.username is None:
        raise BusConfigError("broker password_file is set but username is not")
    password = (
        None if settings.password_file is None else read_password(root / settings.password_file)
    )
    return ConnectionParameters(
        host=settings.host,
        port=settings.port,
        keepalive_s=settings.keepalive_s,
        username=settings.username,
        password=password,
        tls_context=None if settings.tls is None else tls_context(settings.tls, root),
    )


def read_password(path: Path) -> str:
    """The password held in `path`: its text without the trailing line break. Only a regular
    file is read (a FIFO would keep the engine or a console waiting for ever)."""
    try:
        raw = read_room_file(path, MAX_PASSWORD_BYTES)
    except RoomFileTooLargeError:
        limit = f"{MAX_PASSWORD_BYTES} bytes"
        raise BusConfigError(f"broker password_file {path} is larger than {limit}") from None
    except OSError as error:
        raise BusConfigError(f"broker password_file {path}: {_describe(error)}") from None
    try:
        password = io.StringIO(raw.decode("utf-8"), newline=None).read().rstrip("\n")
    except UnicodeDecodeError:
        raise BusConfigError(f"broker password_file {path} is not UTF-8 text") from None
    if not password:
        raise BusConfigError(f"broker password_file {path} is empty")
    return password


def tls_context(tls: TlsSettings, root: Path) -> ssl.SSLContext:
    """A client TLS context verifying the broker (with ca_file, or the system's store)."""
    if tls.key_file is not None and tls.cert_file is None:
        raise BusConfigError("broker tls key_file is set but cert_file is not")
    ca_file = None if tls.ca_file is None else root / tls.ca_file
    try:
        context = ssl.create_default_context(
            cafile=None if ca_file is None else plain_file(ca_file)
        )
    except OSError as error:
        raise BusConfigError(f"broker tls ca_file {ca_file}: {_describe(error)}") from None
    if tls.cert_file is not None:
        cert_file = root / tls.cert_file
        key_file = None if tls.key_file is None else root / tls.key_file
        try:
            context.load_cert_chain(plain_file(cert_file), key_file and plain_file(key_file))
        except OSError as error:
            files = f"cert_file {cert_file}"
            if key_file is not None:
                files += f", key_file {key_file}"
            raise BusConfigError(f"broker tls {files}: {_describe(error)}") from None
    if tls.insecure:
        context.check_hostname = False
    context.sslsocket_class = ClosingSSLSocket
    return context


class ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the TLS handshake fails (paho-mqtt 2.x leaves that socket open)."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _describe(error: OSError) -> str:
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error)
    return str(error.strerror or error)
