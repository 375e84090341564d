"""The live loop: microphone → echo cancellation → VAD segmenter → ASR → conversation, with barge-in.

Audio keeps flowing while the assistant thinks and speaks, so the user can cut in at any moment:
speech that lasts ``min_interrupt_ms`` while a reply runs silences it at once. Shorter sounds (a
"嗯" or "ok" backchannel) neither interrupt nor start a turn. ASR starts speculatively at a tentative
pause and its result is used if the user really stopped; otherwise it is thrown away.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from localvoice.audio.echo import EchoCancellation
from localvoice.audio.echo_guard import SelfEchoGuard
from localvoice.audio.segmenter import Segmenter, SpeechResumed, TentativePause, UtteranceEnded
from localvoice.clock import Clock
from localvoice.conversation import Conversation
from localvoice.events import (
    INPUT_RATE_HZ,
    AudioClip,
    ClauseSpoken,
    ConversationEvent,
    ConversationState,
    Notice,
    Pcm,
    SpeechEnded,
    SpeechStarted,
    Transcript,
)
from localvoice.protocols import ASR, AudioSource

Emit = Callable[[ConversationEvent], None]
LanguageGuess = asyncio.Task[str | None] | None

# Whisper's language detection costs a whole encoder pass (~0.4 s on 2 cores). Done on the first
# second of speech while the user is still talking, it is off the critical path at the end of the turn.
EARLY_LANGUAGE_AFTER_S = 1.0
_RECENT_S = 3.0  # microphone audio kept for that early guess


@dataclass(frozen=True, slots=True)
class LiveSettings:
    mode: str = "full-duplex"  # full-duplex | half-duplex | push-to-talk
    min_interrupt_ms: int = 250
    language: str | None = None
    early_language: bool = True  # guess the language while the user is still talking


class LiveLoop:
    def __init__(
        self,
        conversation: Conversation,
        asr: ASR,
        source: AudioSource,
        segmenter: Segmenter,
        echo: EchoCancellation,
        clock: Clock,
        settings: LiveSettings,
        emit: Emit,
        guard: SelfEchoGuard | None = None,
    ) -> None:
        self._conversation = conversation
        self._asr = asr
        self._source = source
        self._segmenter = segmenter
        self._echo = echo
        self._clock = clock
        self._settings = settings
        self._emit = emit
        self._guard = guard
        self._audio_s = 0.0  # audio time: seconds of microphone audio seen so far
        self._interrupt_due: float | None = None  # audio time at which ongoing speech becomes barge-in
        self._barged_in = False
        self._speculative: tuple[AudioClip, asyncio.Task[Transcript]] | None = None
        self._recent: deque[tuple[float, Pcm]] = deque()  # (audio time at block end, cleaned block)
        self._onset_s: float | None = None  # onset of the utterance in progress
        self._language: LanguageGuess = None  # early language guess for that utterance
        self._tasks: set[asyncio.Task[object]] = set()
        self.talk_enabled = False  # push-to-talk: toggled by the talk key
        self.muted = False  # the microphone is ignored entirely
        self.level_dbfs = -120.0  # input level of the latest block, for the meter
        conversation.subscribe(self._on_conversation_event)

    async def run(self) -> None:
        """Listen until the source ends (or the task is cancelled)."""
        try:
            async for block in self._source.stream_frames():
                self._on_block(block)
                await asyncio.sleep(0)
        finally:
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait for pending transcriptions and the reply in progress (used at end of input)."""
        while self._tasks or self._conversation.replying:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            task = self._conversation.current_reply
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)

    def _on_block(self, block: Pcm) -> None:
        cleaned = self._echo.process_capture(block)
        self._audio_s += len(cleaned) / INPUT_RATE_HZ
        self.level_dbfs = _level_dbfs(cleaned)
        if not self._hearing():
            # Muted while speaking (half-duplex) or key released (push-to-talk): feed silence so the
            # segmenter closes any utterance in progress instead of freezing mid-word.
            cleaned = cleaned * 0
        self._remember(cleaned)
        for event in self._segmenter.push(cleaned):
            self._on_segment(event)
        self._maybe_guess_language()
        if self._interrupt_due is not None and self._audio_s >= self._interrupt_due:
            self._interrupt_due = None
            if self._segmenter.speech_active:
                self._barge_in()

    def _hearing(self) -> bool:
        if self.muted:
            return False
        mode = self._settings.mode
        if mode == "half-duplex":
            return self._conversation.state is ConversationState.LISTENING
        if mode == "push-to-talk":
            return self.talk_enabled
        return True

    def _on_segment(self, event: object) -> None:
        if isinstance(event, SpeechStarted):
            self._emit(event)
            self._onset_s, self._language = event.at_s, None
            if self._conversation.replying:
                self._barged_in = False
                self._interrupt_due = event.at_s + self._settings.min_interrupt_ms / 1000.0
        elif isinstance(event, TentativePause):
            self._start_speculation(event.audio)
        elif isinstance(event, SpeechResumed):
            self._drop_speculation()
        elif isinstance(event, UtteranceEnded):
            self._interrupt_due = None
            self._onset_s = None
            self._emit(SpeechEnded(event.end_s))
            if self._conversation.replying and not self._barged_in:
                self._drop_speculation()  # a backchannel while the assistant talks: not a turn
                return
            self._barged_in = False
            # Clock time at which the user stopped speaking, for voice-to-voice latency.
            speech_end = self._clock.now() - max(0.0, self._audio_s - event.end_s)
            self._spawn(self._answer(event.audio, speech_end, self._language))

    def _barge_in(self) -> None:
        if self._conversation.interrupt_now() is not None:
            self._barged_in = True

    def _start_speculation(self, audio: AudioClip) -> None:
        self._drop_speculation()
        task = asyncio.create_task(self._transcribe(audio, self._language))
        self._speculative = (audio, task)

    def _remember(self, block: Pcm) -> None:
        self._recent.append((self._audio_s, block))
        while self._recent and self._recent[0][0] < self._audio_s - _RECENT_S:
            self._recent.popleft()

    def _maybe_guess_language(self) -> None:
        onset = self._onset_s
        wanted = self._settings.early_language and not self._settings.language and self._language is None
        if not wanted or onset is None or self._audio_s < onset + EARLY_LANGUAGE_AFTER_S:
            return
        heard = [block for end_s, block in self._recent if end_s > onset]
        speech = AudioClip(np.concatenate(heard), INPUT_RATE_HZ)
        self._language = asyncio.create_task(self._asr.detect_language(speech))

    async def _transcribe(self, audio: AudioClip, guess: LanguageGuess) -> Transcript:
        language = self._settings.language
        if language is None and guess is not None:
            with contextlib.suppress(Exception):
                language = await asyncio.shield(guess)  # unsure (None) → the ASR detects on the whole clip
        return await self._asr.transcribe(audio, language)

    def _drop_speculation(self) -> None:
        if self._speculative is not None:
            self._speculative[1].cancel()
            self._speculative = None

    async def _answer(self, audio: AudioClip, speech_end: float, guess: LanguageGuess) -> None:
        speculative, self._speculative = self._speculative, None
        started = self._clock.now()
        if speculative is not None and _same_audio(speculative[0], audio):
            transcript = await speculative[1]  # the user really stopped at the tentative pause
        else:
            if speculative is not None:
                speculative[1].cancel()
            transcript = await self._transcribe(audio, guess)
        asr_ms = round((self._clock.now() - max(started, speech_end)) * 1000.0, 1)
        text = transcript.text.strip()
        if not text:
            return
        if self._guard is not None and self._guard.is_echo(text, self._clock.now()):
            self._emit(Notice(f"ignored my own voice: {text}"))
            return
        if self._conversation.replying:
            await self._conversation.interrupt()
        self._conversation.start_reply(text, transcript.language, speech_end, asr_ms)

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[object] = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_conversation_event(self, event: ConversationEvent) -> None:
        if isinstance(event, ClauseSpoken) and self._guard is not None:
            self._guard.remember(event.text, self._clock.now())


def _level_dbfs(block: Pcm) -> float:
    if len(block) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))
    return max(-120.0, 20.0 * math.log10(max(rms, 1e-6) / 32768.0))


def _same_audio(a: AudioClip, b: AudioClip) -> bool:
    return len(a.samples) == len(b.samples) and bool(np.array_equal(a.samples, b.samples))
