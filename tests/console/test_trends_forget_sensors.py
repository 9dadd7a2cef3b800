"""The vitals trends keep the sensors of the state shown, not every sensor any state named:
states that each name new sensors (another client writing the room's state) grew the
console's memory without bound."""

from __future__ import annotations

from controller.api.state import VitalsInfo
from controller.console.trends import VitalsTrends


def test_the_trends_forget_a_sensor_the_state_no_longer_has() -> None:
    trends = VitalsTrends()
    for state in range(200):
        trends.add({f"sensor-{state}-{i}": VitalsInfo(hr=60 + i) for i in range(50)})

    kept = {sensor for sensor, _ in trends._series}

    assert kept == {f"sensor-199-{i}" for i in range(50)}
    assert set(trends._last_reading) == kept


def test_the_trend_of_a_sensor_the_state_still_has_goes_on() -> None:
    trends = VitalsTrends()
    for hr in (60, 62, 64):
        trends.add({"oximeter": VitalsInfo(hr=hr), f"other-{hr}": VitalsInfo(hr=hr)})

    assert trends.series("oximeter", "hr") == (60.0, 62.0, 64.0)
