"""A recording played into the pipeline as a microphone would deliver it, in real time of a ``Clock``.

Each block is handed out when it would have finished arriving from a sound card: block ``k`` at
``started_s + (k + 1) · block``, on absolute deadlines so a slow consumer never makes time drift.
Optional silence before and after lets a VAD see a clean onset and the end of the turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np

from localvoice.clock import Clock
from localvoice.errors import BadInputError
from localvoice.events import INPUT_RATE_HZ, AudioClip, Pcm


class PacedFileSource:
    """Implements ``protocols.AudioSource`` over one 16 kHz mono int16 clip."""

    def __init__(
        self,
        clip: AudioClip,
        clock: Clock,
        *,
        block_ms: int = 20,
        leading_silence_s: float = 0.0,
        trailing_silence_s: float = 0.0,
    ) -> None:
        if clip.sample_rate_hz != INPUT_RATE_HZ or clip.samples.ndim != 1 or clip.samples.dtype != np.int16:
            raise BadInputError(
                f"the paced source takes {INPUT_RATE_HZ} Hz mono int16 audio, got {clip.sample_rate_hz} Hz "
                f"{clip.samples.dtype} with shape {clip.samples.shape}; read it with read_audio() first"
            )
        if block_ms <= 0 or leading_silence_s < 0 or trailing_silence_s < 0:
            raise BadInputError("block_ms must be positive and the silences must not be negative")
        self._clock = clock
        self._block = INPUT_RATE_HZ * block_ms // 1000
        lead = np.zeros(round(leading_silence_s * INPUT_RATE_HZ), dtype=np.int16)
        tail = np.zeros(round(trailing_silence_s * INPUT_RATE_HZ), dtype=np.int16)
        self._samples: Pcm = np.concatenate([lead, clip.samples, tail])
        self.clip_offset_s = len(lead) / INPUT_RATE_HZ  # where the clip starts in the stream
        self.duration_s = len(self._samples) / INPUT_RATE_HZ
        self.started_s: float | None = None  # clock time at which audio position 0 was captured
        self._closed = False

    def clock_time(self, stream_s: float) -> float:
        """Clock time at which the sample at ``stream_s`` (seconds into the stream) was captured."""
        if self.started_s is None:
            raise RuntimeError("the source has not started streaming yet")
        return self.started_s + stream_s

    def clip_time(self, clip_s: float) -> float:
        """Clock time at which the sample at ``clip_s`` seconds into the clip was captured."""
        return self.clock_time(self.clip_offset_s + clip_s)

    async def stream_frames(self) -> AsyncIterator[Pcm]:
        self.started_s = self._clock.now()
        for start in range(0, len(self._samples), self._block):
            if self._closed:
                return
            block = self._samples[start : start + self._block]
            deadline = self.started_s + (start + len(block)) / INPUT_RATE_HZ
            await self._clock.sleep(deadline - self._clock.now())
            yield block.copy()

    async def aclose(self) -> None:
        self._closed = True
