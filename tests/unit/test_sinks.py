from __future__ import annotations

import numpy as np
import pytest

from localvoice.audio.sinks import CollectingSink, PacedSink
from localvoice.clock import VirtualClock
from localvoice.events import AudioClip
from localvoice.protocols import AudioSink

RATE = 16_000


def ramp(n: int, start: int = 1, rate_hz: int = RATE) -> AudioClip:
    return AudioClip(np.arange(start, start + n, dtype=np.int16), rate_hz)


async def test_collecting_sink_plays_at_once_and_returns_one_clip_at_its_rate() -> None:
    sink = CollectingSink(24_000)
    assert isinstance(sink, AudioSink)
    first = sink.enqueue(ramp(2400, rate_hz=24_000))
    second = sink.enqueue(AudioClip(np.full(1600, 1000, dtype=np.int16), 16_000))  # resampled to 24 kHz
    assert first.done() and first.result() == 2400
    assert second.done() and second.result() == 1600
    collected = sink.collected()
    assert collected.sample_rate_hz == 24_000
    assert len(collected.samples) == 2400 + 2400
    assert np.array_equal(collected.samples[:2400], ramp(2400).samples)
    assert abs(int(collected.samples[3600]) - 1000) < 20


async def test_collecting_sink_can_count_without_keeping() -> None:
    sink = CollectingSink(RATE, keep=False)
    assert await sink.enqueue(ramp(500)) == 500
    assert sink.played_samples == 500 and len(sink.collected().samples) == 0


async def test_paced_sink_plays_in_order_in_real_time_of_the_clock() -> None:
    clock = VirtualClock()
    sink = PacedSink(clock, RATE)
    assert isinstance(sink, AudioSink)
    async with clock.running():
        first = sink.enqueue(ramp(8000))  # 0.5 s
        second = sink.enqueue(ramp(4000, start=9000))  # 0.25 s
        assert await first == 8000
        assert clock.now() == pytest.approx(0.5)
        await sink.drain()
        assert await second == 4000
    assert clock.now() == pytest.approx(0.75)
    assert np.array_equal(sink.played_audio().samples, np.r_[ramp(8000).samples, ramp(4000, 9000).samples])
    starts = [block.start_s for block in sink.played]
    assert starts == pytest.approx([i * 0.02 for i in range(len(starts))])
    assert [block.clip_index for block in sink.played] == [0] * 25 + [1] * 13


async def test_paced_sink_clear_cuts_within_one_block() -> None:
    clock = VirtualClock()
    sink = PacedSink(clock, RATE)
    async with clock.running():
        playing = sink.enqueue(ramp(16000))
        queued = sink.enqueue(ramp(16000))
        await clock.sleep(0.31)
        sink.clear()
        cut_at = clock.now()
        assert await playing == pytest.approx(0.31 * RATE, abs=1)
        assert await queued == 0
        await clock.sleep(1.0)  # nothing plays after the clear
    assert sink.played_samples == pytest.approx(0.31 * RATE, abs=1)
    assert len(sink.played_audio().samples) == sink.played_samples
    assert all(block.start_s <= cut_at for block in sink.played)
    assert sink.clears == 1


async def test_paced_sink_resamples_and_counts_in_clip_samples() -> None:
    clock = VirtualClock()
    sink = PacedSink(clock, RATE)
    async with clock.running():
        done = sink.enqueue(AudioClip(np.full(24_000, 500, dtype=np.int16), 24_000))  # 1 s at 24 kHz
        await clock.sleep(0.5)
        sink.clear()
        assert await done == pytest.approx(12_000, abs=2)  # half of the clip's own samples


async def test_paced_sink_plays_again_after_clear_and_aclose_resolves_pending() -> None:
    clock = VirtualClock()
    sink = PacedSink(clock, RATE)
    async with clock.running():
        never_started = sink.enqueue(ramp(3200))
        sink.clear()
        assert await never_started == 0
        assert await sink.enqueue(ramp(320)) == 320
        pending = sink.enqueue(ramp(3200))
        await clock.sleep(0.05)
        await sink.aclose()
        assert pending.done() and 0 < pending.result() < 3200
