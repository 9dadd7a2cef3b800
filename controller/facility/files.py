"""The facility's secret files: private from their first byte, and kept private.

A secret written with `write_text` and then `chmod` is readable by everyone for a moment
(the umask's 0644), and one that exists already keeps whatever mode it has; so secrets are
created with mode 0600 (and an existing file is set to 0600 before it is written), and a
secret `facility init` keeps (a password, the CA's key) is set back to 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

SECRET_MODE = 0o600
FOLDER_MODE = 0o700


def write_secret(path: Path, data: bytes) -> None:
    """Write `data` to `path`, readable by its owner only, never by anyone else meanwhile."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, SECRET_MODE)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), SECRET_MODE)
        file.write(data)


def keep_secret(path: Path) -> None:
    """Make an existing secret readable by its owner only."""
    path.chmod(SECRET_MODE)


def private_folder(path: Path) -> None:
    """Make `path` (made with its parents when missing) a folder only its owner may enter."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(FOLDER_MODE)
