"""The embedded MQTT broker (amqtt), run inside the engine's process."""

from controller.broker.embedded import EmbeddedBroker, EmbeddedBrokerError

__all__ = ["EmbeddedBroker", "EmbeddedBrokerError"]
