"""Passwords for the facility broker: new random ones, and Mosquitto 2.0's password-file hash.

Mosquitto 2.0 (`mosquitto_passwd`) stores `user:$7$<iterations>$<salt>$<hash>`: PBKDF2 with
HMAC-SHA512, 101 iterations, a 12-byte salt and a 64-byte hash, both in standard base64.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

ITERATIONS = 101
SALT_BYTES = 12
HASH_BYTES = 64


def new_password() -> str:
    """A random password (32 URL-safe characters, 192 bits)."""
    return secrets.token_urlsafe(24)


def password_hash(password: str, salt: bytes | None = None) -> str:
    """The `$7$...` entry Mosquitto 2.0 checks `password` against."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac(
        "sha512", password.encode("utf-8"), salt, ITERATIONS, dklen=HASH_BYTES
    )
    encoded_salt = base64.b64encode(salt).decode("ascii")
    encoded_hash = base64.b64encode(digest).decode("ascii")
    return f"$7${ITERATIONS}${encoded_salt}${encoded_hash}"


def password_file(logins: dict[str, str]) -> str:
    """A Mosquitto password file for `logins` (user name → password), one line each."""
    for username in logins:
        if not username or ":" in username or any(c.isspace() for c in username):
            raise ValueError(f"user name {username!r} cannot go in a Mosquitto password file")
    return "".join(f"{user}:{password_hash(password)}\n" for user, password in logins.items())
