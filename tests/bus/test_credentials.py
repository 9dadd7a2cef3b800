"""Broker credentials come from files named in the settings; unusable files are clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.bus.credentials import MAX_PASSWORD_BYTES, BusConfigError, connection_parameters
from controller.config.settings import BrokerSettings, TlsSettings
from tests.support.fifo import raised_without_waiting


def test_the_password_is_read_from_a_file_relative_to_the_room(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "mqtt.txt").write_text("s3cret\n")
    settings = BrokerSettings(username="engine", password_file="secrets/mqtt.txt")
    parameters = connection_parameters(settings, tmp_path)
    assert (parameters.username, parameters.password) == ("engine", "s3cret")


def test_a_missing_password_file_names_the_file(tmp_path: Path) -> None:
    settings = BrokerSettings(username="engine", password_file="nowhere.txt")
    with pytest.raises(BusConfigError, match=f"password_file {tmp_path}/nowhere.txt: No such file"):
        connection_parameters(settings, tmp_path)


def test_an_empty_password_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("\n")
    settings = BrokerSettings(username="engine", password_file="empty.txt")
    with pytest.raises(BusConfigError, match="is empty"):
        connection_parameters(settings, tmp_path)


def test_a_password_file_without_a_username_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BusConfigError, match="username is not"):
        connection_parameters(BrokerSettings(password_file="p.txt"), tmp_path)


def test_a_missing_ca_file_names_the_file(tmp_path: Path) -> None:
    settings = BrokerSettings(tls=TlsSettings(ca_file="certs/ca.pem"))
    with pytest.raises(BusConfigError, match=f"ca_file {tmp_path}/certs/ca.pem: No such file"):
        connection_parameters(settings, tmp_path)


def test_a_ca_file_that_is_not_a_certificate_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    settings = BrokerSettings(tls=TlsSettings(ca_file="ca.pem"))
    with pytest.raises(BusConfigError, match="ca_file"):
        connection_parameters(settings, tmp_path)


def test_a_key_file_without_a_cert_file_is_an_error(tmp_path: Path) -> None:
    settings = BrokerSettings(tls=TlsSettings(key_file="client.key"))
    with pytest.raises(BusConfigError, match="cert_file is not"):
        connection_parameters(settings, tmp_path)


def test_tls_without_a_ca_file_uses_the_system_store_and_checks_hostnames(tmp_path: Path) -> None:
    parameters = connection_parameters(BrokerSettings(tls=TlsSettings()), tmp_path)
    assert parameters.tls_context is not None
    assert parameters.tls_context.check_hostname


def test_insecure_tls_skips_only_the_hostname_check(tmp_path: Path) -> None:
    parameters = connection_parameters(BrokerSettings(tls=TlsSettings(insecure=True)), tmp_path)
    assert parameters.tls_context is not None
    assert not parameters.tls_context.check_hostname
    assert parameters.tls_context.verify_mode.name == "CERT_REQUIRED"


def test_plain_settings_need_no_files(tmp_path: Path) -> None:
    parameters = connection_parameters(BrokerSettings(host="10.0.0.5", port=1884), tmp_path)
    assert (parameters.host, parameters.port, parameters.keepalive_s) == ("10.0.0.5", 1884, 30)
    assert parameters.password is None and parameters.tls_context is None


def refused_at_once(settings: BrokerSettings, root: Path, fifo: Path) -> str:
    """The BusConfigError's message for `settings`, which name `fifo`, given without waiting."""
    error = raised_without_waiting(lambda: connection_parameters(settings, root), fifo)
    assert isinstance(error, BusConfigError), error
    return str(error)


def test_a_password_file_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "password")
    settings = BrokerSettings(username="engine", password_file="password")
    message = refused_at_once(settings, tmp_path, tmp_path / "password")
    assert f"password_file {tmp_path}/password: not a regular file" in message


def test_a_password_file_linked_to_an_endless_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "password").symlink_to("/dev/zero")
    settings = BrokerSettings(username="engine", password_file="password")
    with pytest.raises(BusConfigError, match="not a regular file"):
        connection_parameters(settings, tmp_path)


def test_a_password_file_past_its_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("x" * (MAX_PASSWORD_BYTES + 1))
    settings = BrokerSettings(username="engine", password_file="password")
    with pytest.raises(BusConfigError, match=f"larger than {MAX_PASSWORD_BYTES} bytes"):
        connection_parameters(settings, tmp_path)


@pytest.mark.parametrize("field", ["ca_file", "cert_file"])
def test_a_tls_file_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path, field: str) -> None:
    os.mkfifo(tmp_path / "tls.pem")
    settings = BrokerSettings(tls=TlsSettings.model_validate({field: "tls.pem"}))
    message = refused_at_once(settings, tmp_path, tmp_path / "tls.pem")
    assert f"{field} {tmp_path}/tls.pem: not a regular file" in message
