"""Linear fades of numeric device channels, stepped on the engine's clock at a bounded rate.

A channel is one number of one device, keyed `(device_id, attribute)`, e.g.
`("floor-lamp", "level")` or `("music", "volume")`. The engine asks for a value
(`set`) or a fade (`fade_to`) and calls `tick(now)` regularly; each tick returns the
values to send now. A device whose driver fades natively needs no stepping; this engine
is for the ones that cannot (and for volume, which the safety gate lets rise only so fast).

Sending rules:

* a device gets at most `max_rate_hz` updates per second, all of its attributes together
  (two updates are at least `1 / max_rate_hz` s apart, give or take 1 ns of float
  rounding); an update carries every attribute of the device whose value changed;
* a value equal to the one last sent for that channel is never sent again;
* a finished fade always sends its exact target, at the first tick the budget allows
  (at most `1 / max_rate_hz` s after the fade's end).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ChannelKey = tuple[str, str]
"""`(device_id, attribute)`, e.g. `("floor-lamp", "level")`."""

DEFAULT_MAX_RATE_HZ = 4.0
"""Updates per second and device: Tasmota and friends cope with this without queueing."""

RATE_TOLERANCE_S = 1e-9
"""Float rounding allowed on the interval between two updates of a device."""


@dataclass
class _Channel:
    """Where a channel comes from and goes to; a held value is a fade of zero duration."""

    start_value: float
    target: float
    start_t: float
    duration_s: float
    sent: float | None = None

    def value(self, now: float) -> float:
        elapsed = now - self.start_t
        if elapsed >= self.duration_s:
            return self.target
        if elapsed <= 0:
            return self.start_value
        # Multiply before dividing, so fades between round numbers land on round numbers.
        return self.start_value + (self.target - self.start_value) * elapsed / self.duration_s


class FadeEngine:
    """Channels, their fades and the per-device update budget."""

    def __init__(self, *, max_rate_hz: float = DEFAULT_MAX_RATE_HZ) -> None:
        if not max_rate_hz > 0 or math.isinf(max_rate_hz):
            raise ValueError(f"max_rate_hz must be a finite number above 0, not {max_rate_hz!r}")
        self._interval_s = 1.0 / max_rate_hz
        self._channels: dict[ChannelKey, _Channel] = {}
        self._last_update: dict[str, float] = {}

    def set(self, key: ChannelKey, value: float, now: float, *, sent: bool = False) -> None:
        """Jump the channel to `value`, cancelling any fade; sent at the next tick allowed.

        `sent=True` records that the caller already sent it (e.g. as one message with the
        device's own transition), so `tick` does not send it again.
        """
        _require_finite("value", value)
        self._start(key, value, value, 0.0, now)
        if sent:
            self._channels[key].sent = value

    def fade_to(self, key: ChannelKey, target: float, duration_s: float, now: float) -> None:
        """Fade linearly from the channel's value at `now` to `target` over `duration_s`.

        A running fade is taken over from its current value, so nothing jumps. A duration
        of 0 is a jump. A channel never set before has nothing to fade from: it jumps.
        """
        _require_finite("target", target)
        if not duration_s >= 0 or math.isinf(duration_s):
            raise ValueError(
                f"fade duration for {key[0]}/{key[1]} must be a finite number of seconds ≥ 0, "
                f"not {duration_s!r}"
            )
        current = self.value(key, now)
        start_value = target if current is None else current
        self._start(key, start_value, target, duration_s, now)

    def value(self, key: ChannelKey, now: float) -> float | None:
        """The channel's value at `now` (mid-fade: interpolated), or None if it was never set."""
        channel = self._channels.get(key)
        return None if channel is None else channel.value(now)

    def course(self, key: ChannelKey) -> tuple[float, float] | None:
        """Where the channel goes and when it gets there (None if it was never set)."""
        channel = self._channels.get(key)
        return None if channel is None else (channel.target, channel.start_t + channel.duration_s)

    def is_fading(self, key: ChannelKey, now: float) -> bool:
        """Whether the channel is still on its way to its target at `now`."""
        channel = self._channels.get(key)
        return channel is not None and now - channel.start_t < channel.duration_s

    def pending(self, now: float) -> bool:
        """Whether a channel is fading, or has a value `tick` has not sent yet (the update
        budget held it back)."""
        return any(
            now - channel.start_t < channel.duration_s or channel.value(now) != channel.sent
            for channel in self._channels.values()
        )

    def tick(self, now: float) -> list[tuple[ChannelKey, float]]:
        """The values to send now: changed channels of the devices whose budget allows an update."""
        changed: dict[str, list[tuple[ChannelKey, float]]] = {}
        for key, channel in self._channels.items():
            current = channel.value(now)
            if current != channel.sent:
                changed.setdefault(key[0], []).append((key, current))
        updates: list[tuple[ChannelKey, float]] = []
        for device, values in changed.items():
            last = self._last_update.get(device)
            if last is not None and now - last < self._interval_s - RATE_TOLERANCE_S:
                continue
            self._last_update[device] = now
            for key, current in values:
                self._channels[key].sent = current
            updates.extend(values)
        return updates

    def _start(
        self, key: ChannelKey, start_value: float, target: float, duration_s: float, now: float
    ) -> None:
        previous = self._channels.get(key)
        sent = None if previous is None else previous.sent
        self._channels[key] = _Channel(start_value, target, now, duration_s, sent)


def _require_finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"a fade {name} must be a finite number, not {value!r}")
