"""Which handlers a received message goes to: every handler whose topic filter matches."""

from __future__ import annotations

from controller.bus.messages import Handler
from controller.bus.topics import check_filter, topic_matches


class Routes:
    """Topic filters and their handlers, in the order they were added."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._wildcards: list[str] = []
        """The filters with + or #; exact topics are found in `_handlers` directly."""

    def add(self, topic_filter: str, handler: Handler) -> bool:
        """Route `topic_filter` to `handler`; say whether the filter is new (needs subscribing)."""
        check_filter(topic_filter)
        handlers = self._handlers.setdefault(topic_filter, [])
        handlers.append(handler)
        new = len(handlers) == 1
        if new and ("+" in topic_filter or "#" in topic_filter):
            self._wildcards.append(topic_filter)
        return new

    def filters(self) -> list[str]:
        """Every filter that has a handler."""
        return list(self._handlers)

    def filters_for(self, topic: str) -> list[str]:
        """The filters matching `topic`, in the order they were added.

        Exact filters are a dict lookup and only the wildcard filters are matched, so a room
        of hundreds of devices routes each message in constant time.
        """
        matched = [f for f in self._wildcards if topic_matches(f, topic)]
        if topic in self._handlers:
            matched.append(topic)
        if len(matched) > 1:
            position = {topic_filter: n for n, topic_filter in enumerate(self._handlers)}
            matched.sort(key=position.__getitem__)
        return matched

    def handlers_for(self, topic: str) -> list[Handler]:
        """The handlers a message on `topic` goes to; none when no filter matches."""
        return [h for topic_filter in self.filters_for(topic) for h in self._handlers[topic_filter]]
