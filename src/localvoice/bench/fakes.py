"""Stand-ins for the LLM and TTS that take no time, so a benchmark sees only the pipeline's own cost."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import numpy as np

from localvoice.backends.tts.whole_clip import WholeClipTTS
from localvoice.events import AudioClip, Message, Transcript

THREE_SENTENCES = "好的，我来说三点。第一，早点睡觉，别熬夜。第二，每天走路半小时，心情会好很多。"


def split_deltas(text: str, size: int = 3) -> list[str]:
    """``text`` in ``size``-character pieces, as a model streams it."""
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class InstantLLM:
    """Streams a fixed reply at once: every delta is ready when asked for."""

    reply: str = THREE_SENTENCES
    delta_chars: int = 3

    @property
    def description(self) -> str:
        return "instant"

    async def stream_chat(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        for delta in split_deltas(self.reply, self.delta_chars):
            yield delta

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class InstantTTS(WholeClipTTS):
    """Returns a tone at once; its length follows the text like speech (``seconds_per_char``).

    The tone is computed once and sliced, so the fake's own cost stays out of the overhead numbers.
    """

    def __init__(
        self, sample_rate_hz: int = 24_000, seconds_per_char: float = 0.15, longest_s: float = 60.0
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.seconds_per_char = seconds_per_char
        t = np.arange(round(longest_s * sample_rate_hz)) / sample_rate_hz
        self._tone = (0.2 * 32767 * np.sin(2 * np.pi * 220.0 * t)).astype(np.int16)

    async def synthesize(self, text: str) -> AudioClip:
        length = max(1, round(len(text) * self.seconds_per_char * self.sample_rate_hz))
        return AudioClip(self._tone[:length], self.sample_rate_hz)


@dataclass
class SilentASR:
    """Hears nothing: a barge-in that is only measured, never answered."""

    async def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        return Transcript("", language or "", audio.duration_s)

    async def detect_language(self, audio: AudioClip) -> str | None:
        return None

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
