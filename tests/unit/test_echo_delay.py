"""Finding how far the echo sits behind the speaker's reference."""

from __future__ import annotations

import numpy as np

from localvoice.audio.echo_delay import EchoDelayEstimator

RATE_HZ = 16_000
FRAME = 160


def feed(estimator: EchoDelayEstimator, far: np.ndarray, near: np.ndarray) -> None:
    for start in range(0, len(far) - FRAME + 1, FRAME):
        estimator.add(
            far[start : start + FRAME].astype(np.int16), near[start : start + FRAME].astype(np.int16)
        )


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """Noise in syllable-like bursts of 60-250 ms with gaps of 30-150 ms, the way speech comes and goes."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE_HZ)
    envelope = np.zeros(n)
    at = 0
    while at < n:
        burst = int(rng.uniform(0.06, 0.25) * RATE_HZ)
        envelope[at : at + burst] = rng.uniform(0.3, 1.0)
        at += burst + int(rng.uniform(0.03, 0.15) * RATE_HZ)
    return rng.standard_normal(n) * 3000 * envelope


def test_it_finds_the_delay_once_two_estimates_agree() -> None:
    far = speechlike(4.0, seed=1)
    delay = 3_600  # 225 ms, what PulseAudio's loopback added on top of the devices' own latency
    near = np.zeros_like(far)
    near[delay:] = 0.4 * far[:-delay]
    near += np.random.default_rng(2).standard_normal(len(near)) * 30
    estimator = EchoDelayEstimator(RATE_HZ, FRAME)
    feed(estimator, far[: RATE_HZ * 2], near[: RATE_HZ * 2])
    assert estimator.delay_samples is None  # one window, one estimate: not yet trusted
    feed(estimator, far[RATE_HZ * 2 :], near[RATE_HZ * 2 :])
    assert estimator.delay_samples == delay


def test_silence_or_unrelated_sound_gives_no_delay() -> None:
    estimator = EchoDelayEstimator(RATE_HZ, FRAME)
    feed(estimator, np.zeros(RATE_HZ * 4), speechlike(4.0, seed=3))  # the speaker is silent
    feed(estimator, speechlike(4.0, seed=4), speechlike(4.0, seed=5))  # the microphone hears other things
    assert estimator.delay_samples is None
