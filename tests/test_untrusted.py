"""The untrusted JSON reader skips its walk of a parsed value only where the walk cannot refuse."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.untrusted import MAX_DEPTH, UntrustedJsonError, _check_tree, _may_hold_refused

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=12,
)
texts = (
    values.map(json.dumps)
    | values.map(lambda value: json.dumps(value, ensure_ascii=False))
    | st.integers(1, 40).map(lambda depth: "[" * depth + "]" * depth)
    | st.integers(1, 40).map(lambda depth: '{"a":' * depth + "1" + "}" * depth)
    | st.text(st.sampled_from('[]{}"\\ud8ab0:,'), max_size=40)
)


@settings(max_examples=500, deadline=None)
@given(text=texts)
def test_a_text_not_walked_never_parses_to_a_value_the_walk_refuses(text: str) -> None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return
    if not _may_hold_refused(text):
        _check_tree(value)  # raises UntrustedJsonError if the shortcut was wrong


def test_a_command_is_not_walked_but_a_lone_surrogate_or_deep_nesting_is() -> None:
    assert not _may_hold_refused('{"id":"a1","action":"lights","device":"ceiling","level":0.5}')
    for text in ('"calm \\ud800"', '"calm \ud800"', "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)):
        assert _may_hold_refused(text)
        try:
            _check_tree(json.loads(text))
        except UntrustedJsonError:
            continue
        raise AssertionError(f"the walk let {text!r} through")
