"""Retry delays double from the first delay to the cap; jitter shortens them by up to half."""

from __future__ import annotations

import pytest

from controller.bus.backoff import retry_delay


@pytest.mark.parametrize(
    ("failures", "expected_s"),
    [(0, 0.2), (1, 0.4), (2, 0.8), (3, 1.6), (4, 3.2), (5, 5.0), (6, 5.0), (10_000, 5.0)],
)
def test_without_jitter_the_delay_doubles_up_to_the_cap(failures: int, expected_s: float) -> None:
    assert retry_delay(failures, first_s=0.2, max_s=5.0, jitter=0.0) == pytest.approx(expected_s)


def test_full_jitter_halves_the_delay() -> None:
    assert retry_delay(0, first_s=0.2, max_s=5.0, jitter=1.0) == pytest.approx(0.1)
    assert retry_delay(20, first_s=0.2, max_s=5.0, jitter=1.0) == pytest.approx(2.5)
