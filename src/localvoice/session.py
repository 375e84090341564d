"""Everything one run of the assistant needs, built and warmed once, closed once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

from localvoice.assemble import build_asr, build_llm, build_tts
from localvoice.config import Config
from localvoice.protocols import ASR, LLM, TTS

Notify = Callable[[str], None]
_Backend = TypeVar("_Backend", ASR, LLM, TTS)


@dataclass
class Session:
    """``async with Session(config, need_asr=True) as s:`` builds and warms the backends."""

    config: Config
    notify: Notify
    need_asr: bool = False
    need_llm: bool = True
    need_tts: bool = True
    asr: ASR | None = None
    llm: LLM | None = None
    tts: TTS | None = None
    _opened: list[ASR | LLM | TTS] = field(default_factory=list)

    async def __aenter__(self) -> Session:
        try:
            if self.need_asr:
                self.asr = self._keep(build_asr(self.config))
            if self.need_tts:
                self.tts = self._keep(build_tts(self.config, self.notify))
            if self.need_llm:
                self.llm = self._keep(await build_llm(self.config, self.notify))
            # Load every model now, side by side, so the first turn is as fast as the tenth.
            await asyncio.gather(*(backend.warm_up() for backend in self._opened))
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        opened, self._opened = self._opened, []
        await asyncio.gather(*(backend.aclose() for backend in opened), return_exceptions=True)

    def _keep(self, backend: _Backend) -> _Backend:
        self._opened.append(backend)
        return backend
