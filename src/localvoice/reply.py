"""One spoken reply: LLM deltas → clauses → TTS ahead of playback → the sink, strictly in order.

The reply can be interrupted at any moment (barge-in): everything still running is cancelled, the sink
is cleared, and the result says exactly which part of the text the user heard, cut at the played
sample position. Nothing is left running afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from localvoice.clock import Clock
from localvoice.config import Config
from localvoice.errors import LocalVoiceError
from localvoice.events import (
    AudioClip,
    ClauseSpoken,
    ConversationEvent,
    ErrorOccurred,
    Message,
    ReplyAudioStarted,
    ReplyDelta,
    ReplyFinished,
    TurnTimings,
)
from localvoice.protocols import LLM, TTS, AudioSink
from localvoice.text.chunker import SentenceChunker
from localvoice.text.normalize import SpeechFilter

Emit = Callable[[ConversationEvent], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplySettings:
    max_concurrency: int = 2  # clauses synthesized at once
    max_ahead: int = 3  # synthesized clauses waiting for their turn to play
    min_clause_chars: int = 4
    first_clause_min_chars: int = 6

    @classmethod
    def from_config(cls, config: Config) -> ReplySettings:
        return cls(
            max_concurrency=config.tts.max_concurrency,
            max_ahead=config.tts.max_ahead,
            min_clause_chars=config.text.min_clause_chars,
            first_clause_min_chars=config.text.first_clause_min_chars,
        )


@dataclass(slots=True)
class _Clause:
    index: int
    text: str  # as written by the model: what history records
    span_end: int  # offset in the written reply just after this clause
    synthesis: asyncio.Task[AudioClip | None]
    samples: int = 0
    played: asyncio.Future[int] | None = None


@dataclass(slots=True)
class _Marks:
    """Clock readings of the stages of one reply."""

    llm_start: float
    speech_end: float
    first_token: float | None = None
    first_clause: float | None = None
    first_audio: float | None = None
    clauses: list[_Clause] = field(default_factory=list)


class ReplyPipeline:
    """Runs replies one at a time; ``interrupt()`` cuts the current one short."""

    def __init__(
        self,
        llm: LLM,
        tts: TTS,
        sink: AudioSink,
        clock: Clock,
        emit: Emit,
        settings: ReplySettings | None = None,
    ) -> None:
        self._llm = llm
        self._tts = tts
        self._sink = sink
        self._clock = clock
        self._emit = emit
        self._settings = settings or ReplySettings()
        self._interrupted = asyncio.Event()

    def interrupt(self) -> None:
        """Stop the reply now: silence the sink and cancel all of its work."""
        self._sink.clear()
        self._interrupted.set()

    async def run(
        self,
        turn: int,
        messages: Sequence[Message],
        speech_end_s: float | None = None,
        asr_ms: float | None = None,
    ) -> ReplyFinished:
        """Speak the reply to ``messages``; returns what was written and what was heard.

        An ``interrupt()`` that arrives before this starts running still counts: the flag is cleared
        only when a reply ends.
        """
        try:
            return await self._run(turn, messages, speech_end_s, asr_ms)
        finally:
            self._interrupted.clear()

    async def _run(
        self, turn: int, messages: Sequence[Message], speech_end_s: float | None, asr_ms: float | None
    ) -> ReplyFinished:
        now = self._clock.now()
        marks = _Marks(llm_start=now, speech_end=now if speech_end_s is None else speech_end_s)
        written: list[str] = []
        errors: list[str] = []
        tasks: list[asyncio.Task[object]] = []
        ahead: asyncio.Queue[_Clause | None] = asyncio.Queue(maxsize=max(1, self._settings.max_ahead))
        synth_slots = asyncio.Semaphore(max(1, self._settings.max_concurrency))

        was_interrupted = False
        try:
            async with asyncio.TaskGroup() as group:

                def spawn(coro: object) -> asyncio.Task[object]:
                    task: asyncio.Task[object] = group.create_task(coro)  # type: ignore[arg-type]
                    tasks.append(task)
                    return task

                spawn(self._produce(turn, messages, marks, written, errors, ahead, synth_slots, spawn))
                consumer = spawn(self._consume(turn, marks, errors, ahead))
                interrupted = spawn(self._interrupted.wait())
                await asyncio.wait({consumer, interrupted}, return_when=asyncio.FIRST_COMPLETED)
                was_interrupted = self._interrupted.is_set()
                for task in tasks:
                    if task is not consumer or was_interrupted:
                        task.cancel()
        except Exception as group_error:  # the TaskGroup's ExceptionGroup: never let it leave a reply
            message = _one_line(group_error)
            log.warning("reply %d failed", turn, exc_info=group_error)
            self._sink.clear()
            errors.insert(0, message)
            self._emit(ErrorOccurred(message, turn))

        heard = await self._heard_text("".join(written), marks.clauses)
        self._emit(self._timings(turn, marks, asr_ms))
        error = errors[0] if errors else None
        return ReplyFinished(turn, "".join(written), heard, interrupted=was_interrupted, error=error)

    async def _produce(
        self,
        turn: int,
        messages: Sequence[Message],
        marks: _Marks,
        written: list[str],
        errors: list[str],
        ahead: asyncio.Queue[_Clause | None],
        synth_slots: asyncio.Semaphore,
        spawn: Callable[[object], asyncio.Task[object]],
    ) -> None:
        chunker = SentenceChunker(
            min_clause_chars=self._settings.min_clause_chars,
            first_clause_min_chars=self._settings.first_clause_min_chars,
        )
        speech = SpeechFilter()
        offset = 0

        async def submit(text: str) -> None:
            nonlocal offset
            written_so_far = "".join(written)
            found = written_so_far.find(text, offset)
            offset = found + len(text) if found >= 0 else len(written_so_far)
            spoken = speech.feed(text)
            if marks.first_clause is None:
                marks.first_clause = self._clock.now()
            synthesis: asyncio.Task[AudioClip | None] = spawn(  # type: ignore[assignment]
                self._synthesize(turn, spoken, synth_slots, errors)
            )
            clause = _Clause(len(marks.clauses), text, offset, synthesis)
            marks.clauses.append(clause)
            await ahead.put(clause)

        stream = self._llm.stream_chat(messages)
        try:
            try:
                async for delta in stream:
                    if not delta:
                        continue
                    if marks.first_token is None:
                        marks.first_token = self._clock.now()
                    written.append(delta)
                    self._emit(ReplyDelta(turn, delta))
                    for text in chunker.push(delta):
                        await submit(text)
            except LocalVoiceError as error:
                # Keep what the model already wrote: it is spoken and remembered; the session goes on.
                errors.append(str(error))
                self._emit(ErrorOccurred(str(error), turn))
            for text in chunker.flush():
                await submit(text)
        finally:
            # Close the stream now, not at garbage collection: that hangs up on the LLM server.
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
            # A sentinel even when cancelled mid-reply, so the consumer never waits forever.
            if not self._interrupted.is_set():
                await ahead.put(None)

    async def _synthesize(
        self, turn: int, text: str, slots: asyncio.Semaphore, errors: list[str]
    ) -> AudioClip | None:
        if not text.strip():
            return None  # nothing speakable (a code block, an emoji): keep order, play nothing
        async with slots:
            try:
                return await self._tts.synthesize(text)
            except LocalVoiceError as error:
                errors.append(str(error))
                self._emit(ErrorOccurred(str(error), turn))
                return None

    async def _consume(
        self, turn: int, marks: _Marks, errors: list[str], ahead: asyncio.Queue[_Clause | None]
    ) -> None:
        watchers: list[asyncio.Future[int]] = []
        while (clause := await ahead.get()) is not None:
            audio = await clause.synthesis
            if audio is None or len(audio.samples) == 0:
                continue
            if marks.first_audio is None:
                marks.first_audio = self._clock.now()
                self._emit(ReplyAudioStarted(turn))
            clause.samples = len(audio.samples)
            clause.played = self._sink.enqueue(audio)
            clause.played.add_done_callback(self._clause_watcher(turn, clause))
            watchers.append(clause.played)
        if watchers:
            await asyncio.gather(*watchers)

    def _clause_watcher(self, turn: int, clause: _Clause) -> Callable[[asyncio.Future[int]], None]:
        def done(future: asyncio.Future[int]) -> None:
            if not future.cancelled() and future.result() >= clause.samples:
                self._emit(ClauseSpoken(turn, clause.index, clause.text))

        return done

    async def _heard_text(self, written: str, clauses: list[_Clause]) -> str:
        """The written text up to the played sample position of the last clause that sounded."""
        heard_end = 0
        for clause in clauses:
            if clause.played is None:
                if clause.synthesis.done() and not clause.synthesis.cancelled():
                    heard_end = clause.span_end  # nothing to hear in it (e.g. a code block)
                    continue
                break
            try:
                played = await asyncio.wait_for(asyncio.shield(clause.played), timeout=1.0)
            except (TimeoutError, asyncio.CancelledError):
                played = 0
            if played >= clause.samples:
                heard_end = clause.span_end
                continue
            if played > 0:
                start = clause.span_end - len(clause.text)
                heard_end = start + round(len(clause.text) * played / clause.samples)
            break
        return written[:heard_end].strip()

    def _timings(self, turn: int, marks: _Marks, asr_ms: float | None) -> TurnTimings:
        def ms(start: float | None, end: float | None) -> float | None:
            return None if start is None or end is None else round((end - start) * 1000.0, 1)

        return TurnTimings(
            turn=turn,
            asr_ms=asr_ms,
            llm_first_token_ms=ms(marks.llm_start, marks.first_token),
            first_clause_ms=ms(marks.llm_start, marks.first_clause),
            tts_first_audio_ms=ms(marks.first_clause, marks.first_audio),
            voice_to_voice_ms=ms(marks.speech_end, marks.first_audio),
        )


def _one_line(error: BaseException) -> str:
    """The first real error inside (possibly nested) exception groups, as one line for the user."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if isinstance(error, LocalVoiceError):
        return str(error)
    return f"the reply failed ({type(error).__name__}: {error}); the conversation goes on"
