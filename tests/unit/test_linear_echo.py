"""The linear echo filter: it learns the echo path from the reference, and subtracts only that."""

from __future__ import annotations

import numpy as np

from localvoice.audio.linear_echo import LinearEchoFilter

BLOCK = 160  # 10 ms at 16 kHz


def room(reference: np.ndarray) -> np.ndarray:
    """A 30 ms echo path: a direct sound 6 dB down and one reflection."""
    echo = np.zeros(len(reference))
    echo[80:] += 0.5 * reference[:-80]
    echo[480:] += -0.2 * reference[:-480]
    return echo


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9))


def test_it_learns_the_echo_and_leaves_the_rest() -> None:
    rng = np.random.default_rng(1)
    reference = rng.standard_normal(16_000 * 4) * 3000
    echo = room(reference)
    voice = np.zeros(len(reference))
    voice[-8000:] = rng.standard_normal(8000) * 2000  # the user, over the last 0.5 s
    captured = echo + voice
    linear = LinearEchoFilter(BLOCK, 16_000)
    out = []
    for start in range(0, len(reference), BLOCK):
        part = slice(start, start + BLOCK)
        talking = start >= len(reference) - 8000  # as AEC3 tells: no longer mostly echo
        out.append(
            linear.process(
                reference[part].astype(np.int16), captured[part].astype(np.int16), adapt=not talking
            )
        )
    cleaned = np.concatenate(out).astype(np.float64)
    converged = slice(16_000 * 2, len(reference) - 8000)
    assert db(echo[converged]) - db(cleaned[converged]) >= 25.0
    # Over the user: the echo still comes off, the voice stays as it was.
    over = slice(len(reference) - 8000, len(reference))
    assert db(cleaned[over] - voice[over]) < db(voice[over]) - 20.0


def test_without_a_reference_the_capture_passes_unchanged() -> None:
    linear = LinearEchoFilter(BLOCK, 16_000)
    captured = (np.arange(BLOCK) * 50).astype(np.int16)
    silence = np.zeros(BLOCK, dtype=np.int16)
    for _ in range(5):
        assert np.array_equal(linear.process(silence, captured, adapt=True), captured)
