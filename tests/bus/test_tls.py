"""TLS to a Mosquitto whose certificates this test makes with the openssl CLI."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.bus.bus import Bus
from controller.config.settings import BrokerSettings, TlsSettings
from tests.bus.support import FAST_RETRY, ConnectionLog, Recorder, eventually
from tests.support.mosquitto import Mosquitto
from tests.support.requirements import missing, mosquitto_binary

pytestmark = pytest.mark.mosquitto

SERVER_NAME = "localhost"
"""The only name in the broker's certificate; 127.0.0.1 is deliberately not in it."""
EC_KEY = ("ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


@dataclass(frozen=True)
class Certificates:
    folder: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def openssl(*arguments: str | Path, cwd: Path) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        missing("openssl", "apt-get install openssl")
    subprocess.run([tool, *map(str, arguments)], cwd=cwd, check=True, capture_output=True)


def signed_certificate(folder: Path, name: str, extensions: str) -> None:
    """`name`.key and `name`.pem, signed by the CA in `folder`."""
    (folder / f"{name}.ext").write_text(extensions)
    openssl("req", "-newkey", *EC_KEY, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", cwd=folder)  # fmt: skip
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext",
            cwd=folder)  # fmt: skip


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("certs")
    openssl("req", "-x509", "-newkey", *EC_KEY, "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    signed_certificate(
        folder, "server", f"subjectAltName=DNS:{SERVER_NAME}\nextendedKeyUsage=serverAuth\n"
    )
    signed_certificate(folder, "client", "extendedKeyUsage=clientAuth\n")
    return Certificates(
        folder,
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )


def tls_mosquitto(workdir: Path, certificates: Certificates, extra: str = "") -> Mosquitto:
    return Mosquitto(
        mosquitto_binary(),
        workdir,
        extra_config=(
            "user root\n"
            f"cafile {certificates.ca}\n"
            f"certfile {certificates.server_cert}\n"
            f"keyfile {certificates.server_key}\n" + extra
        ),
    )


@pytest.fixture(scope="module")
def tls_broker(
    certificates: Certificates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mosquitto]:
    broker = tls_mosquitto(tmp_path_factory.mktemp("tls-mosquitto"), certificates)
    broker.start()
    yield broker
    broker.stop()


def tls_settings(broker: Mosquitto, host: str, tls: TlsSettings) -> BrokerSettings:
    return BrokerSettings(mode="external", host=host, port=broker.port, tls=tls)


async def assert_roundtrip(bus: Bus) -> None:
    received = Recorder()
    bus.subscribe("secure/echo", received)
    await bus.publish("secure/echo", "over tls")
    await eventually(lambda: received.payloads == ["over tls"])


async def first_failure(settings: BrokerSettings, root: Path) -> str:
    """The reason the bus gives for not connecting."""
    connections = ConnectionLog()
    bus = Bus(settings, client_id="tls-refused", root=root, response_timeout_s=1, **FAST_RETRY)
    bus.on_connection(connections)
    async with bus:
        await eventually(lambda: connections.states == [False])
    reason = connections.changes[0].reason
    assert reason is not None
    return reason


async def test_the_room_ca_verifies_the_broker(
    tls_broker: Mosquitto, certificates: Certificates
) -> None:
    settings = tls_settings(tls_broker, SERVER_NAME, TlsSettings(ca_file="ca.pem"))
    async with Bus(settings, client_id="tls", root=certificates.folder) as bus:
        await assert_roundtrip(bus)


async def test_a_broker_signed_by_an_unknown_ca_is_refused(
    tls_broker: Mosquitto, certificates: Certificates
) -> None:
    settings = tls_settings(tls_broker, SERVER_NAME, TlsSettings())
    reason = await first_failure(settings, certificates.folder)
    assert "certificate verify failed" in reason


async def test_a_certificate_for_another_name_is_refused(
    tls_broker: Mosquitto, certificates: Certificates
) -> None:
    settings = tls_settings(tls_broker, "127.0.0.1", TlsSettings(ca_file="ca.pem"))
    reason = await first_failure(settings, certificates.folder)
    assert "mismatch" in reason


async def test_insecure_accepts_a_certificate_for_another_name(
    tls_broker: Mosquitto, certificates: Certificates
) -> None:
    settings = tls_settings(tls_broker, "127.0.0.1", TlsSettings(ca_file="ca.pem", insecure=True))
    async with Bus(settings, client_id="tls-insecure", root=certificates.folder) as bus:
        await assert_roundtrip(bus)


async def test_a_client_certificate_opens_a_broker_that_requires_one(
    certificates: Certificates, tmp_path: Path
) -> None:
    broker = tls_mosquitto(tmp_path, certificates, extra="require_certificate true\n")
    broker.start()
    try:
        with_cert = TlsSettings(ca_file="ca.pem", cert_file="client.pem", key_file="client.key")
        settings = tls_settings(broker, SERVER_NAME, with_cert)
        async with Bus(settings, client_id="tls-client-cert", root=certificates.folder) as bus:
            await assert_roundtrip(bus)
        without_cert = tls_settings(broker, SERVER_NAME, TlsSettings(ca_file="ca.pem"))
        # TLS 1.3 refuses the missing certificate after the handshake, before CONNACK (paho
        # logs the SSL alert); aiomqtt would notice only when the response timeout expired.
        reason = await first_failure(without_cert, certificates.folder)
        assert reason.startswith("the broker closed the connection before answering")
    finally:
        broker.stop()
