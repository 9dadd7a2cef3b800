"""Measured figures beside their baselines: percentiles, ratios, targets, and the printed table."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The `fraction` (0–1) percentile of `samples`, interpolated between the nearest ranks."""
    if not samples:
        raise ValueError("no samples to take a percentile of")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Target:
    """What a figure should reach, e.g. "ratio ≤ 3" or "value < 5 ms", and whether it did."""

    text: str
    met: Callable[[float, float | None], bool]
    """Called with (value, ratio)."""

    @classmethod
    def ratio_at_most(cls, limit: float) -> Target:
        return cls(
            f"ratio ≤ {limit:g}×", lambda _value, ratio: ratio is not None and ratio <= limit
        )

    @classmethod
    def value_below(cls, limit: float, unit: str) -> Target:
        return cls(f"< {limit:g} {unit}", lambda value, _ratio: value < limit)

    @classmethod
    def value_at_most(cls, limit: float, unit: str) -> Target:
        return cls(f"≤ {limit:g} {unit}", lambda value, _ratio: value <= limit)


@dataclass(frozen=True)
class Figure:
    """One line of the table: a measured value, the baseline of the same run, and the target."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: Target | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "—"
        return "PASS" if self.target.met(self.value, self.ratio) else "MISS"


def amount(value: float, unit: str) -> str:
    """A value with its unit, to three significant digits (thousands grouped)."""
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def table(figures: Sequence[Figure]) -> str:
    """The figures as an aligned text table with a header."""
    header = ("figure", "value", "baseline", "ratio", "target", "result")
    rows = [header]
    for figure in figures:
        baseline = "—" if figure.baseline is None else amount(figure.baseline, figure.unit)
        if figure.baseline_label:
            baseline = f"{baseline} ({figure.baseline_label})"
        ratio = "—" if figure.ratio is None else f"{figure.ratio:.2f}×"
        rows.append(
            (
                figure.name,
                amount(figure.value, figure.unit),
                baseline,
                ratio,
                figure.target.text if figure.target else "—",
                figure.verdict,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
