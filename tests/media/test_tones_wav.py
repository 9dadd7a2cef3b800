"""The rendered bilateral tones, judged by analysing the WAV files the synthesiser writes.

Timing, pitch, clicks and level are measured from the 16-bit samples read back with the
standard `wave` module, never taken from the synthesiser's own code.
"""

from __future__ import annotations

import math
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from controller.media.tones import (
    SetSchedule,
    ToneSettings,
    render_cycle,
    write_set_wav,
)

FULL_SCALE = 32767
LSB = 1 / FULL_SCALE
SOFT_SQUARE_SLOPE = 4.1
"""A band-limited square (odd harmonics to the 9th) rises at most this many times as steeply
as a sine of the same frequency and peak; a true square would jump its full height at once."""
HARMONICS_FITTED = 9
"""The onset fit allows any waveform of the tone's frequency with harmonics up to this one."""


@dataclass(frozen=True)
class Recording:
    """A stereo WAV read back as floats of full scale: `frames[:, 0]` left, `[:, 1]` right."""

    frames: NDArray[np.float64]
    rate: int

    def left(self) -> NDArray[np.float64]:
        return self.frames[:, 0]

    def right(self) -> NDArray[np.float64]:
        return self.frames[:, 1]


def read_wav(path: Path) -> Recording:
    with wave.open(str(path), "rb") as source:
        assert source.getnchannels() == 2
        assert source.getsampwidth() == 2
        raw = source.readframes(source.getnframes())
        rate = source.getframerate()
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64) / FULL_SCALE
    return Recording(samples.reshape(-1, 2), rate)


def record(tones: ToneSettings, schedule: SetSchedule, directory: Path) -> Recording:
    path = directory / "set.wav"
    write_set_wav(path, tones, schedule)
    return read_wav(path)


def record_in_temporary_directory(tones: ToneSettings, passes: int = 1) -> Recording:
    """For hypothesis examples, which cannot share pytest's function-scoped tmp_path."""
    with tempfile.TemporaryDirectory() as directory:
        return record(tones, SetSchedule(speed_hz=tones.speed_hz, passes=passes), Path(directory))


def onsets(tones: ToneSettings, passes: int) -> list[tuple[float, int]]:
    """Expected (onset time, channel) of every burst: left at each cycle, right half a cycle on."""
    half_s = 1 / (2 * tones.speed_hz)
    return [(index * half_s, index % 2) for index in range(2 * passes)]


