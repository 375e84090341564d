"""A linear echo filter for what the recogniser hears: the speaker's echo subtracted, the user's voice
left whole.

AEC3 follows its linear filter with a suppressor that ducks whatever it cannot explain while echo
plays. That is right for deciding *whether* the user speaks (the VAD listens to AEC3's output), and
wrong for *what* they say: over a reply, the first 0.3 s of the user's speech loses 8-16 dB (user 6 dB
under the echo, tests/integration/test_echo_cancellation.py), enough to turn "停一下" into "一下".

This filter only subtracts an estimate of the echo: partitioned-block frequency-domain NLMS
(overlap-save, one 10 ms block per partition), on a reference held back by the echo's delay
(``EchoDelayEstimator``). It learns only from frames AEC3 shows are mostly echo and that it does not
suddenly explain worse (the user's ducked first syllables), so the user's voice never trains it away.
Once it works, the user's words pass within 1 dB with the echo 12-23 dB beneath them.

``working``: over the recent mostly-echo frames it removed at least ``WORKING_DB``. Until then (the
first 2-4 s of a session's first reply) and wherever it never does, the recogniser is better off with
AEC3's output: an unconverged filter hands Whisper the echo itself, and the bench measured that as
worse (garbled backchannels cutting replies).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from localvoice.audio.echo_delay import MAX_DELAY_S, EchoDelayEstimator
from localvoice.events import Pcm

# 10 partitions of 10 ms: an echo path (after the device times line the reference up) of 100 ms.
PARTITIONS = 10
# NLMS step: converges in 2-3 s of reply; 0.8 and above diverged on the bench's echo path.
STEP = 0.5
_SMOOTHING = 0.9  # of the far-end power that normalises each step
_REGULARISATION = 1e3  # per FFT bin and sample: keeps the step small while the speaker is quiet
_LEAD_S = 0.02  # the reference is held back this much less than the echo's delay: the filter spans it
WORKING_DB = 12.0  # echo removed over recent mostly-echo frames for the output to be worth hearing
_ERLE_SMOOTHING = 0.98  # per frame: about half a second of memory
_TALK_JUMP = 4.0  # explained this many times (6 dB) worse than lately: the user, not echo
_PATH_CHANGED_FRAMES = 150  # 1.5 s


class LinearEchoFilter:
    """``process(reference, capture, adapt)``: ``capture`` less the echo ``reference`` explains."""

    def __init__(
        self, block_samples: int, sample_rate_hz: int, partitions: int = PARTITIONS, step: float = STEP
    ) -> None:
        self.block_samples = block_samples
        self._step = step
        bins = block_samples + 1
        self._spectra = np.zeros((partitions, bins), dtype=np.complex128)  # newest reference block first
        self._weights = np.zeros((partitions, bins), dtype=np.complex128)
        self._previous = np.zeros(block_samples)
        self._power = np.zeros(bins)
        self._floor = 2 * block_samples * _REGULARISATION
        self._delay = EchoDelayEstimator(sample_rate_hz, block_samples)
        self._lead = round(_LEAD_S * sample_rate_hz / block_samples)
        self._held: deque[Pcm] = deque(maxlen=round(MAX_DELAY_S * sample_rate_hz / block_samples) + 1)
        self._hold = 0  # reference blocks held back
        self._heard_power = self._left_power = 0.0  # smoothed, over mostly-echo frames
        self._blocked = 0  # frames in a row kept from adapting as someone talking

    @property
    def working(self) -> bool:
        """It has lately removed at least ``WORKING_DB`` of the echo."""
        return self._left_power > 0 and self._heard_power >= self._left_power * 10 ** (WORKING_DB / 10)

    def process(self, reference: Pcm, capture: Pcm, adapt: bool) -> Pcm:
        """One block of each, ``block_samples`` long; ``adapt``: the block is mostly echo."""
        n = self.block_samples
        self._delay.add(reference, capture)
        self._held.append(reference)
        self._follow_the_delay()
        held = self._held[-1 - self._hold] if len(self._held) > self._hold else np.zeros(n, dtype=np.int16)
        far = held.astype(np.float64)
        self._spectra = np.roll(self._spectra, 1, axis=0)
        self._spectra[0] = np.fft.rfft(np.concatenate((self._previous, far)))
        self._previous = far
        estimate = np.fft.irfft((self._weights * self._spectra).sum(axis=0))[n:]
        near = capture.astype(np.float64)
        error: npt.NDArray[np.float64] = near - estimate
        heard, left = float(np.mean(near**2)), float(np.mean(error**2))
        if adapt and self._someone_talks(heard, left):
            adapt = False
        if adapt:
            self._adapt(error)
            fresh = self._left_power == 0  # the first frame sets the level instead of easing up from 0
            keep = 0.0 if fresh else _ERLE_SMOOTHING
            self._heard_power = keep * self._heard_power + (1 - keep) * heard
            self._left_power = keep * self._left_power + (1 - keep) * left
        out: Pcm = np.clip(np.rint(error), -32768, 32767).astype(np.int16)
        return out

    def _someone_talks(self, heard: float, left: float) -> bool:
        """AEC3 also calls the user's first syllables "mostly echo" (it ducks them). A frame this
        filter explains 6 dB worse than lately holds something besides echo: don't learn from it.
        Blocked that way for over a second, the echo path itself has changed: learn again."""
        worse = heard * self._left_power * _TALK_JUMP < left * self._heard_power
        self._blocked = self._blocked + 1 if worse else 0
        return worse and self._blocked <= _PATH_CHANGED_FRAMES

    def _follow_the_delay(self) -> None:
        """Hold the reference back by the estimated delay (less a lead). When that moves by k blocks,
        so does what was learnt: the taps and the reference history shift by k partitions."""
        delay = self._delay.delay_samples
        if delay is None:
            return
        hold = max(0, delay // self.block_samples - self._lead)
        shift, self._hold = hold - self._hold, hold
        if shift:
            for table in (self._weights, self._spectra):
                table[:] = np.roll(table, -shift, axis=0)
                if shift > 0:
                    table[-shift:] = 0
                else:
                    table[:-shift] = 0

    def _adapt(self, error: npt.NDArray[np.float64]) -> None:
        n = self.block_samples
        gradient = np.fft.rfft(np.concatenate((np.zeros(n), error)))
        power = (np.abs(self._spectra) ** 2).sum(axis=0)
        # The first step is normalised by its own power: easing up from 0 would make it huge.
        keep = _SMOOTHING if self._power.any() else 0.0
        self._power = keep * self._power + (1 - keep) * power
        weights = self._weights + np.conj(self._spectra) * (
            self._step * gradient / (self._power + self._floor)
        )
        taps = np.fft.irfft(weights, axis=1)
        taps[:, n:] = 0.0  # each partition stays one block long (the overlap-save constraint)
        self._weights = np.fft.rfft(taps, axis=1)
