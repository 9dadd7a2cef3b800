"""MQTT topic names and topic filters: validation and wildcard matching (MQTT 3.1.1 section 4.7)."""

from __future__ import annotations

MAX_TOPIC_BYTES = 65535


def check_topic(topic: str) -> None:
    """Raise ValueError unless `topic` is a topic name one can publish to."""
    _check_common(topic, "topic")
    if "+" in topic or "#" in topic:
        raise ValueError(f"topic {topic!r} contains a wildcard (+ or #); publish to a plain topic")


def check_filter(topic_filter: str) -> None:
    """Raise ValueError unless `topic_filter` is a valid subscription filter."""
    _check_common(topic_filter, "topic filter")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(
                f"topic filter {topic_filter!r}: '#' must be a whole level and the last one"
            )
        if "+" in level and level != "+":
            raise ValueError(f"topic filter {topic_filter!r}: '+' must be a whole level")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether a message on `topic` matches the subscription `topic_filter`."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    topic_levels = topic.split("/")
    filter_levels = topic_filter.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels) or level not in ("+", topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)


def _check_common(value: str, what: str) -> None:
    if not value:
        raise ValueError(f"the {what} is empty")
    if "\0" in value:
        raise ValueError(f"{what} {value!r} contains a NUL character")
    if len(value.encode("utf-8")) > MAX_TOPIC_BYTES:
        raise ValueError(f"{what} is longer than {MAX_TOPIC_BYTES} bytes")
