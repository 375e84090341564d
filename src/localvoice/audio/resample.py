"""Sample-rate conversion with soxr: whole clips (``resample``) and live streams (``StreamResampler``)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import soxr

from localvoice.events import Pcm

Quality = Literal["QQ", "LQ", "MQ", "HQ", "VHQ"]


def resample(samples: Pcm, from_hz: int, to_hz: int) -> Pcm:
    """Resample a whole int16 mono clip (soxr's high quality; clips rather than wraps on overshoot)."""
    pcm = np.ascontiguousarray(samples, dtype=np.int16)
    if from_hz == to_hz or len(pcm) == 0:
        return pcm.copy() if from_hz == to_hz else np.zeros(0, dtype=np.int16)
    out: Pcm = soxr.resample(pcm, from_hz, to_hz, quality="HQ")
    return out


def resample_float(samples: npt.NDArray[np.float32], from_hz: int, to_hz: int) -> npt.NDArray[np.float32]:
    """Resample float32 mono audio, for callers that convert to int16 themselves."""
    if from_hz == to_hz or len(samples) == 0:
        return np.asarray(samples, dtype=np.float32)
    out: npt.NDArray[np.float32] = soxr.resample(
        np.ascontiguousarray(samples, dtype=np.float32), from_hz, to_hz, quality="HQ"
    )
    return out


class StreamResampler:
    """Block-by-block int16 mono resampling that keeps filter state across blocks.

    Device edges use ``LQ`` by default: 16-bit precision is all int16 speech has, and its delay is a
    few milliseconds where ``HQ`` holds back ~30 ms — latency the user would hear on every turn.
    """

    def __init__(self, from_hz: int, to_hz: int, quality: Quality = "LQ") -> None:
        self.from_hz = from_hz
        self.to_hz = to_hz
        self._stream = None if from_hz == to_hz else soxr.ResampleStream(from_hz, to_hz, 1, "int16", quality)

    def process(self, block: Pcm, last: bool = False) -> Pcm:
        """Feed one block; returns whatever output is ready (may be empty while the filter fills)."""
        pcm = np.ascontiguousarray(block, dtype=np.int16)
        if self._stream is None:
            return pcm
        out: Pcm = self._stream.resample_chunk(pcm, last=last)
        return out

    def flush(self) -> Pcm:
        """Return the samples still held in the filter; the stream can then be reused after ``reset``."""
        return self.process(np.zeros(0, dtype=np.int16), last=True)

    def reset(self) -> None:
        """Forget history (after a flush or a discontinuity such as ``clear()``)."""
        if self._stream is not None:
            self._stream.clear()
