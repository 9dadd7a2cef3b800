"""Skip a test for lack of a real part (Mosquitto, libvlc) locally; fail instead when CI is set."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def missing(what: str, install_hint: str) -> NoReturn:
    """Skip outside CI; in CI a missing real part is a failure, never a silent skip."""
    message = f"{what} is not available ({install_hint})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must install it", pytrace=False)
    pytest.skip(message)


def mosquitto_binary() -> str:
    path = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )
    if path is None:
        missing("Mosquitto", "apt-get install mosquitto")
    return path


def require_libvlc() -> None:
    try:
        import vlc

        instance = vlc.Instance("--aout=dummy", "--no-video", "--quiet")
    except (ImportError, OSError, NameError, AttributeError):
        instance = None
    if instance is None:
        missing("libvlc", "apt-get install libvlc5 vlc-plugin-base")
    instance.release()
