"""The seams between stages. Backends implement these; the pipeline only knows these.

Streams are async iterators named ``stream_*``; anything holding resources has ``aclose()``.
Blocking inference belongs inside the backend (``asyncio.to_thread`` or a single-worker executor).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from localvoice.events import AudioClip, Message, Pcm, Transcript


@runtime_checkable
class ASR(Protocol):
    """Speech to text for one finished utterance (16 kHz mono int16)."""

    async def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript: ...

    async def detect_language(self, audio: AudioClip) -> str | None:
        """The spoken language of a (partial) utterance, or None when unsure or unsupported.

        The live loop asks this while the user is still talking, so the transcription at the end of
        the turn does not pay for detection.
        """
        ...

    async def warm_up(self) -> None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class LLM(Protocol):
    """A chat model that streams its reply as text deltas."""

    @property
    def description(self) -> str:
        """Human-readable backend and model, e.g. ``ollama qwen2.5:7b``."""
        ...

    def stream_chat(self, messages: Sequence[Message]) -> AsyncIterator[str]: ...

    async def warm_up(self) -> None:
        """Load the model now so the first turn is not a cold start."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class TurnScorer(Protocol):
    """An LLM that can also say how likely the user is done talking (the embedded one can)."""

    async def end_of_turn_probability(self, messages: Sequence[Message]) -> float | None:
        """P(the last user message is complete), or None when the model cannot tell."""
        ...

    async def prefill(self, history: Sequence[Message]) -> None:
        """Read ``history`` (the next request up to the user's words) into the prompt cache now."""
        ...


@runtime_checkable
class TTS(Protocol):
    """Text to speech for one clause at a time."""

    async def synthesize(self, text: str) -> AudioClip:
        """The whole clause as one clip."""
        ...

    def stream_synthesize(self, text: str) -> AsyncIterator[AudioClip]:
        """The clause's audio in order, chunk by chunk, as soon as each chunk exists.

        A streaming server (GPT-SoVITS) yields many chunks, so playback starts before the clause is
        done; a whole-clip voice yields one (``async def stream_synthesize(...): yield await
        self.synthesize(text)``). Closing the iterator early stops the work.
        """
        ...

    async def warm_up(self) -> None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class VAD(Protocol):
    """Speech probability for fixed-size 16 kHz frames; state carries across frames."""

    frame_samples: int

    def speech_probability(self, frame: Pcm) -> float: ...

    def reset(self) -> None: ...


@runtime_checkable
class AudioSource(Protocol):
    """Microphone-like input, delivered as 16 kHz mono int16 blocks."""

    def stream_frames(self) -> AsyncIterator[Pcm]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class CaptureTimes(Protocol):
    """A source that knows when its latest block was captured, on the conversation's clock.

    The echo canceller lines the speaker's reference up with the microphone by these times, so a
    reader that falls behind (blocks waiting in a queue) does not shift the two apart.
    """

    @property
    def last_block_at_s(self) -> float | None:
        """Clock time the first sample of the block last yielded was captured (None: unknown)."""
        ...


@runtime_checkable
class AudioSink(Protocol):
    """Speaker-like output that plays queued clips strictly in order."""

    def enqueue(self, clip: AudioClip) -> asyncio.Future[int]:
        """Queue a clip after everything already queued.

        The future resolves with the number of the clip's samples actually played: all of them when
        it played out, fewer when ``clear()`` cut it short (0 if it never started).
        """
        ...

    def clear(self) -> None:
        """Silence output within one audio block and drop everything queued."""
        ...

    async def drain(self) -> None:
        """Wait until everything queued has been played."""
        ...

    async def aclose(self) -> None: ...
