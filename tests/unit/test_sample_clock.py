"""Steady times for a stream of samples, whatever the callbacks' jitter and the resampler's bursts."""

from __future__ import annotations

import pytest

from localvoice.audio.sample_clock import SampleClock


def test_times_follow_the_sample_count_not_the_callbacks_wobble() -> None:
    clock = SampleClock(16_000)
    wobble = [0.0, 0.0013, -0.0008, 0.0021, 0.0]
    stamps = [clock.stamp(100.0 + 0.02 * i + w, 320) for i, w in enumerate(wobble)]
    assert stamps == pytest.approx([100.0 + 0.02 * i for i in range(5)], abs=1e-9)


def test_a_bursty_resampler_keeps_its_samples_seamless() -> None:
    # soxr's LQ filter, 44.1 to 16 kHz: 326-327 samples per 20 ms block, then an empty block.
    clock = SampleClock(16_000)
    counts = [326, 327] * 24 + [0]
    stamps: list[float] = []
    for i, n in enumerate(counts):
        stamps.append(clock.stamp(50.0 + 0.02 * i, n))
    assert [round((s - 50.0) * 16_000) for s in stamps[:4]] == [0, 326, 653, 979]  # back to back


def test_a_dropped_stretch_moves_the_anchor() -> None:
    clock = SampleClock(16_000)
    clock.stamp(10.0, 320)
    assert clock.stamp(10.02, 320) == pytest.approx(10.02)
    assert clock.stamp(10.54, 320) == pytest.approx(10.54)  # half a second of blocks never came
    assert clock.stamp(10.56, 320) == pytest.approx(10.56)