def raised_cosine(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return (1 - np.cos(np.pi * np.clip(x, 0.0, 1.0))) / 2


def burst_model(
    tones: ToneSettings, onset_s: float, times: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Columns spanning every burst docs/safety.md allows at `onset_s`: raised-cosine edges of
    edge_ms around any waveform of the tone's frequency (harmonics of any phase)."""
    since = times - onset_s
    tone_s, edge_s = tones.tone_ms / 1000, tones.edge_ms / 1000
    envelope = raised_cosine(since / edge_s) * raised_cosine((tone_s - since) / edge_s)
    phase = 2 * np.pi * tones.tone_hz * since
    columns = [
        envelope * wave_function(harmonic * phase)
        for harmonic in range(1, HARMONICS_FITTED + 1)
        for wave_function in (np.sin, np.cos)
    ]
    return np.column_stack(columns)


def fitted_onset(
    tones: ToneSettings, channel: NDArray[np.float64], rate: int, expected_s: float
) -> float:
    """The onset (s) at which the specified burst shape best explains the samples.

    A least-squares fit over the whole burst (the rise, the steady middle and the fall, each
    thinned to at most 1000 samples), searching ±3 samples around the expected onset,
    coarse then fine; the answer sits on the search's rim when the burst is further off.
    """
    edge_s, tone_s = tones.edge_ms / 1000, tones.tone_ms / 1000
    margin = 4

    def stretch(start_s: float, end_s: float) -> NDArray[np.int64]:
        first = max(0, math.floor(start_s * rate) - margin)
        indices = np.arange(first, min(len(channel), math.ceil(end_s * rate) + margin))
        return indices[:: max(1, len(indices) // 1000)]

    indices = np.unique(
        np.concatenate(
            (
                stretch(expected_s, expected_s + edge_s),
                stretch(expected_s + edge_s, expected_s + tone_s - edge_s),
                stretch(expected_s + tone_s - edge_s, expected_s + tone_s),
            )
        )
    )
    times, samples = indices / rate, channel[indices]

    def residual(shift_samples: float) -> float:
        model = burst_model(tones, expected_s + shift_samples / rate, times)
        # Normal equations summed with einsum: no multithreaded BLAS call, which crawls on a
        # machine whose cores are busy with other work.
        gram = np.einsum("ij,ik->jk", model, model)
        projections = np.einsum("ij,i->j", model, samples)
        # lstsq, not solve: at some rates a basis column vanishes on the sampled points.
        coefficients = np.linalg.lstsq(gram, projections, rcond=None)[0]
        return float(samples @ samples - projections @ coefficients)

    coarse = min(np.arange(-3.0, 3.01, 0.5), key=residual)
    fine = min(np.arange(coarse - 0.5, coarse + 0.51, 0.1), key=residual)
    return expected_s + float(np.clip(fine, -3.0, 3.0)) / rate


def burst(
    recording: Recording, tones: ToneSettings, onset_s: float, channel: int
) -> NDArray[np.float64]:
    start = math.floor(onset_s * recording.rate)
    end = math.ceil((onset_s + tones.tone_ms / 1000) * recording.rate) + 1
    return recording.frames[start:end, channel]


def largest_allowed_step(tones: ToneSettings) -> float:
    """A sine of the tone's frequency and level steps at most level·2πf per second; the
    raised-cosine edges add at most level·π/(2·edge); quantisation adds up to 2 LSB."""
    slope = SOFT_SQUARE_SLOPE if tones.waveform == "soft-square" else 1.0
    per_second = tones.level * (
        slope * 2 * np.pi * tones.tone_hz + np.pi / (2 * tones.edge_ms / 1000)
    )
    return per_second / tones.sample_rate + 2 * LSB


# --------------------------------------------------------------------------- timing


def test_bursts_alternate_left_then_right_at_exactly_the_requested_rate(tmp_path: Path) -> None:
    # A cycle of 44100 / 1.9 = 23210.53 samples: rounding cycles or half cycles to whole
    # samples would drift by more than a sample within these passes.
    tones = ToneSettings(speed_hz=1.9, tone_hz=440, tone_ms=120, sample_rate=44100)
    passes = 8
    recording = record(tones, SetSchedule(speed_hz=1.9, passes=passes), tmp_path)

    for onset_s, channel in onsets(tones, passes):
        measured = fitted_onset(tones, recording.frames[:, channel], recording.rate, onset_s)
        assert abs(measured - onset_s) <= 1 / recording.rate, f"burst at {onset_s:.6f} s"


def test_the_onset_measurement_sees_a_burst_two_samples_late(tmp_path: Path) -> None:
    """The timing test can fail: a recording delayed by two samples is measured as late."""
    tones = ToneSettings(speed_hz=1.3, tone_hz=440, tone_ms=120, sample_rate=44100)
    recording = record(tones, SetSchedule(speed_hz=1.3, passes=1), tmp_path)
    delayed = np.concatenate((np.zeros(2), recording.left()))

    measured = fitted_onset(tones, delayed, recording.rate, 0.0)

    assert measured * recording.rate == pytest.approx(2.0, abs=0.1)


def test_with_hard_pan_each_burst_plays_on_its_side_only_and_silence_lies_between(
    tmp_path: Path,
) -> None:
    tones = ToneSettings(speed_hz=2.0, tone_ms=100, sample_rate=48000, level=0.6)
    passes = 4
    recording = record(tones, SetSchedule(speed_hz=2.0, passes=passes), tmp_path)
    sounding = np.zeros((len(recording.frames), 2), dtype=bool)

    for onset_s, channel in onsets(tones, passes):
        start = math.floor(onset_s * recording.rate)
        end = math.ceil((onset_s + tones.tone_ms / 1000) * recording.rate) + 1
        sounding[start:end, channel] = True
        assert np.max(np.abs(recording.frames[start:end, channel])) > 0.5

    assert len(recording.frames) == passes * 48000 // 2
    assert np.all(recording.frames[~sounding] == 0.0)


def test_repeated_sets_are_separated_by_silent_pauses(tmp_path: Path) -> None:
    tones = ToneSettings(speed_hz=2.0, tone_ms=100, sample_rate=22050)
    schedule = SetSchedule(speed_hz=2.0, passes=2, sets=3, pause_s=0.75)
    recording = record(tones, schedule, tmp_path)
    rate = recording.rate

    assert len(recording.frames) == round((3 * 1.0 + 2 * 0.75) * rate)
    for set_start_s in (0.0, 1.75, 3.5):
        for onset_s, channel in onsets(tones, passes=2):
            measured = fitted_onset(
                tones, recording.frames[:, channel], rate, set_start_s + onset_s
            )
            assert abs(measured - (set_start_s + onset_s)) <= 1 / rate
    for pause_start_s in (1.0, 2.75):
        pause = recording.frames[round(pause_start_s * rate) : round((pause_start_s + 0.75) * rate)]
        assert np.all(pause == 0.0)


# --------------------------------------------------------------------------- pitch, clicks, level


@pytest.mark.parametrize("waveform", ["sine", "soft-square"])
@pytest.mark.parametrize("tone_hz", [200.0, 440.0, 987.5])
def test_each_bursts_spectrum_peaks_at_the_requested_tone(
    tmp_path: Path, waveform: str, tone_hz: float
) -> None:
    tones = ToneSettings(tone_hz=tone_hz, speed_hz=1.0, tone_ms=150, waveform=waveform)  # type: ignore[arg-type]
    recording = record(tones, SetSchedule(speed_hz=1.0, passes=2), tmp_path)

    for onset_s, channel in onsets(tones, passes=2):
        samples = burst(recording, tones, onset_s, channel)
        spectrum = np.abs(np.fft.rfft(samples))
        bin_hz = recording.rate / len(samples)
        assert abs(np.argmax(spectrum) * bin_hz - tone_hz) <= bin_hz


def test_the_soft_square_carries_odd_harmonics_and_nothing_above_its_ninth(tmp_path: Path) -> None:
    tones = ToneSettings(tone_hz=400, speed_hz=1.0, tone_ms=400, waveform="soft-square")
    recording = record(tones, SetSchedule(speed_hz=1.0, passes=1), tmp_path)
    samples = burst(recording, tones, 0.0, channel=0)
    power = np.abs(np.fft.rfft(samples)) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1 / recording.rate)

    def band(low: float, high: float) -> float:
        return float(power[(frequencies >= low) & (frequencies < high)].sum())

    fundamental = band(380, 420)
    assert band(1180, 1220) > fundamental / 100, "the third harmonic is present"
    assert band(780, 820) < fundamental / 1e4, "no second harmonic"
    assert band(4000, recording.rate / 2) < fundamental / 1e5, "band-limited below the 10th"


@pytest.mark.parametrize(
    "tones",
    [
        ToneSettings(tone_hz=1000, edge_ms=1, tone_ms=40, level=1.0),
        ToneSettings(tone_hz=200, edge_ms=10, tone_ms=100, level=0.7),
        ToneSettings(tone_hz=440, waveform="soft-square", level=1.0),
        ToneSettings(tone_hz=440, pan="sweep", tone_ms=500, level=1.0),
    ],
    ids=["1000Hz-1ms-edges", "200Hz", "soft-square", "sweep"],
)
def test_bursts_rise_and_fall_without_clicks(tmp_path: Path, tones: ToneSettings) -> None:
    recording = record(tones, SetSchedule(speed_hz=tones.speed_hz, passes=2), tmp_path)
    edge_at_one_sample = (1 - math.cos(math.pi / (recording.rate * tones.edge_ms / 1000))) / 2
    # The first and last audible samples: at most one sample into the edge, or the first
    # value to reach 1 LSB on a smooth rise (quantised toward zero), which stays below 3 LSB.
    near_zero = max(tones.level * edge_at_one_sample, 3 * LSB)

    assert np.max(np.abs(np.diff(recording.frames, axis=0))) <= largest_allowed_step(tones)
    for onset_s, channel in onsets(tones, passes=2):
        sounding = np.flatnonzero(burst(recording, tones, onset_s, channel))
        samples = burst(recording, tones, onset_s, channel)[sounding]
        assert abs(samples[0]) <= near_zero
        assert abs(samples[-1]) <= near_zero


def test_a_plain_square_would_fail_the_click_check() -> None:
    """The step bound is tight enough to catch a click: a square of the same level jumps."""
    tones = ToneSettings(tone_hz=440, waveform="soft-square", level=0.5)
    times = np.arange(441) / 44100
    square = tones.level * np.sign(np.sin(2 * np.pi * 440 * times))

    assert np.max(np.abs(np.diff(square))) > 5 * largest_allowed_step(tones)


@pytest.mark.parametrize("level", [0.05, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("waveform", ["sine", "soft-square"])
def test_the_peak_reaches_the_level_and_never_exceeds_it(
    tmp_path: Path, level: float, waveform: str
) -> None:
    tones = ToneSettings(tone_hz=1000, level=level, waveform=waveform)  # type: ignore[arg-type]
    recording = record(tones, SetSchedule(speed_hz=1.0, passes=2), tmp_path)
    peak = float(np.max(np.abs(recording.frames)))

    assert peak <= level
    assert peak >= level * math.cos(math.pi * tones.tone_hz / recording.rate) - LSB


def test_the_summary_reports_what_the_file_holds(tmp_path: Path) -> None:
    tones = ToneSettings(speed_hz=0.5, level=0.3, sample_rate=16000)
    summary = write_set_wav(tmp_path / "s.wav", tones, SetSchedule(speed_hz=0.5, seconds=9))
    recording = read_wav(tmp_path / "s.wav")

    assert summary.passes == 4
    assert summary.duration_s == len(recording.frames) / recording.rate == 8.0
    assert summary.peak == float(np.max(np.abs(recording.frames)))


def test_a_schedule_at_another_speed_than_the_tones_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="the set's speed 2 Hz differs from the tones' 1 Hz"):
        write_set_wav(tmp_path / "s.wav", ToneSettings(), SetSchedule(speed_hz=2.0, passes=1))
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_leaves_no_partial_file_and_the_target_untouched(
    tmp_path: Path,
) -> None:
    """The set is rendered beside the target and renamed onto it at the end; here the target
    is a folder, so the final rename fails after the whole set was written."""
    target = tmp_path / "bls.wav"
    target.mkdir()
    (target / "kept.txt").write_text("earlier work")

    with pytest.raises(IsADirectoryError):
        write_set_wav(target, ToneSettings(), SetSchedule(speed_hz=1.0, passes=1))

    assert [p.name for p in tmp_path.iterdir()] == ["bls.wav"]
    assert (target / "kept.txt").read_text() == "earlier work"


# --------------------------------------------------------------------------- sweep


def test_a_sweep_glides_smoothly_from_left_to_right_and_back(tmp_path: Path) -> None:
    tones = ToneSettings(speed_hz=0.5, tone_ms=1000, edge_ms=10, pan="sweep", sample_rate=22050)
    recording = record(tones, SetSchedule(speed_hz=0.5, passes=1), tmp_path)
    window = recording.rate // 20
    energy = np.add.reduceat(recording.frames**2, np.arange(0, len(recording.frames), window))
    share_left = energy[:, 0] / energy.sum(axis=1)

    # 40 windows of 50 ms: the left burst's middle is window 9-10, the right one's 29-30.
    assert share_left[9] > 0.99 and share_left[29] < 0.01
    from_left_to_right = share_left[10:29]
    assert np.all(np.diff(from_left_to_right) < 0), "the sound moves steadily to the right"
    assert np.any((from_left_to_right > 0.3) & (from_left_to_right < 0.7)), "it passes the middle"
    assert np.all(np.diff(share_left[30:]) > 0), "and back to the left"


# --------------------------------------------------------------------------- loopable cycle


def decode_pcm16(data: bytes) -> NDArray[np.float64]:
    return np.frombuffer(data, dtype="<i2").astype(np.float64).reshape(-1, 2) / FULL_SCALE


def test_the_cycle_buffer_is_the_first_pass_of_the_set(tmp_path: Path) -> None:
    tones = ToneSettings(speed_hz=1.0, sample_rate=44100)
    recording = record(tones, SetSchedule(speed_hz=1.0, passes=1), tmp_path)

    cycle = render_cycle(tones)

    assert np.array_equal(decode_pcm16(cycle.pcm16()), recording.frames)
    assert cycle.speed_hz == 1.0


@pytest.mark.parametrize("pan", ["hard", "sweep"])
def test_the_cycle_buffer_loops_without_a_seam(pan: str) -> None:
    tones = ToneSettings(speed_hz=1.3, tone_ms=384, edge_ms=5, pan=pan, sample_rate=44100)  # type: ignore[arg-type]

    cycle = render_cycle(tones)
    looped = np.tile(decode_pcm16(cycle.pcm16()), (3, 1))

    assert len(cycle.frames) == round(44100 / 1.3)
    assert cycle.speed_hz == pytest.approx(1.3, rel=1e-4)
    assert np.max(np.abs(np.diff(looped, axis=0))) <= largest_allowed_step(tones)
    for repeat in range(3):
        start_s = repeat * cycle.cycle_s
        for onset_s, channel in ((start_s, 0), (start_s + cycle.cycle_s / 2, 1)):
            measured = fitted_onset(tones, looped[:, channel], 44100, onset_s)
            assert abs(measured - onset_s) <= 1 / 44100


# --------------------------------------------------------------------------- over the whole range


@st.composite
def valid_tones(draw: st.DrawFn) -> ToneSettings:
    speed_hz = draw(st.floats(0.2, 2.0))
    half_cycle_ms = 500 / speed_hz
    edge_ms = draw(st.floats(1.0, half_cycle_ms / 2))
    return ToneSettings(
        tone_hz=draw(st.floats(200.0, 1000.0)),
        speed_hz=speed_hz,
        edge_ms=edge_ms,
        tone_ms=draw(st.floats(max(20.0, 2 * edge_ms), half_cycle_ms)),
        waveform=draw(st.sampled_from(["sine", "soft-square"])),
        pan=draw(st.sampled_from(["hard", "sweep"])),
        level=draw(st.floats(0.01, 1.0)),
        sample_rate=draw(st.sampled_from([8000, 16000, 22050, 44100, 48000])),
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tones=valid_tones())
def test_any_valid_tones_keep_level_timing_pitch_and_smoothness(tones: ToneSettings) -> None:
    recording = record_in_temporary_directory(tones)
    rate = recording.rate

    assert np.max(np.abs(recording.frames)) <= tones.level
    assert np.max(np.abs(np.diff(recording.frames, axis=0))) <= largest_allowed_step(tones)
    for onset_s, channel in onsets(tones, passes=1):
        samples = burst(recording, tones, onset_s, channel)
        other_side = burst(recording, tones, onset_s, 1 - channel)
        assert np.sum(samples**2) > np.sum(other_side**2), "the burst's own side is louder"
        spectrum = np.abs(np.fft.rfft(samples))
        assert abs(np.argmax(spectrum) * rate / len(samples) - tones.tone_hz) <= rate / len(samples)
        if tones.pan == "hard":
            measured = fitted_onset(tones, recording.frames[:, channel], rate, onset_s)
            assert abs(measured - onset_s) <= 1 / rate


@settings(max_examples=20, deadline=None)
@given(tones=valid_tones())
def test_any_valid_cycle_buffer_loops_seamlessly_at_the_level(tones: ToneSettings) -> None:
    cycle = render_cycle(tones)
    looped = np.tile(decode_pcm16(cycle.pcm16()), (2, 1))

    assert np.max(np.abs(looped)) <= tones.level
    assert np.max(np.abs(np.diff(looped, axis=0))) <= largest_allowed_step(tones)
    assert abs(cycle.speed_hz - tones.speed_hz) <= tones.speed_hz**2 / tones.sample_rate
