"""A browser console with a public URL naming another machine (a proxy or a name in front of
it) is reached from the network, whatever address it is bound to: it needs a password file,
as one bound beyond loopback does. Without one, a proxy that forwards to 127.0.0.1 (nginx
names the address it forwards to as the Host, by default) served the room's console to
anyone who could reach the proxy, with no sign-in."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.mosquitto import free_port
from tests.support.room import sessionroom


@pytest.mark.parametrize("public", ["https://room-a.clinic.example:9443", "http://192.0.2.7:8765"])
def test_a_console_with_a_public_url_beyond_loopback_needs_a_password_file(public: str) -> None:
    try:
        result = sessionroom(
            "console", "--web", "--port", str(free_port()), "--public-url", public,
            "--broker", "mqtt://127.0.0.1:1",
            timeout=10,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("the console was served to the public URL without a password")
    assert result.returncode == 2, result.stderr
    assert "give --password-file" in result.stderr
