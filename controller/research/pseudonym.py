"""Participant codes for exports: BIDS-safe labels, or keyed pseudonyms (HMAC-SHA256).

A BIDS label is letters and digits only (`sub-<label>`, BIDS common principles,
"entities"). `bids_label` keeps letters and digits other than `x` as they are and writes
every other character as `x` and its UTF-8 bytes in hex (`P-014` → `Px2d014`, `x` →
`x78`), so two different codes never share a label (`P014` stays `P014`).
`--pseudonymise KEYFILE` replaces each participant code by the first
`PSEUDONYM_LENGTH` hex digits of HMAC-SHA256(key, code): the same code and key always give
the same label, so a study's sessions still line up, while without the key (kept outside
the system, docs/safety.md privacy row) the label cannot be traced back to the code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from controller.config.yamlsource import NotRegularFileError, RoomFileTooLargeError, read_room_file
from controller.journal import Event, SessionMeta

PSEUDONYM_LENGTH = 12
"""Hex digits kept of the HMAC: 48 bits, so two codes of one study never meet by chance."""
MIN_KEY_BYTES = 16
MAX_KEY_FILE_BYTES = 4096
"""A key file holds one short secret: a larger file is the wrong one (or never ends, as
/dev/zero), never read whole."""
LABEL_ESCAPE = "x"
"""Starts the hex of a character a BIDS label cannot hold (and of itself)."""
ESCAPED = re.compile(r"[^A-Za-wyz0-9]+")
LABEL_MAX = 64
"""Characters of a label at most (a BIDS file name holds two or three labels)."""


class PseudonymKeyError(Exception):
    """The key file cannot be read or is too short to be a secret."""


def read_key(path: Path) -> bytes:
    """The secret in `path` (surrounding whitespace ignored); PseudonymKeyError if unusable."""
    try:  # as a room file is read: a FIFO or a device in its place waits for nothing
        content = read_room_file(path, MAX_KEY_FILE_BYTES)
    except RoomFileTooLargeError:
        raise PseudonymKeyError(
            f"the key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes: a key file holds "
            "one short secret (is it the right file?)"
        ) from None
    except NotRegularFileError:
        raise PseudonymKeyError(
            f"the key file {path} is no plain file (a FIFO, a device or a folder)"
        ) from None
    except OSError as error:
        raise PseudonymKeyError(f"cannot read the key file {path}: {error.strerror}") from None
    key = content.strip()
    if len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"the key in {path} is {len(key)} bytes; a key needs at least {MIN_KEY_BYTES} "
            "(e.g. `head -c 32 /dev/urandom | base64 > KEYFILE`)"
        )
    return key


def keyed_pseudonym(code: str, key: bytes) -> str:
    """The keyed pseudonym of participant `code`: lower-case hex, BIDS-label-safe (a lone
    surrogate, which a payload's JSON may spell, hashed as its own bytes)."""
    digest = hmac.new(key, code.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_LENGTH]


def bids_label(text: str) -> str:
    """`text` as a BIDS label, one to one (see the module doc): `P-014` → `Px2d014`.

    A label longer than `LABEL_MAX` (file names have a limit) keeps its start and ends in
    `xz` and a hash of the whole text: no escaped label holds `xz`, so it meets no other.
    """
    label = ESCAPED.sub(_escape, text)
    if len(label) > LABEL_MAX:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{label[: LABEL_MAX - 18]}{LABEL_ESCAPE}z{digest[:16]}"
    return label or LABEL_ESCAPE  # never the label of any other text


def _escape(match: re.Match[str]) -> str:
    raw = match.group().encode("utf-8", "surrogatepass")
    return "".join(f"{LABEL_ESCAPE}{byte:02x}" for byte in raw)


Renamer = Callable[[str], str]
"""Turns a participant code into what an export shows instead."""


def pseudonymiser(key: bytes | None) -> Renamer:
    """Participant code → keyed pseudonym, or the code itself without a key."""
    if key is None:
        return lambda code: code
    return lambda code: keyed_pseudonym(code, key)


def renamed_meta(meta: SessionMeta, rename: Renamer) -> SessionMeta:
    return dataclasses.replace(meta, participant=rename(meta.participant))


def renamed_events(events: Iterable[Event], rename: Renamer) -> Iterator[Event]:
    """The events with every `participant` in a payload renamed (session start, operator start)."""
    for event in events:
        payload = event.payload
        if isinstance(payload, dict) and isinstance(payload.get("participant"), str):
            payload = {**payload, "participant": rename(payload["participant"])}
            event = dataclasses.replace(event, payload=payload)
        yield event
