"""Benchmarks: `python -m bench` prints figures and ratios to a baseline of the same run."""
