"""A sign-in form whose password is no text UTF-8 can hold is a wrong password, answered as
one (after the usual pause), never a server fault with a traceback in the log.

The server is the real `ConsoleServer` on a loopback port, reached with aiohttp's client.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest

from tests.console.test_console_web_access import options, serving


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # UTF-7 spells a lone surrogate (U+D800), which aiohttp decodes as it is told
        (b"password=+2AA-", "application/x-www-form-urlencoded; charset=utf-7"),
        (
            b'--b\r\nContent-Disposition: form-data; name="password"\r\n'
            b"Content-Type: text/plain; charset=utf-7\r\n\r\n+2AA-\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
    ],
    ids=["urlencoded", "multipart"],
)
async def test_a_password_holding_a_lone_surrogate_is_a_wrong_password(
    body: bytes, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    given = options()
    caplog.set_level(logging.ERROR)
    async with serving(given) as base, aiohttp.ClientSession() as client:
        answer = await client.post(
            f"{base}/signin",
            data=body,
            headers={"Origin": base, "Content-Type": content_type},
            allow_redirects=False,
        )
        text = await answer.text()
    assert answer.status in (400, 401), f"{answer.status}: {text[:200]}"
    assert not [record for record in caplog.records if record.exc_info], caplog.text
