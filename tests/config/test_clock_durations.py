"""A duration written as a clock (`1:30:00`, `25:30`) takes minutes and seconds below 60 only:
`1:75:00` and `0:90` are typing errors, and were read as 2h15m and 1m30s without a word."""

from __future__ import annotations

import pytest

from controller.config.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1:30:00", 5400.0), ("0:59:59.5", 3599.5), ("25:30", 1530.0), ("90:00", 5400.0)],
)
def test_a_clock_with_minutes_and_seconds_below_60_is_read(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1:75:00", "1:30:60", "0:90", "1:99:99", "-0:00:61"])
def test_a_clock_with_minutes_or_seconds_of_60_or_more_is_no_duration(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)
