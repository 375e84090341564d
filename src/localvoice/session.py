"""Everything one run of the assistant needs, built and warmed once, closed once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

from localvoice.assemble import build_asr, build_llm, build_tts
from localvoice.audio.echo import EchoCancellation, NullEchoCanceller
from localvoice.audio.echo_guard import SelfEchoGuard
from localvoice.audio.segmenter import Segmenter
from localvoice.clock import Clock
from localvoice.config import Config
from localvoice.conversation import Conversation, Observer
from localvoice.live import LiveLoop, LiveSettings
from localvoice.now import time_teller
from localvoice.protocols import ASR, LLM, TTS, VAD, AudioSink, AudioSource
from localvoice.reply import ReplySettings
from localvoice.transcript_log import TranscriptLog

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

    def conversation(
        self,
        sink: AudioSink,
        clock: Clock,
        *,
        observers: Sequence[Observer] = (),
        log: TranscriptLog | None = None,
        tts: TTS | None = None,
        config: Config | None = None,
    ) -> Conversation:
        """The one way to wire a ``Conversation`` from this session's backends and config.

        ``config``: settings for this conversation only (a benchmark's variant); the models stay.
        """
        config = config if config is not None else self.config
        assert self.llm is not None, "Session(need_llm=True) is required for a conversation"
        voice = tts if tts is not None else self.tts
        assert voice is not None, "Session(need_tts=True) or an explicit tts is required"
        from localvoice.persona.apply import persona_examples, persona_system

        conversation = Conversation(
            self.llm,
            voice,
            sink,
            clock,
            system_prompt=persona_system(config.llm),
            settings=ReplySettings.from_config(config),
            log=log,
            observers=observers,
            now_line=time_teller(config.llm),
        )
        conversation.history.extend(persona_examples(config.llm))  # its MESSAGE example turns
        return conversation

    def live_loop(
        self,
        conversation: Conversation,
        source: AudioSource,
        clock: Clock,
        emit: Observer,
        *,
        vad: VAD | None = None,
        echo: EchoCancellation | None = None,
        guard: SelfEchoGuard | None = None,
        mode: str | None = None,
        config: Config | None = None,
    ) -> LiveLoop:
        """The live loop around ``conversation``: the segmenter, ASR and turn-taking rules from config."""
        config = config if config is not None else self.config
        assert self.asr is not None, "Session(need_asr=True) is required for a live loop"
        if vad is None:
            from localvoice.backends.vad.silero import SileroVAD

            vad = SileroVAD()
        return LiveLoop(
            conversation,
            self.asr,
            source,
            Segmenter(vad, config.vad),
            echo if echo is not None else NullEchoCanceller(),
            clock,
            LiveSettings.from_config(config, mode),
            emit,
            guard=guard,
        )

    def _keep(self, backend: _Backend) -> _Backend:
        self._opened.append(backend)
        return backend
