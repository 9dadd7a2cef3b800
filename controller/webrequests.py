"""What the web servers a browser reaches (the console, the displays) do with requests no
browser sends: a malformed request is answered 400 and logged in one short line, at most
one line a second however many come (anyone who reaches the port can send them as fast as
they like), and a websocket handshake aiohttp cannot read is answered 400, not 500.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

BAD_REQUEST_LOG_GAP_S = 1.0
"""Malformed requests are logged at most once this often (with how many were not)."""


class BadRequestsInOneLine(logging.Filter):
    """aiohttp logs a malformed request (a header over 8 KiB, a broken request line, a body
    that is not the gzip it says) as an error with its traceback: this makes its record one
    warning line with the reason, and
    passes over the ones that come within `BAD_REQUEST_LOG_GAP_S` of the last one logged
    (the next line says how many)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._next_at = -math.inf
        self._passed_over = 0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError | RequestPayloadError):
            return True
        now = self.clock()
        if now < self._next_at:
            self._passed_over += 1
            return False
        self._next_at = now + BAD_REQUEST_LOG_GAP_S
        message = error.message if isinstance(error, HttpProcessingError) else error
        reason = (str(message).splitlines() or [""])[0][:80]
        code = getattr(error, "code", 400)
        record.msg, record.args = "%s: %s (%s)", (record.getMessage(), code, reason)
        if self._passed_over:
            record.msg += "; %d more not logged"
            record.args += (self._passed_over,)
            self._passed_over = 0
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def http_logger(name: str) -> logging.Logger:
    """The logger `name` for a web server's own faults, with `BadRequestsInOneLine` on it."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, BadRequestsInOneLine) for f in logger.filters):
        logger.addFilter(BadRequestsInOneLine())
    return logger


async def open_websocket(socket: web.WebSocketResponse, request: web.Request) -> None:
    """Prepare `socket` for `request`; a handshake aiohttp cannot read (a key that is not
    ASCII, which it raises ValueError for rather than its 400) is answered 400."""
    try:
        await socket.prepare(request)
    except ValueError:
        raise web.HTTPBadRequest(text="not a websocket handshake") from None
