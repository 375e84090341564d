"""A TTS that keeps talking: a server voice first, the packaged voice when the server fails.

When the server is down at start, dies mid-reply or refuses a clause, that clause (from its start)
and the rest of the turn are spoken by the fallback voice, with one notice; the reply and its
history go on as if nothing happened. The server is tried again ``retry_s`` after it went down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import numpy as np

from localvoice.errors import BackendUnavailableError, LocalVoiceError
from localvoice.events import AudioClip
from localvoice.protocols import TTS

Notify = Callable[[str], None]


class FallbackTTS:
    def __init__(
        self,
        primary: TTS,
        make_fallback: Callable[[], TTS],
        notify: Notify,
        *,
        retry_s: float = 30.0,
        down_reason: str | None = None,
        now: Callable[[], float] = time.monotonic,
        name: str = "GPT-SoVITS",
    ) -> None:
        """``make_fallback`` is called once, when first needed; ``down_reason``: the primary is known
        to be down from the start (already told to the user); ``name``: the primary, in notices."""
        self._name = name
        self.primary = primary
        self._make_fallback = make_fallback
        self._fallback: TTS | None = None
        self._notify = notify
        self._retry_s = retry_s
        self._now = now
        self._down_since: float | None = now() if down_reason else None
        self._told: set[str] = set()

    @property
    def description(self) -> str:
        primary = getattr(self.primary, "description", type(self.primary).__name__)
        return f"{primary}, with the packaged voice as fallback"

    @property
    def primary_up(self) -> bool:
        return self._down_since is None or self._now() - self._down_since >= self._retry_s

    async def synthesize(self, text: str) -> AudioClip:
        chunks = [chunk async for chunk in self.stream_synthesize(text)]
        if not chunks:
            return AudioClip(np.zeros(0, dtype=np.int16), 16_000)
        return AudioClip(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate_hz)

    async def stream_synthesize(self, text: str) -> AsyncIterator[AudioClip]:
        if self.primary_up:
            started = self._now()
            stream = self.primary.stream_synthesize(text)
            try:
                async for chunk in stream:
                    yield chunk
                # Only a clause asked for after the outage proves the server back: one that overlapped
                # the failing clause (tts.max_concurrency > 1) may finish on its old connection.
                if self._down_since is not None and started >= self._down_since:
                    self._down_since = None
                    self._told.clear()
                    self._notify(f"{self._name} answers again: your voice is back.")
                return
            except LocalVoiceError as error:
                self._failed(error)
            finally:
                close = getattr(stream, "aclose", None)
                if close is not None:
                    await close()  # hang up on the server now, not at garbage collection
        fallback = await self._fallback_voice()
        async for chunk in fallback.stream_synthesize(text):
            yield chunk

    async def warm_up(self) -> None:
        if self.primary_up:
            try:
                await self.primary.warm_up()
                return
            except LocalVoiceError as error:
                self._failed(error)
        await (await self._fallback_voice()).warm_up()

    async def aclose(self) -> None:
        voices = [self.primary] + ([self._fallback] if self._fallback is not None else [])
        await asyncio.gather(*(voice.aclose() for voice in voices), return_exceptions=True)

    def _failed(self, error: LocalVoiceError) -> None:
        # A server that is gone stays skipped for retry_s; a clause it refused costs only that clause.
        if isinstance(error, BackendUnavailableError):
            self._down_since = self._now()
            message = f"{error} — the packaged voice speaks until it answers again."
        else:
            message = f"{error} — the packaged voice speaks this part."
        key = type(error).__name__ if isinstance(error, BackendUnavailableError) else str(error)
        if key not in self._told:
            self._told.add(key)
            self._notify(message)

    async def _fallback_voice(self) -> TTS:
        if self._fallback is None:
            self._fallback = self._make_fallback()
        return self._fallback
