"""How long to wait before the next connection attempt: doubling up to a cap, with jitter."""

from __future__ import annotations

MAX_DOUBLINGS = 64


def retry_delay(failures: int, *, first_s: float, max_s: float, jitter: float) -> float:
    """The wait after `failures` failed attempts in a row (0 after a connection was lost).

    The delay doubles from `first_s` up to `max_s`; `jitter` (0 to 1, a random draw) shortens
    it by up to half, so clients that lost the same broker do not all return at once.
    """
    ceiling = min(max_s, first_s * 2.0 ** min(failures, MAX_DOUBLINGS))
    return ceiling * (1.0 - jitter / 2.0)
