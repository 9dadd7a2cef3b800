"""Topic filters match topics as MQTT 3.1.1 section 4.7 says; bad topics and filters are refused."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.bus.topics import check_filter, check_topic, topic_matches


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("zigbee2mqtt/lamp", "zigbee2mqtt/lamp", True),
        ("zigbee2mqtt/lamp", "zigbee2mqtt/lamp/set", False),
        ("zigbee2mqtt/+", "zigbee2mqtt/lamp", True),
        ("zigbee2mqtt/+", "zigbee2mqtt/lamp/availability", False),
        ("zigbee2mqtt/+/availability", "zigbee2mqtt/lamp/availability", True),
        ("zigbee2mqtt/#", "zigbee2mqtt", True),
        ("zigbee2mqtt/#", "zigbee2mqtt/lamp/availability", True),
        ("zigbee2mqtt/#", "zigbee2mqttx/lamp", False),
        ("+/+", "/finance", True),
        ("+", "/finance", False),
        ("#", "any/topic/at/all", True),
        ("#", "$SYS/broker/uptime", False),
        ("+/broker/uptime", "$SYS/broker/uptime", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
        ("tele/+/LWT", "tele/desk/LWT", True),
        ("tele/+/LWT", "tele/desk/STATE", False),
    ],
)
def test_filter_matching(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


levels = st.lists(st.text(st.characters(blacklist_characters="/+#\0$"), max_size=4), min_size=1)


@settings(max_examples=200, deadline=None)
@given(levels)
def test_a_topic_matches_itself_and_the_catch_all(topic_levels: list[str]) -> None:
    topic = "/".join(topic_levels)
    assert topic_matches(topic, topic)
    assert topic_matches("#", topic)
    assert topic_matches("/".join("+" for _ in topic_levels), topic)


@settings(max_examples=200, deadline=None)
@given(levels, st.data())
def test_a_prefix_with_hash_matches_every_deeper_topic(
    topic_levels: list[str], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(topic_levels) - 1))
    prefix = "/".join([*topic_levels[:cut], "#"])
    assert topic_matches(prefix, "/".join(topic_levels))


@pytest.mark.parametrize(
    ("topic", "problem"),
    [("", "empty"), ("room/+/cmd", "wildcard"), ("room/#", "wildcard"), ("a\0b", "NUL")],
)
def test_bad_topics_are_refused(topic: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_topic(topic)


@pytest.mark.parametrize(
    ("topic_filter", "problem"),
    [
        ("", "empty"),
        ("room/#/cmd", "'#' must be a whole level and the last one"),
        ("room/a#", "'#' must be a whole level"),
        ("room/a+", "'+' must be a whole level"),
    ],
)
def test_bad_filters_are_refused(topic_filter: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        check_filter(topic_filter)


@pytest.mark.parametrize("topic_filter", ["#", "+", "room/+/cmd", "room/#", "/", "$SYS/#"])
def test_good_filters_are_accepted(topic_filter: str) -> None:
    check_filter(topic_filter)
