"""The laptop echo the scripted microphone hears in full-duplex runs (bench/echo_path.py)."""

from __future__ import annotations

import numpy as np

from localvoice.audio.sinks import PacedSink
from localvoice.bench.echo_path import ROOM_TAPS, EchoPath
from localvoice.clock import VirtualClock
from localvoice.events import INPUT_RATE_HZ, AudioClip


def click_train(seconds: float) -> AudioClip:
    samples = np.zeros(round(seconds * INPUT_RATE_HZ), dtype=np.int16)
    samples[:: INPUT_RATE_HZ // 10] = 10_000  # a click every 100 ms
    return AudioClip(samples, INPUT_RATE_HZ)


async def heard(cut_at_s: float | None = None) -> np.ndarray:
    """What a 20 ms-block microphone hears over 1.5 s while the sink plays 1 s of clicks."""
    clock = VirtualClock()
    sink = PacedSink(clock, INPUT_RATE_HZ)
    echo = EchoPath(sink, clock.now(), device_delay_ms=40.0, gain_db=-6.0)
    block = INPUT_RATE_HZ // 50
    out = []
    async with clock.running():
        sink.enqueue(click_train(1.0))
        for _ in range(75):
            if cut_at_s is not None and abs(clock.now() - cut_at_s) < 1e-9:
                sink.clear()
            out.append(echo.mix(clock.now(), block))
            await clock.sleep(block / INPUT_RATE_HZ)
        await sink.aclose()
    return np.concatenate(out)


async def test_the_echo_is_the_playback_late_quieter_and_smeared() -> None:
    mic = await heard()
    gain = 10 ** (-6.0 / 20)
    first = round(0.040 * INPUT_RATE_HZ)  # the device delay
    assert np.all(mic[:first] == 0), "nothing before the delay"
    for lag_s, tap in ROOM_TAPS:  # each reflection of the first click
        at = first + round(lag_s * INPUT_RATE_HZ)
        assert mic[at] == np.float64(10_000 * tap * gain)
    clicks = np.flatnonzero(mic > 10_000 * gain * 0.9)
    assert len(clicks) == 10 and clicks[0] == first  # every click, each once at full strength


async def test_a_cleared_reply_stops_echoing() -> None:
    mic = await heard(cut_at_s=0.5)
    loud = np.flatnonzero(mic > 10_000 * 10 ** (-6.0 / 20) * 0.9)
    assert len(loud) == 5, "only the clicks played before the cut come back"
    assert np.all(mic[round((0.5 + 0.04 + 0.03) * INPUT_RATE_HZ) :] == 0)
