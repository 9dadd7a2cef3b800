"""Random traffic through the safety gate, judged by a checker that shares no code with it.

The checker rebuilds what each device was actually sent from the values the gate let
through, in exact arithmetic (times in whole milliseconds, levels as fractions), and
checks docs/safety.md's rules as they read:

* no light flashes more than `max_flashes_per_s` times in any second: within any 1 s
  window there is no run of more than `2 × max_flashes_per_s` (at least 1) alternating
  brightness changes of 10 % or more whose darker end is below 80 %;
* volume never exceeds the cap, and never runs ahead of a steady ramp from any earlier
  level by more than half a second of ramp (the allowance the gate documents);
* BLS sets stay inside the speed range (for a light bar also under the flash rate), the
  set length limits, the tactile intensity maximum and the tone range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from controller.config.settings import SafetyLimits
from controller.engine.safety import BlsRequest, SafetyGate, Status, Verdict

LIGHTS = ("lamp", "strip")
SOUNDS = ("music", "tones")
BLS_DEVICES = ("tappers", "lightbar", "tones")
TOLERANCE = Fraction(1, 10**9)
RAMP_ALLOWANCE_S = Fraction(1, 2)
"""How far (in seconds of ramp) a rise may run ahead of a steady ramp, as documented."""

Points = list[tuple[int, Fraction]]


@dataclass(frozen=True)
class LightChange:
    device: str
    level: float
    transition_ms: int


@dataclass(frozen=True)
class VolumeChange:
    device: str
    level: float


@dataclass(frozen=True)
class BlsStart:
    device: str
    request: BlsRequest


Operation = LightChange | VolumeChange | BlsStart


@dataclass
class Traffic:
    """What went through the gate: the values it allowed, with their times in ms."""

    lights: dict[str, list[tuple[int, Fraction, int]]] = field(default_factory=dict)
    volumes: dict[str, list[tuple[int, Fraction]]] = field(default_factory=dict)
    bls: list[tuple[BlsRequest, Verdict[BlsRequest]]] = field(default_factory=list)
    refused_lights: int = 0


# --------------------------------------------------------------------------- strategies

levels = st.one_of(
    st.integers(-2, 22).map(lambda n: n / 20),
    st.floats(-0.2, 1.2, allow_nan=False),
)
transitions_ms = st.one_of(st.just(0), st.integers(1, 1500))


@st.composite
def room_limits(draw: st.DrawFn) -> SafetyLimits:
    speeds = sorted([draw(st.floats(0.2, 2.0)), draw(st.floats(0.2, 2.0))])
    tones = sorted([draw(st.floats(200.0, 1000.0)), draw(st.floats(200.0, 1000.0))])
    return SafetyLimits(
        max_flashes_per_s=draw(st.sampled_from([0.4, 1.0, 2.0, 2.5, 3.0])),
        volume_cap=draw(st.floats(0.0, 100.0)),
        volume_ramp_per_s=draw(st.floats(1.0, 100.0)),
        bls_speed_min_hz=speeds[0],
        bls_speed_max_hz=speeds[1],
        bls_set_max_passes=draw(st.integers(1, 240)),
        bls_set_max_seconds=draw(st.floats(1.0, 120.0)),
        tactile_intensity_max=draw(st.floats(0.0, 80.0)),
        tone_hz_min=tones[0],
        tone_hz_max=tones[1],
    )


@st.composite
def bls_requests(draw: st.DrawFn) -> BlsRequest:
    """Mostly well-formed sets (one length), sometimes both lengths or none."""
    length = draw(st.sampled_from(["passes"] * 4 + ["seconds"] * 4 + ["both", "neither"]))
    passes = draw(st.integers(0, 250)) if length in ("passes", "both") else None
    seconds = draw(st.floats(0.5, 150.0)) if length in ("seconds", "both") else None
    return BlsRequest(
        mode=draw(st.sampled_from(["tactile", "visual", "audio"])),
        speed_hz=draw(st.floats(0.05, 4.0)),
        passes=passes,
        seconds=seconds,
        intensity=draw(st.one_of(st.none(), st.floats(-0.2, 1.2))),
        tone_hz=draw(st.one_of(st.none(), st.floats(100.0, 1500.0))),
        confirmed=draw(st.booleans()),
    )


operations: st.SearchStrategy[Operation] = st.one_of(
    st.builds(LightChange, st.sampled_from(LIGHTS), levels, transitions_ms),
    st.builds(VolumeChange, st.sampled_from(SOUNDS), levels),
    st.builds(BlsStart, st.sampled_from(BLS_DEVICES), bls_requests()),
)
gaps_ms = st.one_of(st.just(0), st.integers(1, 400))
light_levels = st.integers(0, 20).map(lambda n: n / 20)
quick_light_changes = st.lists(
    st.tuples(
        st.one_of(st.just(0), st.integers(1, 150)),
        st.builds(
            LightChange,
            st.sampled_from(LIGHTS),
            light_levels,
            st.one_of(st.just(0), st.integers(1, 400)),
        ),
    ),
    max_size=60,
)


def drive(
    limits: SafetyLimits, start_levels: list[float], script: list[tuple[int, Operation]]
) -> Traffic:
    """Each light starts at a known level at t = 0, then the script runs on its gaps."""
    gate = SafetyGate(limits)
    traffic = Traffic()
    for device, level in zip(LIGHTS, start_levels, strict=True):
        verdict = gate.check_light(device, level, 0.0)
        assert verdict.value is not None
        traffic.lights[device] = [(0, Fraction(verdict.value), 0)]
    now_ms = 0
    for gap_ms, operation in script:
        now_ms += gap_ms
        now = now_ms / 1000
        if isinstance(operation, LightChange):
            verdict = gate.check_light(
                operation.device, operation.level, now, transition_s=operation.transition_ms / 1000
            )
            explained(verdict, operation.level)
            if verdict.value is None:
                traffic.refused_lights += 1
            else:
                assert 0 <= verdict.value <= 1
                traffic.lights[operation.device].append(
                    (now_ms, Fraction(verdict.value), operation.transition_ms)
                )
        elif isinstance(operation, VolumeChange):
            verdict = gate.check_volume(operation.device, operation.level, now)
            explained(verdict, operation.level)
            assert verdict.value is not None
            traffic.volumes.setdefault(operation.device, []).append(
                (now_ms, Fraction(verdict.value))
            )
        else:
            bls_verdict = gate.check_bls(operation.device, operation.request)
            explained(bls_verdict, operation.request)
            traffic.bls.append((operation.request, bls_verdict))
    return traffic


def explained(verdict: Verdict[float] | Verdict[BlsRequest], requested: float | BlsRequest) -> None:
    """Anything not ok says why; ok sends what was asked (to float rounding); refused, nothing."""
    assert verdict.requested == requested
    assert (verdict.value is None) == (verdict.status is Status.REFUSED)
    if verdict.status is not Status.OK:
        assert verdict.reason and verdict.rules
    elif isinstance(requested, float):
        assert verdict.reason is None
        assert isinstance(verdict.value, float) and abs(verdict.value - requested) <= 1e-9
    else:
        assert verdict.reason is None and verdict.value == requested


# --------------------------------------------------------------------------- the checker


def luminance_corners(changes: list[tuple[int, Fraction, int]]) -> Points:
    """The corners of a light's brightness curve: each change starts where the light is."""
    corners: Points = []
    start_t, start_v, end_t, end_v = changes[0][0], changes[0][1], changes[0][0], changes[0][1]
    corners.append((start_t, start_v))
    for at, level, transition_ms in changes[1:]:
        if end_t <= at:
            corners.append((end_t, end_v))
            here = end_v
        else:
            here = start_v + (end_v - start_v) * Fraction(at - start_t, end_t - start_t)
        corners.append((at, here))
        start_t, start_v, end_t, end_v = at, here, at + transition_ms, level
    corners.append((end_t, end_v))
    return corners


