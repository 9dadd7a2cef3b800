"""Files that exports and reports write: owner-only, and whole or not at all.

Every file is first written to a temporary file created exclusively next to its target
(`tempfile.mkstemp`: `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600, a fresh random name, so a
planted file or symlink is never written through) and renamed over the target only once
it is complete. The target therefore always ends up 0600, whatever mode an older file of
that name had, and a failed write leaves the older file as it was. A folder is built the
same way (`private_folder`): in a temporary folder beside it, renamed at the end.

An SQLite database in the way is never replaced: it is most likely a session journal
given as the output by mistake, and the export would be all that is left of it. Nor is an
SQLite log beside one (`<journal>-wal`, `<journal>-journal`): a session whose engine stopped
without closing its journal keeps its newest events in the write-ahead log, and a file
written over it lost them and left the journal unreadable.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO, TypeVar

FILE_MODE = 0o600
SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_LOG_HEADERS = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83", b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7")
"""How a write-ahead log (either byte order of its checksums) and a rollback journal begin."""

Written = TypeVar("Written")


def write_private_bytes(target: Path, content: bytes) -> None:
    """Write `content` to `target` (mode 0600) through an exclusive temporary file."""
    write_private(target, lambda out: out.write(content))


def write_private_text(target: Path, write: Callable[[TextIO], Written]) -> Written:
    """Let `write` fill `target` as UTF-8 text (mode 0600); return what it returns. A lone
    surrogate, which UTF-8 cannot hold, is written as `\\ud800`."""

    def as_text(out: BinaryIO) -> Written:
        with open(
            out.fileno(),
            "w",
            encoding="utf-8",
            errors="backslashreplace",
            newline="",
            closefd=False,
        ) as text:
            result = write(text)
        return result

    return write_private(target, as_text)


def write_private(target: Path, write: Callable[[BinaryIO], Written]) -> Written:
    """Let `write` fill `target` (mode 0600) via an exclusive temporary file; return its result.

    On any failure the temporary file is removed and `target` is left as it was; an SQLite
    database at `target` is an OSError before anything is written.
    """
    _refuse_database(target)
    descriptor, name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".partial"
    )
    temporary = Path(name)
    try:
        os.fchmod(descriptor, FILE_MODE)
        with open(descriptor, "wb") as out:
            result = write(out)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return result


def _refuse_database(target: Path) -> None:
    if not target.is_file():  # nothing, a folder, a device or a pipe: never read from
        return
    try:
        with open(target, "rb") as existing:
            header = existing.read(len(SQLITE_HEADER))
    except OSError:
        return
    if header == SQLITE_HEADER:
        raise FileExistsError(
            errno.EEXIST,
            "it is an SQLite database (a session journal?); an export never replaces one",
            str(target),
        )
    if header.startswith(SQLITE_LOG_HEADERS):
        raise FileExistsError(
            errno.EEXIST,
            "it is an SQLite log (a session journal's newest events?); an export never "
            "replaces one",
            str(target),
        )


@contextlib.contextmanager
def staging_folder(beside: Path) -> Iterator[Path]:
    """A new owner-only temporary folder next to `beside`, removed afterwards whatever happens."""
    beside.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=beside.parent, prefix=f".{beside.name}.", suffix=".partial"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def move_into(staged: Path, target: Path) -> None:
    """Move every file of the folder `staged` to the same place under `target`.

    A `target` that does not exist yet is `staged` renamed (one step); otherwise each
    staged file replaces its namesake, and files of `target` that were not staged stay.
    """
    if not target.exists():
        os.rename(staged, target)
        return
    for folder, _, files in os.walk(staged):
        relative = Path(folder).relative_to(staged)
        (target / relative).mkdir(mode=0o700, exist_ok=True)
        for name in files:
            os.replace(Path(folder) / name, target / relative / name)
