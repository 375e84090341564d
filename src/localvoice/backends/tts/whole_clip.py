"""The shared shape of a voice that makes a clause's audio in one piece."""

from __future__ import annotations

from collections.abc import AsyncIterator

from localvoice.events import AudioClip


class WholeClipTTS:
    """Streams each clause as one chunk; nothing to warm up or close unless a subclass says so."""

    async def synthesize(self, text: str) -> AudioClip:
        raise NotImplementedError

    async def stream_synthesize(self, text: str) -> AsyncIterator[AudioClip]:
        yield await self.synthesize(text)

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
