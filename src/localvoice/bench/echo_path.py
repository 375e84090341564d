"""A laptop's speaker-to-microphone echo for the scripted microphone, so full-duplex runs hear themselves.

What ``localvoice chat`` meets without headphones: the reply comes back into the microphone a few tens
of milliseconds late (output and input buffers), quieter, and smeared by the room. Modelled as a fixed
device delay plus three taps (the direct path and two reflections), applied to exactly what the
``PacedSink`` played — cut short where ``clear()`` cut it — so barge-in is judged with the echo the
canceller has to remove while the user talks over it.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from localvoice.audio.resample import resample
from localvoice.audio.sinks import PacedSink
from localvoice.events import INPUT_RATE_HZ

# (delay after the device delay in seconds, relative gain): direct sound, a desk and a wall reflection.
ROOM_TAPS: Final = ((0.0, 1.0), (0.007, 0.45), (0.023, 0.2))


class EchoPath:
    """``mix(at_s, n)``: the echo in ``n`` microphone samples captured from clock time ``at_s`` on."""

    def __init__(
        self,
        sink: PacedSink,
        origin_s: float,
        *,
        device_delay_ms: float = 40.0,
        gain_db: float = -8.0,
        longest_s: float = 240.0,
    ) -> None:
        self._sink = sink
        self._origin_s = origin_s
        self._delay_s = device_delay_ms / 1000.0
        self._gain = 10 ** (gain_db / 20)
        self._line = np.zeros(round(longest_s * INPUT_RATE_HZ))  # what was played, at 16 kHz
        self._taken = 0  # blocks of ``sink.played`` already laid on the line

    def mix(self, at_s: float, n: int) -> np.ndarray:
        self._lay_finished_blocks(at_s)
        start = round((at_s - self._origin_s) * INPUT_RATE_HZ)
        echo = np.zeros(n)
        for lag_s, gain in ROOM_TAPS:
            first = start - round((self._delay_s + lag_s) * INPUT_RATE_HZ)
            lo, hi = max(0, first), min(len(self._line), first + n)
            if hi > lo:
                echo[lo - first : hi - first] += gain * self._line[lo:hi]
        return echo * self._gain

    def _lay_finished_blocks(self, now_s: float) -> None:
        """Blocks whose time is over (so ``clear()`` can no longer shorten them) go on the line."""
        played = self._sink.played
        rate = self._sink.sample_rate_hz
        while self._taken < len(played):
            block = played[self._taken]
            if block.start_s + len(block.samples) / rate > now_s:
                return
            samples = resample(block.samples, rate, INPUT_RATE_HZ).astype(np.float64)
            first = round((block.start_s - self._origin_s) * INPUT_RATE_HZ)
            lo, hi = max(0, first), min(len(self._line), first + len(samples))
            if hi > lo:
                self._line[lo:hi] += samples[lo - first : hi - first]
            self._taken += 1
