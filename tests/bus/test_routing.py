"""Messages are routed to the handlers of every matching filter; unmatched messages go nowhere."""

from __future__ import annotations

from controller.bus.messages import Message
from controller.bus.routing import Routes


def lamp_handler(message: Message) -> None: ...


def lamp_logger(message: Message) -> None: ...


def everything_handler(message: Message) -> None: ...


def test_a_topic_goes_to_the_handlers_of_every_matching_filter_by_filter() -> None:
    routes = Routes()
    routes.add("zigbee2mqtt/lamp", lamp_handler)
    routes.add("zigbee2mqtt/#", everything_handler)
    routes.add("zigbee2mqtt/lamp", lamp_logger)
    assert routes.handlers_for("zigbee2mqtt/lamp") == [
        lamp_handler,
        lamp_logger,
        everything_handler,
    ]
    assert routes.handlers_for("zigbee2mqtt/desk") == [everything_handler]


def test_a_topic_no_filter_matches_has_no_handler() -> None:
    """Such a message is dropped: the embedded amqtt broker may deliver topics never subscribed."""
    routes = Routes()
    routes.add("vr/+/state", lamp_handler)
    assert routes.handlers_for("vr/headset/availability") == []
    assert routes.handlers_for("sessionroom/room-a/status") == []


def test_only_a_new_filter_needs_subscribing() -> None:
    routes = Routes()
    assert routes.add("bls/+/state", lamp_handler) is True
    assert routes.add("bls/+/state", lamp_logger) is False
    assert routes.add("bls/+/availability", lamp_logger) is True
    assert routes.filters() == ["bls/+/state", "bls/+/availability"]