def brightness_at(corners: Points, t: int) -> Fraction | None:
    """The curve just after time t (after any jump at t), or None before it starts."""
    before = [(ct, cv) for ct, cv in corners if ct <= t]
    after = [(ct, cv) for ct, cv in corners if ct > t]
    if not before:
        return None
    (t0, v0) = before[-1]
    if not after:
        return v0
    (t1, v1) = after[0]
    return v0 + (v1 - v0) * Fraction(t - t0, t1 - t0)


TENTH, EIGHT_TENTHS = Fraction(1, 10), Fraction(8, 10)


def flash_step(earlier: Fraction, later: Fraction) -> int:
    """+1 or -1 for a flash-sized change up or down (≥ 10 %, darker end below 80 %), else 0."""
    step = later - earlier
    if abs(step) < TENTH or min(earlier, later) >= EIGHT_TENTHS:
        return 0
    return 1 if step > 0 else -1


def longest_alternating_run(values: list[Fraction], steps: list[list[int]]) -> int:
    """The most alternating flash-sized changes between `values` taken in order.

    `steps[i][j]` is `flash_step(values[i], values[j])`, computed once per curve.
    """
    rising = [0] * len(values)
    falling = [0] * len(values)
    for j in range(len(values)):
        for i in range(j):
            if steps[i][j] > 0:
                rising[j] = max(rising[j], falling[i] + 1)
            elif steps[i][j] < 0:
                falling[j] = max(falling[j], rising[i] + 1)
    return max(rising + falling, default=0)


