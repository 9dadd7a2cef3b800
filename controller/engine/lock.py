"""One engine per room: an exclusive lock on `<data_dir>/<room>.lock` for as long as it runs.

The lock is `flock(2)` on an open file: the kernel releases it when the process ends, however
it ends (a crash or SIGKILL included), so a stale lock file never keeps a room from starting.
The file holds the pid of the engine that has it, for the message a second engine prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER_MODE = 0o700


class RoomBusy(Exception):  # noqa: N818 - a condition to report, not a program error
    """Another engine runs this room (it holds the room's lock)."""


def lock_path(data_dir: Path, room: str) -> Path:
    return Path(data_dir) / f"{room}.lock"


@contextlib.contextmanager
def room_lock(data_dir: Path, room: str) -> Iterator[None]:
    """Hold the room's lock inside the block; RoomBusy if another engine holds it.

    A data directory where no lock file can be made (read-only, missing permissions, a FIFO
    in its place) is logged and the room runs without the lock: the room itself must not
    fail to start. Nor does a full disk that refuses the pid written into a new lock file:
    the lock is held all the same.
    """
    path = lock_path(data_dir, room)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        path.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        descriptor = os.open(path, flags, 0o600)
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # a FIFO put there
            os.close(descriptor)
            raise OSError(f"{path} is not a plain file")
    except OSError as error:
        log.error("cannot make the room's lock %s (%s): running without it", path, error)
        yield
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
            raise RoomBusy(
                f"room {room} already has an engine running (pid {holder or 'unknown'}, "
                f"holding {path}); stop that one first"
            ) from None
        try:  # the pid is for a second engine's message only: a full disk may refuse it
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        except OSError as error:
            log.warning("cannot write this engine's pid into the room's lock %s: %s", path, error)
        yield
    finally:
        os.close(descriptor)
