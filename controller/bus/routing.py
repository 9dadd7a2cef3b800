"""Which handlers a received message goes to: every handler whose topic filter matches."""

from __future__ import annotations

from controller.bus.messages import Handler
from controller.bus.topics import check_filter, topic_matches


class Routes:
    """Topic filters and their handlers, in the order they were added."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def add(self, topic_filter: str, handler: Handler) -> bool:
        """Route `topic_filter` to `handler`; say whether the filter is new (needs subscribing)."""
        check_filter(topic_filter)
        handlers = self._handlers.setdefault(topic_filter, [])
        handlers.append(handler)
        return len(handlers) == 1

    def filters(self) -> list[str]:
        """Every filter that has a handler."""
        return list(self._handlers)

    def handlers_for(self, topic: str) -> list[Handler]:
        """The handlers a message on `topic` goes to; none when no filter matches."""
        return [
            handler
            for topic_filter, handlers in self._handlers.items()
            if topic_matches(topic_filter, topic)
            for handler in handlers
        ]
