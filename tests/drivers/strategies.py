"""Hypothesis strategies the driver fuzz tests share: JSON scalars and nested JSON values."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def scalars(*more: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """JSON scalars, with integers far beyond a float's range, NaN, infinities and `more`."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(10**400), max_value=10**400),
        st.floats(),
        st.text(max_size=12),
        *more,
    )


def json_values(leaves: st.SearchStrategy[Any], keys: list[str]) -> st.SearchStrategy[Any]:
    """Nested JSON arrays and objects of `leaves`, with object keys mostly from `keys`."""
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=12,
    )
