"""The MCAP writer's second part: a part shorter than its account is refused, not joined."""

from __future__ import annotations

import io

import pytest

from controller.research.mcap_file import McapFile


def test_a_part_shorter_than_its_account_is_an_error_that_says_so() -> None:
    writer = McapFile(io.BytesIO())
    writer.start(profile="", library="test")
    account = {"length": 10, "schemas": [], "channels": [], "chunks": [], "counts": {}, "times": []}
    with pytest.raises(OSError) as refused:
        writer.append_part(io.BytesIO(b"cut"), account)
    assert refused.value.strerror == "its second half is 3 bytes, not 10"
