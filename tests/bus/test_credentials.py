"""Broker credentials come from files named in the settings; unusable files are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.bus import BusConfigError
from controller.bus.credentials import connection_parameters
from controller.config.settings import BrokerSettings, TlsSettings


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
