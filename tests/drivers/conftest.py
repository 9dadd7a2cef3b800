"""The brokers the driver contract tests run against: Mosquitto, and the embedded amqtt broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from controller.broker.embedded import EmbeddedBroker
from tests.drivers.broker import Broker
from tests.support.mosquitto import Mosquitto


@pytest.fixture(params=["mosquitto", "embedded"])
async def broker(request: pytest.FixtureRequest, mosquitto: Mosquitto) -> AsyncIterator[Broker]:
    if request.param == "mosquitto":
        yield mosquitto
        return
    async with EmbeddedBroker(port=0) as embedded:
        yield embedded
