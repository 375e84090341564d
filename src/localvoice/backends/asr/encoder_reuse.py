"""One Whisper encoder pass per utterance instead of two when the language must be detected.

faster-whisper (1.2.1, pinned) encodes the audio once to detect the language and again to transcribe
it; on 2 CPU cores each pass costs ~0.35 s over Whisper's 30 s window (less over the shorter window
of ``encoder_window.py``, but still the larger part of a short question's transcription). The
two inputs differ only in the clip's last 10 ms mel frame, so the detection pass's output serves the
transcription too. ``EncoderReuse`` wraps ``WhisperModel.encode`` to hand the recorded output back
once, for the first window of the next transcription.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class EncoderReuse:
    def __init__(self, model: Any) -> None:
        self._encode: Callable[[Any], Any] = model.encode
        self._saved: Any = None
        self._recording = False
        model.encode = self  # faster-whisper calls self.encode(...): the instance attribute wins
        self.reused = 0  # how many encoder passes were saved (for tests)

    def __call__(self, features: Any) -> Any:
        if self._saved is not None:
            output, self._saved = self._saved, None
            self.reused += 1
            return output
        output = self._encode(features)
        if self._recording:
            self._saved, self._recording = output, False
        return output

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Keep the output of the next encoder pass (language detection) for the one after it."""
        self._saved, self._recording = None, True
        try:
            yield
        finally:
            self._recording = False

    def forget(self) -> None:
        """Drop a recorded output that was not used (detection on a clip that is not transcribed)."""
        self._saved = None
