"""Run Whisper's encoder on the speech, not on a fixed 30 s window.

faster-whisper pads every clip's log-mel features with zero columns to Whisper's 30 s window (3,000
frames) and encodes all of it, however short the question: on 2 CPU cores a 1.4–6 s clip took
~0.63 s to transcribe, ~0.26 s with a 10 s window. The CTranslate2 encoder takes shorter inputs (as whisper.cpp's audio-context option
does), so ``EncoderWindow`` wraps ``WhisperModel.encode`` and cuts the zero padding down to the clip
plus ``MARGIN_FRAMES``, never below ``min_frames``. Whisper was trained on 30 s windows and repeats
itself on very short ones; from 10 s up, the human Mandarin clips of ``bench mandarin_cer`` came out
exactly as with the full window (BENCHMARKS.md, issue 13).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

FRAMES_PER_S = 100  # Whisper's mel hop is 10 ms
FULL_FRAMES = 30 * FRAMES_PER_S
MARGIN_FRAMES = 100  # a second of the padding stays: the decoder sees where the speech ends


class EncoderWindow:
    def __init__(self, model: Any, min_seconds: float) -> None:
        self._encode: Callable[[Any], Any] = model.encode
        self.min_frames = max(0, min(FULL_FRAMES, round(min_seconds * FRAMES_PER_S)))
        model.encode = self  # faster-whisper calls self.encode(...): the instance attribute wins
        self.last_frames: int | None = None  # the window of the latest pass (for tests)

    def __call__(self, features: Any) -> Any:
        if isinstance(features, np.ndarray) and features.shape[-1] == FULL_FRAMES:
            frames = self.frames_for(features)
            if frames < FULL_FRAMES:
                features = np.ascontiguousarray(features[..., :frames])
        self.last_frames = int(features.shape[-1]) if isinstance(features, np.ndarray) else None
        return self._encode(features)

    def frames_for(self, features: np.ndarray) -> int:
        """The window for these features: the speech (up to the zero padding) plus the margin."""
        used = np.flatnonzero(np.any(features != 0, axis=tuple(range(features.ndim - 1))))
        content = int(used[-1]) + 1 if used.size else 0
        frames = max(self.min_frames, content + MARGIN_FRAMES)
        frames += frames % 2  # the encoder's convolution halves the frame count
        return min(FULL_FRAMES, frames)
