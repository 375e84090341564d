"""The speaker's output laid on the clock: what the echo canceller pairs with each capture frame."""

from __future__ import annotations

import numpy as np

from localvoice.audio.echo_timeline import ReferenceTimeline

RATE_HZ = 1_000  # one sample per millisecond keeps the arithmetic readable


def ramp(first: int, n: int) -> np.ndarray:
    return np.arange(first, first + n, dtype=np.int16)


def test_a_stretch_is_what_played_then_with_silence_in_the_gaps() -> None:
    timeline = ReferenceTimeline(RATE_HZ, keep_s=10.0)
    timeline.lay(ramp(1, 20), at_s=100.000)
    timeline.lay(ramp(101, 20), at_s=100.025)  # the speaker paused 5 ms between blocks
    taken = timeline.take(99.990, 60)
    assert list(taken[:10]) == [0] * 10  # before anything played
    assert list(taken[10:30]) == list(range(1, 21))
    assert list(taken[30:35]) == [0] * 5  # the gap stays a gap instead of closing up
    assert list(taken[35:55]) == list(range(101, 121))
    assert list(taken[55:]) == [0] * 5


def test_a_reader_far_behind_still_gets_the_playback_of_its_own_time() -> None:
    timeline = ReferenceTimeline(RATE_HZ, keep_s=10.0)
    for block in range(50):  # a second of playback pushed while the reader was stalled
        timeline.lay(ramp(block * 20, 20), at_s=block * 0.020)
    assert list(timeline.take(0.200, 10)) == list(range(200, 210))
    assert list(timeline.take(0.210, 10)) == list(range(210, 220))


def test_what_was_taken_is_forgotten_and_playback_arriving_too_late_is_cut() -> None:
    timeline = ReferenceTimeline(RATE_HZ, keep_s=10.0)
    timeline.lay(ramp(1, 30), at_s=0.0)
    timeline.take(0.0, 20)
    assert list(timeline.take(0.0, 5)) == [0] * 5  # taken once: gone
    timeline.lay(ramp(1000, 20), at_s=0.010)  # its first 10 ms were already handed over
    assert list(timeline.take(0.020, 10)) == list(range(1010, 1020))


def test_nobody_reading_keeps_only_the_newest_playback() -> None:
    timeline = ReferenceTimeline(RATE_HZ, keep_s=0.050)
    assert not timeline.used
    for block in range(10):
        timeline.lay(ramp(block * 20, 20), at_s=block * 0.020)
    assert timeline.used
    assert list(timeline.take(0.0, 150)) == [0] * 150  # the oldest was dropped
    assert list(timeline.take(0.150, 50)) == list(range(150, 200))
