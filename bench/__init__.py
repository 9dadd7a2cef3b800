"""Benchmarks: `python -m bench` prints figures and ratios to a baseline measured in the same run."""