def busiest_second(corners: Points) -> int:
    """The longest alternating run inside any window [s, s + 1000 ms).

    A window starts at a corner, or 999 ms before one with the curve's value there as
    its first point (so the part of a ramp inside the window counts).
    """
    values = [v for _, v in corners]
    steps = [[flash_step(a, b) for b in values] for a in values]
    corner_times = {t for t, _ in corners}
    busiest = 0
    for s in corner_times | {t - 999 for t in corner_times}:
        inside = [n for n, (t, _) in enumerate(corners) if s <= t < s + 1000]
        edge = None if s in corner_times else brightness_at(corners, s)
        if edge is None:
            window_values = [values[n] for n in inside]
            window_steps = [[steps[a][b] for b in inside] for a in inside]
        else:
            window_values = [edge, *(values[n] for n in inside)]
            first = [0, *(flash_step(edge, values[n]) for n in inside)]
            rest = [[0, *(steps[a][b] for b in inside)] for a in inside]
            window_steps = [first, *rest]
        busiest = max(busiest, longest_alternating_run(window_values, window_steps))
    return busiest


def assert_flash_rate(traffic: Traffic, limits: SafetyLimits) -> None:
    allowed = max(1, math.floor(2 * limits.max_flashes_per_s))
    for device, changes in traffic.lights.items():
        assert busiest_second(luminance_corners(changes)) <= allowed, device


def assert_volume(traffic: Traffic, limits: SafetyLimits) -> None:
    cap = Fraction(limits.volume_cap) / 100
    ramp = Fraction(limits.volume_ramp_per_s) / 100
    for device, settings_ in traffic.volumes.items():
        previous = Fraction(0)  # the gate assumes an unseen device is silent
        ended: list[tuple[Fraction, int]] = []
        for at, level in settings_:
            assert 0 <= level <= cap + TOLERANCE, device  # 1 % has no exact float
            ended.append((previous, at))
            for earlier, until in ended:
                allowance = ramp * (Fraction(at - until, 1000) + RAMP_ALLOWANCE_S)
                assert level - earlier <= allowance + TOLERANCE, (device, at)
            previous = level


def assert_bls(traffic: Traffic, limits: SafetyLimits) -> None:
    for request, verdict in traffic.bls:
        sent = verdict.value
        if sent is None:
            continue
        assert (sent.mode, sent.confirmed) == (request.mode, request.confirmed)
        fastest = limits.bls_speed_max_hz
        if sent.mode == "visual":
            fastest = min(fastest, limits.max_flashes_per_s)
        assert limits.bls_speed_min_hz <= sent.speed_hz <= fastest
        assert (sent.passes is None) != (sent.seconds is None)
        seconds = sent.seconds if sent.seconds is not None else sent.passes / sent.speed_hz  # type: ignore[operator]
        passes = sent.passes if sent.passes is not None else sent.seconds * sent.speed_hz  # type: ignore[operator]
        assert seconds <= 120 + 1e-6
        if not sent.confirmed:
            assert passes <= limits.bls_set_max_passes + 1e-9
            assert seconds <= limits.bls_set_max_seconds + 1e-6
        if sent.intensity is not None:
            most = limits.tactile_intensity_max / 100 if sent.mode == "tactile" else 1.0
            assert 0 <= sent.intensity <= most
        if sent.tone_hz is not None:
            assert limits.tone_hz_min <= sent.tone_hz <= limits.tone_hz_max


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limits=room_limits(),
    start_levels=st.lists(light_levels, min_size=2, max_size=2),
    script=st.lists(st.tuples(gaps_ms, operations), max_size=60),
)
def test_whatever_is_asked_what_the_gate_lets_through_keeps_every_rule(
    limits: SafetyLimits, start_levels: list[float], script: list[tuple[int, Operation]]
) -> None:
    traffic = drive(limits, start_levels, script)
    assert_flash_rate(traffic, limits)
    assert_volume(traffic, limits)
    assert_bls(traffic, limits)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    max_flashes_per_s=st.sampled_from([1.0, 2.0, 3.0]),
    start_levels=st.lists(light_levels, min_size=2, max_size=2),
    script=quick_light_changes,
)
def test_quick_light_changes_never_flash_faster_than_allowed(
    max_flashes_per_s: float, start_levels: list[float], script: list[tuple[int, LightChange]]
) -> None:
    limits = SafetyLimits(max_flashes_per_s=max_flashes_per_s)
    traffic = drive(limits, start_levels, list(script))
    target(float(traffic.refused_lights))
    assert_flash_rate(traffic, limits)


@settings(max_examples=400, deadline=None)
@given(limits=room_limits(), request=bls_requests())
def test_every_bls_set_sent_keeps_the_rooms_limits(
    limits: SafetyLimits, request: BlsRequest
) -> None:
    verdict = SafetyGate(limits).check_bls("tappers", request)
    explained(verdict, request)
    traffic = Traffic(bls=[(request, verdict)])
    assert_bls(traffic, limits)
